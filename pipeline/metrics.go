package pipeline

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/sink"
)

// metrics publishes the stages' own counters at scrape time (nothing is counted twice and the
// hot paths do no metric work) plus the histograms that need every observation.
type metrics struct {
	p           *Pipeline
	reg         *prometheus.Registry
	inferTime   prometheus.Histogram
	batchSize   prometheus.Histogram
	queueDelay  prometheus.Histogram
	events      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	stateErrors atomic.Uint64
	// outboxRefused counts emits the outbox did not take (encode errors, a stop cutting a
	// full or failing outbox's wait short).
	outboxRefused atomic.Uint64
}

func newMetrics(p *Pipeline) *metrics {
	m := &metrics{p: p, reg: prometheus.NewRegistry()}
	m.inferTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "actionstream_inference_seconds", Help: "Duration of one model call (one batch).",
		Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
	})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "actionstream_batch_size", Help: "Clips per model call.",
		Buckets: prometheus.LinearBuckets(1, 1, 16),
	})
	m.queueDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "actionstream_clip_queue_seconds", Help: "Time a clip waited for its batch.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "actionstream_events_total", Help: "Events handed to the sinks, by type.",
	}, []string{"type"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "actionstream_event_latency_seconds",
		Help:    "Capture to delivery: wall clock of the last frame of an event's clip (span end) to the sink's acknowledgement, per sink. Events without a clip (stream.*) are not observed.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
	}, []string{"sink"})
	m.reg.MustRegister(m.inferTime, m.batchSize, m.queueDelay, m.events, m.latency, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeBatch(size int, d time.Duration, err error) {
	if err == nil {
		m.inferTime.Observe(d.Seconds())
		m.batchSize.Observe(float64(size))
	}
}

func (m *metrics) observeResult(r infer.Result) { m.queueDelay.Observe(r.QueueDelay.Seconds()) }

func (m *metrics) countEvent(typ string) { m.events.WithLabelValues(typ).Inc() }

// observeAck records capture-to-acknowledgement latency of the events a sink acknowledged.
func (m *metrics) observeAck(sinkName string, evs []events.Event) {
	now := time.Now()
	h := m.latency.WithLabelValues(sinkName)
	for i := range evs {
		if sp := evs[i].Data.Span; sp != nil && !sp.EndWall.IsZero() {
			h.Observe(now.Sub(sp.EndWall).Seconds())
		}
	}
}

var (
	descFPS          = prometheus.NewDesc("actionstream_stream_fps", "Decoded frames per second.", []string{"stream"}, nil)
	descStatus       = prometheus.NewDesc("actionstream_stream_status", "1 for the stream's current status (starting, up, failing, down, ended, failed), 0 for the others; /api/streams says why.", []string{"stream", "status"}, nil)
	descAttempts     = prometheus.NewDesc("actionstream_stream_failed_attempts", "Failed tries in a row of the stream's source (0 once it delivers).", []string{"stream"}, nil)
	descUp           = prometheus.NewDesc("actionstream_stream_up", "1 while the stream's source delivers packets.", []string{"stream"}, nil)
	descFrames       = prometheus.NewDesc("actionstream_frames_decoded_total", "Frames decoded.", []string{"stream"}, nil)
	descFramesSkip   = prometheus.NewDesc("actionstream_frames_skipped_total", "Non-reference frames no clip sample needed, left undecoded.", []string{"stream"}, nil)
	descDecodeErrors = prometheus.NewDesc("actionstream_decode_errors_total", "Packets or frames FFmpeg rejected (skipped).", []string{"stream"}, nil)
	descClips        = prometheus.NewDesc("actionstream_clips_total", "Clips assembled.", []string{"stream"}, nil)
	// reason: gap (a timestamp step over the gap tolerance), backward (timestamps going back),
	// reset (the source reconnected), stale (replaced by a newer clip before inference), gated
	// (motion gating: a still clip not scored).
	descClipsDropped = prometheus.NewDesc("actionstream_clips_dropped_total", "Clips dropped, by reason: gap, backward, reset, stale, gated.", []string{"stream", "reason"}, nil)
	descMotion       = prometheus.NewDesc("actionstream_stream_motion", "Motion level of the stream's latest measured clip: the fraction of grid cells that moved.", []string{"stream"}, nil)
	descPTSBackward  = prometheus.NewDesc("actionstream_pts_backward_steps_total", "Decoded frames timed earlier than the frame before them (before repair).", []string{"stream"}, nil)
	descPTSRepairs   = prometheus.NewDesc("actionstream_pts_repairs_total", "Decoded frames timed by the frame rate because their own time was missing or went backwards.", []string{"stream"}, nil)
	descRestarts     = prometheus.NewDesc("actionstream_source_restarts_total", "Source restarts after failures.", []string{"stream"}, nil)
	descPending      = prometheus.NewDesc("actionstream_batcher_pending", "Clips waiting for inference.", nil, nil)
	descScored       = prometheus.NewDesc("actionstream_clips_scored_total", "Clips scored.", nil, nil)
	descInferErrors  = prometheus.NewDesc("actionstream_inference_errors_total", "Failed model calls.", nil, nil)
	descSinkBuffered = prometheus.NewDesc("actionstream_sink_buffered", "Events waiting for a sink.", []string{"sink"}, nil)
	descSinkCap      = prometheus.NewDesc("actionstream_sink_buffer_capacity", "Bound of a sink's buffer.", []string{"sink"}, nil)
	descSinkDeliv    = prometheus.NewDesc("actionstream_sink_delivered_total", "Events a sink confirmed.", []string{"sink"}, nil)
	descSinkErrors   = prometheus.NewDesc("actionstream_sink_errors_total", "Failed deliveries (retried).", []string{"sink"}, nil)
	descSinkBlocked  = prometheus.NewDesc("actionstream_sink_blocked_writes_total", "Writes that waited for buffer space (back-pressure).", []string{"sink"}, nil)
	descSinkRejected = prometheus.NewDesc("actionstream_sink_rejected_total", "Events a sink can never accept (skipped).", []string{"sink"}, nil)
	descSinkAccepted = prometheus.NewDesc("actionstream_sink_accepted_total", "Events a sink's buffer accepted.", []string{"sink"}, nil)
	descSinkRetries  = prometheus.NewDesc("actionstream_sink_retries_total", "Delivery attempts repeated after a failure.", []string{"sink"}, nil)
	descSinkUndeliv  = prometheus.NewDesc("actionstream_sink_undelivered_total", "Events abandoned when the shutdown deadline passed.", []string{"sink"}, nil)
	descSinkBlockedS = prometheus.NewDesc("actionstream_sink_blocked_seconds_total", "Time writers waited for buffer space.", []string{"sink"}, nil)
	descSinkUp       = prometheus.NewDesc("actionstream_sink_up", "1 if the sink's last delivery succeeded.", []string{"sink"}, nil)
	descSinkDownS    = prometheus.NewDesc("actionstream_sink_down_seconds", "How long the sink has been failing (0 while up).", []string{"sink"}, nil)
	descOutEntries   = prometheus.NewDesc("actionstream_outbox_entries", "Events stored in the outbox (not yet acknowledged by every sink).", nil, nil)
	descOutBytes     = prometheus.NewDesc("actionstream_outbox_bytes", "Bytes of the events stored in the outbox.", nil, nil)
	descOutMaxEnt    = prometheus.NewDesc("actionstream_outbox_max_entries", "Cap on stored events.", nil, nil)
	descOutMaxBytes  = prometheus.NewDesc("actionstream_outbox_max_bytes", "Cap on stored event bytes.", nil, nil)
	descOutFull      = prometheus.NewDesc("actionstream_outbox_full", "1 while an append waits for space (inference waits).", nil, nil)
	descOutDiskErr   = prometheus.NewDesc("actionstream_outbox_disk_error", "1 while the outbox's last write failed (appends wait and retry).", nil, nil)
	descOutDiskErrs  = prometheus.NewDesc("actionstream_outbox_disk_errors_total", "Failed outbox commits.", nil, nil)
	descOutAppended  = prometheus.NewDesc("actionstream_outbox_appended_total", "Events appended to the outbox.", nil, nil)
	descOutCommits   = prometheus.NewDesc("actionstream_outbox_commits_total", "Outbox write transactions (one fsync each).", nil, nil)
	descOutBlocked   = prometheus.NewDesc("actionstream_outbox_blocked_appends_total", "Appends that waited for space.", nil, nil)
	descOutBlockedS  = prometheus.NewDesc("actionstream_outbox_blocked_seconds_total", "Time appends waited for space.", nil, nil)
	descOutRefused   = prometheus.NewDesc("actionstream_outbox_refused_total", "Emits the outbox did not store (see the log).", nil, nil)
	descOutCursor    = prometheus.NewDesc("actionstream_outbox_cursor", "Sequence number a sink has acknowledged through.", []string{"sink"}, nil)
	descOutLag       = prometheus.NewDesc("actionstream_outbox_lag", "Committed events a sink has not acknowledged yet.", []string{"sink"}, nil)
	descStateErrors  = prometheus.NewDesc("actionstream_state_errors_total", "Failed stream-state updates (Redis).", nil, nil)
)

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStatus, descAttempts, descFPS, descUp, descFrames, descFramesSkip, descDecodeErrors, descClips, descClipsDropped, descMotion, descPTSBackward, descPTSRepairs,
		descRestarts, descPending, descScored, descInferErrors, descSinkBuffered, descSinkCap, descSinkDeliv, descSinkErrors,
		descSinkBlocked, descSinkRejected, descSinkAccepted, descSinkRetries, descSinkUndeliv, descSinkBlockedS, descSinkUp, descStateErrors,
		descSinkDownS, descOutEntries, descOutBytes, descOutMaxEnt, descOutMaxBytes, descOutFull, descOutDiskErr, descOutDiskErrs,
		descOutAppended, descOutCommits, descOutBlocked, descOutBlockedS, descOutRefused, descOutCursor, descOutLag} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	var bs infer.BatcherStats
	if m.p.batcher != nil {
		bs = m.p.batcher.Stats()
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	statuses := [...]string{StatusStarting, StatusUp, StatusFailing, StatusDown, StatusEnded, StatusFailed}
	for _, st := range m.p.Streams() {
		gauge(descFPS, st.FPS, st.ID)
		gauge(descUp, b2f(st.Status == StatusUp), st.ID)
		for _, status := range statuses {
			gauge(descStatus, b2f(st.Status == status), st.ID, status)
		}
		gauge(descAttempts, float64(st.Attempts), st.ID)
		counter(descFrames, float64(st.FramesDecoded), st.ID)
		counter(descFramesSkip, float64(st.FramesSkipped), st.ID)
		counter(descDecodeErrors, float64(st.DecodeErrors), st.ID)
		counter(descClips, float64(st.Clips), st.ID)
		for _, reason := range dropReasons {
			counter(descClipsDropped, float64(st.ClipsDroppedByReason[reason]), st.ID, reason)
		}
		if st.Motion != nil {
			gauge(descMotion, *st.Motion, st.ID)
		}
		counter(descPTSBackward, float64(st.PTSBackwardSteps), st.ID)
		counter(descPTSRepairs, float64(st.PTSRepairs), st.ID)
		counter(descRestarts, float64(st.Restarts), st.ID)
	}
	gauge(descPending, float64(bs.Pending))
	counter(descScored, float64(bs.Scored))
	counter(descInferErrors, float64(bs.Errors))
	if m.p.out != nil {
		for i, s := range sink.AllStats(m.p.out) {
			name := s.Name
			if name == "" {
				name = strconv.Itoa(i)
			}
			gauge(descSinkBuffered, float64(s.Buffered), name)
			gauge(descSinkCap, float64(s.Capacity), name)
			counter(descSinkDeliv, float64(s.Delivered), name)
			counter(descSinkErrors, float64(s.Errors), name)
			counter(descSinkBlocked, float64(s.BlockedWrites), name)
			counter(descSinkRejected, float64(s.Rejected), name)
			counter(descSinkAccepted, float64(s.Accepted), name)
			counter(descSinkRetries, float64(s.Retries), name)
			counter(descSinkUndeliv, float64(s.Undelivered), name)
			counter(descSinkBlockedS, s.BlockedTime.Seconds(), name)
			gauge(descSinkUp, b2f(s.Up), name)
		}
	}
	if m.p.durable != nil {
		m.collectOutbox(gauge, counter)
	}
	counter(descStateErrors, float64(m.stateErrors.Load()))
}

func (m *metrics) collectOutbox(gauge, counter func(*prometheus.Desc, float64, ...string)) {
	st, ss := m.p.durable.Stats()
	gauge(descOutEntries, float64(st.Entries))
	gauge(descOutBytes, float64(st.Bytes))
	gauge(descOutMaxEnt, float64(st.MaxEntries))
	gauge(descOutMaxBytes, float64(st.MaxBytes))
	gauge(descOutFull, b2f(st.Full))
	gauge(descOutDiskErr, b2f(st.Err != nil))
	counter(descOutDiskErrs, float64(st.DiskErrors))
	counter(descOutAppended, float64(st.Appended))
	counter(descOutCommits, float64(st.Commits))
	counter(descOutBlocked, float64(st.BlockedAppends))
	counter(descOutBlockedS, st.BlockedTime.Seconds())
	counter(descOutRefused, float64(m.outboxRefused.Load()))
	now := time.Now()
	for _, s := range ss {
		gauge(descOutCursor, float64(s.Cursor), s.Name)
		gauge(descOutLag, float64(s.Lag), s.Name)
		counter(descSinkDeliv, float64(s.Delivered), s.Name)
		counter(descSinkRejected, float64(s.Rejected), s.Name)
		counter(descSinkErrors, float64(s.Failures), s.Name)
		gauge(descSinkUp, b2f(s.Up), s.Name)
		gauge(descSinkDownS, s.DownFor(now).Seconds(), s.Name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// RegisterGauge publishes a gauge read at scrape time from a part wired outside the pipeline
// (e.g. the WHIP endpoint's live sessions).
func (p *Pipeline) RegisterGauge(name, help string, read func() float64) error {
	return p.metrics.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read))
}
