package pipeline

import (
	"fmt"
	"maps"
	"os"
	"sync"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/infer"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/file"
)

// verdict says, once a one-shot stream is over, why it failed or yielded no clip (nil if it
// was scored or cut short by the caller). The message starts with the input's name.
func (s *stream) verdict() error {
	st := s.status(0)
	switch {
	case st.Status == StatusFailed:
		return fmt.Errorf("%s %w: %w%s", s.url, ErrStreamFailed, s.failErr, fileHint(s.url, st))
	case st.Status != StatusEnded || st.Clips > 0:
		return nil
	case st.FramesDecoded == 0:
		return fmt.Errorf("%s %w: no frame could be decoded (%d decode errors)", s.url, ErrNotVideo, st.DecodeErrors)
	case st.FramesDecoded == 1:
		return fmt.Errorf("%s %w: it holds a single %s frame, a still image", s.url, ErrNotVideo, st.Codec)
	}
	cc := s.clp.Config()
	clip := fmt.Sprintf("a clip spans %.2f s (%d frames %.2f s apart)", cc.Span().Seconds(), cc.Frames, cc.Interval().Seconds())
	span := s.tl.last - s.tl.first
	switch {
	case st.Gaps > 0 || st.BackwardSteps > 0:
	case span < cc.Span():
		return fmt.Errorf("%s %w: too short for one clip: its %d frames span %.2f s, %s", s.url, ErrNoClip, st.FramesDecoded, span.Seconds(), clip)
	default: // not expected from a file: the clipper only drops clips at gaps, backward steps and resets
		return fmt.Errorf("%s %w: %d clips started and were dropped (%d frames over %.2f s; %s)", s.url, ErrNoClip, st.ClipsDropped, st.FramesDecoded, span.Seconds(), clip)
	}
	return fmt.Errorf("%s %w: %d gaps over %v and %d backward frame-time steps broke every clip (%d frames over %.2f s; %s)",
		s.url, ErrNoClip, st.Gaps, cc.GapTolerance, st.BackwardSteps, st.FramesDecoded, span.Seconds(), clip)
}

// fileHint adds what FFmpeg's "invalid data" leaves unsaid about a file that never delivered a
// packet.
func fileHint(url string, st StreamStatus) string {
	if ingest.URLKind(url) != "file" || st.FramesDecoded > 0 || st.Restarts > 0 {
		return ""
	}
	path, err := file.Path(url)
	if err != nil {
		return ""
	}
	switch fi, err := os.Stat(path); {
	case err != nil:
		return ""
	case fi.Size() == 0:
		return " (the file is empty)"
	}
	return " (not a video file FFmpeg can read, or its header is damaged)"
}

// runAhead lets a one-shot stream's decoder work up to depth clips ahead of inference
// without a clip ever being replaced: the stream keeps at most inflight clips in the batcher
// (no more than batcher.max_pending, so none is pushed out as stale; oneShotInflight, so every
// worker can have one), hands it the next clip only when one's result is back, and the clips
// completed meanwhile wait here in order. Decoding and inference overlap; the decoder stops
// only when depth clips are already waiting (bounded memory).
type runAhead struct {
	depth, inflight int

	mu    sync.Mutex
	moved *sync.Cond // signalled when the queue shrinks or a clip comes back
	queue []*clipper.Clip
	held  int // the stream's clips in the batcher
}

// oneShotInflight is how many of a one-shot stream's clips may be in the batcher at once: one
// per worker, and with several workers one more, so that a worker whose call ended before an
// earlier one (its results wait for their turn) has the next clip to call on instead of idling
// until the slower call is done.
func oneShotInflight(workers int) int {
	if workers > 1 {
		return workers + 1
	}
	return max(workers, 1)
}

// aheadBytes bounds the clips a one-shot stream's decoder may hold ahead of inference
// (within 2 to 8 clips: 8 for X3D-S's 4 MiB clips).
const aheadBytes = 64 << 20

func newRunAhead(clipLen, inflight int) *runAhead {
	q := &runAhead{depth: min(8, max(2, aheadBytes/max(4*clipLen, 1))), inflight: max(inflight, 1)}
	q.moved = sync.NewCond(&q.mu)
	return q
}

// push takes a completed clip on the decoder's goroutine: submitted at once when fewer than
// inflight of the stream's clips are in the batcher and none waits before it, else queued,
// waiting while depth clips are queued. submit returns false when the batcher refused (and
// released) the clip. Clips are submitted under mu (Submit never blocks), so they reach the
// batcher in order.
func (q *runAhead) push(c *clipper.Clip, submit func(*clipper.Clip) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.held >= q.inflight && len(q.queue) >= q.depth {
		q.moved.Wait()
	}
	q.queue = append(q.queue, c)
	q.feed(submit)
}

// back is called when one of the stream's clips has come back from the batcher (its result,
// or a refusal): the next queued clip goes in.
func (q *runAhead) back(submit func(*clipper.Clip) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held--
	q.feed(submit)
	q.moved.Broadcast()
}

// feed submits queued clips, oldest first, while fewer than inflight are in the batcher. mu
// is held.
func (q *runAhead) feed(submit func(*clipper.Clip) bool) {
	for len(q.queue) > 0 && q.held < q.inflight {
		c := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.moved.Broadcast()
		if submit(c) {
			q.held++
		}
	}
}

// drain waits until every clip pushed has come back, so `run` sees every result before it
// exits.
func (q *runAhead) drain() {
	q.mu.Lock()
	for q.held > 0 || len(q.queue) > 0 {
		q.moved.Wait()
	}
	q.mu.Unlock()
}

// OneShotThreads is how `run` splits the CPUs this process may use (cores: runtime.NumCPU,
// which honours the affinity mask, so `taskset -c 0` means one) between FFmpeg and ONNX
// Runtime; docs/OPERATIONS.md states the rule:
//   - FFmpeg decodes each input on one thread (no frame threading: it costs CPU and frame
//     delay, and one thread decodes a 720p30 camera many times faster than real time).
//   - With two cores or more and threads 0, two model calls run at once (OneShotWorkers), each
//     with half the cores as intra-op threads: while the decoder runs the three share the
//     cores, and when it waits or is done the two calls have them all. Two one-thread calls
//     side by side scored 13 X3D-S clips 1.7× as fast as one call at a time, and 1.1× as fast
//     as one call on two threads (docs/BENCHMARKS.md). An explicit threads is one call's
//     threads, one call at a time. Spinning is off, so a thread that waits for work sleeps.
//   - With two cores or more and one call at a time (an explicit threads), the model is warmed
//     up by one batch-1 call as soon as its session exists, on the cores the decoder leaves while
//     it decodes the first clip (the first call page-faults ONNX Runtime's arena in). With two
//     calls at once there is none: the two first calls overlap anyway, and a warm-up beside them
//     cost 0.12 CPU-s for no wall time (docs/BENCHMARKS.md); on one core it would only add a call.
//
// A GPU provider keeps ONNX Runtime's own thread default (the CPU only feeds the device).
func OneShotThreads(o infer.Options, cores int) infer.Options {
	if !onCPU(o) {
		return o
	}
	workers := OneShotWorkers(o, cores) // of the options as given
	if o.Threads == 0 {
		o.Threads = max(cores/workers, 1)
	}
	if cores > 1 && workers == 1 && len(o.WarmUpBatches) == 0 {
		o.WarmUpBatches = []int{1}
	}
	if o.Threads > 1 {
		o.SessionConfig = maps.Clone(o.SessionConfig)
		if o.SessionConfig == nil {
			o.SessionConfig = map[string]string{}
		}
		if _, set := o.SessionConfig[spinKey]; !set {
			o.SessionConfig[spinKey] = "0"
		}
	}
	return o
}

// OneShotWorkers is how many model calls `run` makes at once (batcher.workers) for the
// runtime options o as given (before OneShotThreads): two on two cores or more when the
// threads are left to the rule on the cpu provider, else one.
func OneShotWorkers(o infer.Options, cores int) int {
	if !onCPU(o) || o.Threads != 0 || cores < 2 {
		return 1
	}
	return 2
}

// OneShotNice is the nice value of `run`'s model calls (batcher.Nice): on the cpu provider
// they yield the cores to the decoder, so decoding, the one serial stage, never waits for a
// model call and is done early; the clips it has queued then keep every core busy to the end.
// With both at one priority the decoder got a fair share, finished last, and the final clip
// was scored on one core while the others idled.
func OneShotNice(o infer.Options) int {
	if !onCPU(o) {
		return 0
	}
	return 10
}

// onCPU reports whether o runs the model on the cpu provider (the default): the case the
// one-shot rules are for; a GPU provider keeps ONNX Runtime's own settings.
func onCPU(o infer.Options) bool { return o.Provider == "" || o.Provider == infer.ProviderCPU }

// spinKey is ONNX Runtime's session setting for letting idle intra-op threads spin.
const spinKey = "session.intra_op.allow_spinning"
