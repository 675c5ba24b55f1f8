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
// without a clip ever being replaced: the batcher keeps one waiting clip per stream (latest
// wins), so the stream hands it the next clip only when the previous one's result is back,
// and the clips completed meanwhile wait here in order. Decoding and inference overlap; the
// decoder stops only when depth clips are already waiting (bounded memory).
type runAhead struct {
	depth int

	mu    sync.Mutex
	moved *sync.Cond // signalled when the queue shrinks or the stream's clip comes back
	queue []*clipper.Clip
	busy  bool // one of the stream's clips is in the batcher
}

// aheadBytes bounds the clips a one-shot stream's decoder may hold ahead of inference
// (within 2 to 8 clips: 8 for X3D-S's 4 MiB clips).
const aheadBytes = 64 << 20

func newRunAhead(clipLen int) *runAhead {
	q := &runAhead{depth: min(8, max(2, aheadBytes/max(4*clipLen, 1)))}
	q.moved = sync.NewCond(&q.mu)
	return q
}

// push takes a completed clip on the decoder's goroutine: submitted at once when none of the
// stream's clips is in the batcher, else queued, waiting while depth clips are queued.
// submit returns false when the batcher refused (and released) the clip.
func (q *runAhead) push(c *clipper.Clip, submit func(*clipper.Clip) bool) {
	q.mu.Lock()
	for q.busy && len(q.queue) >= q.depth {
		q.moved.Wait()
	}
	if q.busy {
		q.queue = append(q.queue, c)
		q.mu.Unlock()
		return
	}
	q.busy = true
	q.mu.Unlock()
	if !submit(c) {
		q.back(submit)
	}
}

// back is called when the stream's clip has come back from the batcher (its result, or a
// refusal): the next queued clip goes in.
func (q *runAhead) back(submit func(*clipper.Clip) bool) {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.busy = false
			q.moved.Broadcast()
			q.mu.Unlock()
			return
		}
		c := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.moved.Broadcast()
		q.mu.Unlock()
		if submit(c) {
			return
		}
	}
}

// drain waits until every clip pushed has come back, so `run` sees every result before it
// exits.
func (q *runAhead) drain() {
	q.mu.Lock()
	for q.busy || len(q.queue) > 0 {
		q.moved.Wait()
	}
	q.mu.Unlock()
}

// OneShotThreads is how `run` splits the CPUs this process may use (cores: runtime.NumCPU,
// which honours the affinity mask, so `taskset -c 0` means one) between FFmpeg and ONNX
// Runtime; docs/OPERATIONS.md states the rule:
//   - FFmpeg decodes each input on one thread (no frame threading: it costs CPU and frame
//     delay, and one thread decodes a 720p30 camera many times faster than real time), and
//     that thread keeps a core of its own.
//   - ONNX Runtime gets threads intra-op threads: when threads is 0, every other core (one
//     on a single core), with spinning off, so a worker that waits for the next clip sleeps.
//     Sharing the decoder's core cost more than that core gave: a model call's parallel
//     sections wait for the worker the decoder holds up (docs/BENCHMARKS.md).
//   - With two cores or more, the model is warmed up by one batch-1 call as soon as its session
//     exists, on the cores the decoder leaves while it decodes the first clip (the first call
//     page-faults ONNX Runtime's arena in; on one core that would only add a call).
//
// A GPU provider keeps ONNX Runtime's own thread default (the CPU only feeds the device).
func OneShotThreads(o infer.Options, cores int) infer.Options {
	if o.Provider != "" && o.Provider != infer.ProviderCPU {
		return o
	}
	if o.Threads == 0 {
		o.Threads = max(cores-1, 1)
	}
	if cores > 1 && len(o.WarmUpBatches) == 0 {
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

// spinKey is ONNX Runtime's session setting for letting idle intra-op threads spin.
const spinKey = "session.intra_op.allow_spinning"
