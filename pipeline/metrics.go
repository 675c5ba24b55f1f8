package pipeline

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

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
	stateErrors atomic.Uint64
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
	m.reg.MustRegister(m.inferTime, m.batchSize, m.queueDelay, m.events, m,
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

var (
	descFPS          = prometheus.NewDesc("actionstream_stream_fps", "Decoded frames per second.", []string{"stream"}, nil)
	descUp           = prometheus.NewDesc("actionstream_stream_up", "1 while the stream's source delivers packets.", []string{"stream"}, nil)
	descFrames       = prometheus.NewDesc("actionstream_frames_decoded_total", "Frames decoded.", []string{"stream"}, nil)
	descDecodeErrors = prometheus.NewDesc("actionstream_decode_errors_total", "Packets or frames FFmpeg rejected (skipped).", []string{"stream"}, nil)
	descClips        = prometheus.NewDesc("actionstream_clips_total", "Clips assembled.", []string{"stream"}, nil)
	// reason: gap (a timestamp step over the gap tolerance), backward (timestamps going back),
	// reset (the source reconnected), stale (replaced by a newer clip before inference).
	descClipsDropped = prometheus.NewDesc("actionstream_clips_dropped_total", "Clips dropped, by reason: gap, backward, reset, stale.", []string{"stream", "reason"}, nil)
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
	descStateErrors  = prometheus.NewDesc("actionstream_state_errors_total", "Failed stream-state updates (Redis).", nil, nil)
)

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFPS, descUp, descFrames, descDecodeErrors, descClips, descClipsDropped, descPTSBackward, descPTSRepairs,
		descRestarts, descPending, descScored, descInferErrors, descSinkBuffered, descSinkCap, descSinkDeliv, descSinkErrors,
		descSinkBlocked, descSinkRejected, descSinkAccepted, descSinkRetries, descSinkUndeliv, descSinkBlockedS, descSinkUp, descStateErrors} {
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
	for _, st := range m.p.Streams() {
		gauge(descFPS, st.FPS, st.ID)
		gauge(descUp, b2f(st.Status == StatusUp), st.ID)
		counter(descFrames, float64(st.FramesDecoded), st.ID)
		counter(descDecodeErrors, float64(st.DecodeErrors), st.ID)
		counter(descClips, float64(st.Clips), st.ID)
		for _, reason := range dropReasons {
			counter(descClipsDropped, float64(st.ClipsDroppedByReason[reason]), st.ID, reason)
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
	counter(descStateErrors, float64(m.stateErrors.Load()))
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
