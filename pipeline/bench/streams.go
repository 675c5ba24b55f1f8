package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"

	"github.com/actionstream/actionstream/hostinfo"
)

// StreamsOptions are the settings of Streams: N looping, paced copies of one file served by
// the whole pipeline (decode, clipper, batcher, lifecycle), measured after a warm-up.
type StreamsOptions struct {
	Model, Input string
	Counts       []int // stream counts, alternated run by run
	Runs         int   // runs of each count
	Warmup       time.Duration
	Duration     time.Duration // the measured window of each run
	Threads      int           // ONNX Runtime intra-op threads (0 = one per core)
	MaxPending   int           // batcher.max_pending (0 = default)
	// Pass runs one measurement: this binary re-run with a hidden flag, to which Streams adds
	// "--streams N"; it prints StreamsPass's result as JSON. Each run is its own process, so
	// its CPU time is its own and no run inherits another's warm caches or threads.
	Pass []string
}

// StreamsPassResult is one run: N streams over the measured window.
type StreamsPassResult struct {
	Streams    int       `json:"streams"`
	WindowS    float64   `json:"window_s"`
	SourceFPS  float64   `json:"source_fps"` // the input's frame rate
	FPS        []float64 `json:"fps"`        // decoded frames/s of each stream
	CPUSeconds float64   `json:"cpu_seconds"`
	Clips      uint64    `json:"clips"`  // clips the clippers made
	Scored     uint64    `json:"scored"` // clips the model scored
	Stale      uint64    `json:"stale"`  // clips dropped as stale
	Dropped    uint64    `json:"dropped"`
}

// StreamsPass serves n streams for warmup+duration in this process and measures the window.
func StreamsPass(ctx context.Context, o StreamsOptions, n int) (StreamsPassResult, error) {
	if n < 1 || o.Duration <= 0 || o.Warmup < 0 {
		return StreamsPassResult{}, fmt.Errorf("%w: streams %d, duration %v, warmup %v", ErrOptions, n, o.Duration, o.Warmup)
	}
	cfg := configs.Default()
	cfg.Model.Path = o.Model
	cfg.Model.Runtime.Threads = o.Threads
	cfg.Batcher.MaxPending = o.MaxPending
	cfg.HTTP.Addr = ""
	for i := range n {
		cfg.Streams = append(cfg.Streams, configs.Stream{ID: fmt.Sprintf("s%d", i), URL: o.Input, Loop: true})
	}
	if err := cfg.Validate(); err != nil {
		return StreamsPassResult{}, err
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: quietLogger(), Sinks: []sink.Sink{jsonl.New(io.Discard)}})
	if err != nil {
		return StreamsPassResult{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	type snap struct {
		at                            time.Time
		cpu                           time.Duration
		frames                        []int64
		fps                           float64
		clips, scored, stale, dropped uint64
	}
	take := func() snap {
		s := snap{at: time.Now(), cpu: hostinfo.ProcessCPU()}
		for _, st := range p.Streams() {
			s.frames = append(s.frames, st.FramesDecoded+st.FramesSkipped) // the stream's frames, decoded or not
			s.fps = max(s.fps, st.FPS)
			s.clips += st.Clips
			s.scored += st.ClipsScored
			s.stale += st.ClipsDroppedByReason["stale"]
			for _, v := range st.ClipsDroppedByReason {
				s.dropped += v
			}
		}
		return s
	}
	wait := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case err := <-done:
			return fmt.Errorf("the pipeline stopped early: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := wait(o.Warmup); err != nil {
		return StreamsPassResult{}, err
	}
	a := take()
	if err := wait(o.Duration); err != nil {
		return StreamsPassResult{}, err
	}
	b := take()
	cancel()
	if err := <-done; err != nil {
		return StreamsPassResult{}, err
	}
	win := b.at.Sub(a.at).Seconds()
	r := StreamsPassResult{Streams: n, WindowS: win, SourceFPS: b.fps, CPUSeconds: (b.cpu - a.cpu).Seconds(),
		Clips: b.clips - a.clips, Scored: b.scored - a.scored, Stale: b.stale - a.stale, Dropped: b.dropped - a.dropped}
	for i := range b.frames {
		r.FPS = append(r.FPS, float64(b.frames[i]-a.frames[i])/win)
	}
	return r, nil
}

// StreamsCount is the spread over the runs of one stream count.
type StreamsCount struct {
	Streams int `json:"streams"`
	Runs    int `json:"runs"`
	// MinFPS is the slowest stream's decoded frames/s of each run: min/median/max over runs.
	MinFPS [3]float64 `json:"min_fps"`
	// CPUPerStream is CPU-seconds per stream per second of video, min/median/max over runs.
	CPUPerStream [3]float64 `json:"cpu_per_stream"`
	Stale        [3]uint64  `json:"stale"`
	Scored       [3]uint64  `json:"scored"`
	// RealTime: in every run each stream kept the source's frame rate (within 3 %) and no
	// clip was dropped as stale.
	RealTime bool `json:"real_time"`
}

// StreamsResult is the whole comparison.
type StreamsResult struct {
	Model, Input string
	CPUs         int            `json:"cpus"`
	SourceFPS    float64        `json:"source_fps"`
	WindowS      float64        `json:"window_s"`
	Counts       []StreamsCount `json:"counts"`
	// CamerasPerCore is 1 / the median CPU per stream of the largest count that ran in real
	// time; 0 when none did.
	CamerasPerCore float64 `json:"cameras_per_core"`
	LoadBefore     string  `json:"load_before"`
	LoadAfter      string  `json:"load_after"`
}

// Streams runs o.Pass for every count o.Runs times, rotating which count goes first in each
// round so all see the same machine state, and reports each count's spread.
func Streams(ctx context.Context, o StreamsOptions) (StreamsResult, error) {
	if o.Runs < 1 || len(o.Counts) == 0 || len(o.Pass) == 0 {
		return StreamsResult{}, fmt.Errorf("%w: runs %d, counts %v, pass %q", ErrOptions, o.Runs, o.Counts, o.Pass)
	}
	for _, n := range o.Counts {
		if n < 1 {
			return StreamsResult{}, fmt.Errorf("%w: stream count %d", ErrOptions, n)
		}
	}
	res := StreamsResult{Model: o.Model, Input: o.Input, CPUs: runtime.NumCPU(), LoadBefore: hostinfo.LoadAverage()}
	runs := map[int][]StreamsPassResult{}
	for i := range o.Runs {
		for j := range o.Counts {
			n := o.Counts[(i+j)%len(o.Counts)]
			r, err := streamsChild(ctx, o.Pass, n)
			if err != nil {
				return StreamsResult{}, fmt.Errorf("%d streams, run %d: %w", n, i+1, err)
			}
			runs[n] = append(runs[n], r)
			res.SourceFPS, res.WindowS = r.SourceFPS, r.WindowS
		}
	}
	res.LoadAfter = hostinfo.LoadAverage()
	for _, n := range o.Counts {
		rs := runs[n]
		c := StreamsCount{Streams: n, Runs: len(rs), RealTime: true}
		var minFPS, cpu []float64
		var stale, scored []uint64
		for _, r := range rs {
			lo := slices.Min(r.FPS)
			minFPS = append(minFPS, lo)
			cpu = append(cpu, r.CPUSeconds/r.WindowS/float64(n))
			stale, scored = append(stale, r.Stale), append(scored, r.Scored)
			if r.Stale > 0 || lo < 0.97*r.SourceFPS {
				c.RealTime = false
			}
		}
		c.MinFPS, c.CPUPerStream, c.Stale, c.Scored = spread3(minFPS), spread3(cpu), spread3(stale), spread3(scored)
		res.Counts = append(res.Counts, c)
	}
	best := 0
	for _, c := range res.Counts {
		if c.RealTime && c.Streams > best && c.CPUPerStream[1] > 0 {
			best, res.CamerasPerCore = c.Streams, 1/c.CPUPerStream[1]
		}
	}
	return res, nil
}

func spread3[T int | uint64 | float64](v []T) [3]T {
	s := slices.Clone(v)
	slices.Sort(s)
	return [3]T{s[0], s[len(s)/2], s[len(s)-1]}
}

// streamsChild runs one measurement process and reads its JSON line.
func streamsChild(ctx context.Context, pass []string, n int) (StreamsPassResult, error) {
	cmd := exec.CommandContext(ctx, pass[0], append(slices.Clone(pass[1:]), "--streams", strconv.Itoa(n))...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return StreamsPassResult{}, fmt.Errorf("measurement process: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	var r StreamsPassResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("measurement process output %q: %w", out.String(), err)
	}
	if len(r.FPS) != n {
		return r, fmt.Errorf("measurement process reported %d streams, want %d", len(r.FPS), n)
	}
	return r, nil
}

// WriteText prints one line per stream count, then the figure.
func (r StreamsResult) WriteText(w io.Writer) error {
	lines := []string{fmt.Sprintf("model %s, input %s (%.0f fps), %d CPUs, %.0f s measured per run, load average before %s, after %s",
		r.Model, r.Input, r.SourceFPS, r.CPUs, r.WindowS, r.LoadBefore, r.LoadAfter)}
	for _, c := range r.Counts {
		rt := "no"
		if c.RealTime {
			rt = "yes"
		}
		lines = append(lines, fmt.Sprintf("%3d streams (%d runs): slowest stream fps min/median/max %.1f/%.1f/%.1f  CPU-s per stream-second %.4f/%.4f/%.4f  stale %d/%d/%d  scored median %d  real time: %s",
			c.Streams, c.Runs, c.MinFPS[0], c.MinFPS[1], c.MinFPS[2], c.CPUPerStream[0], c.CPUPerStream[1], c.CPUPerStream[2],
			c.Stale[0], c.Stale[1], c.Stale[2], c.Scored[1], rt))
	}
	if r.CamerasPerCore > 0 {
		lines = append(lines, fmt.Sprintf("cameras per core at real time: %.1f (1 / the median CPU per stream of the largest real-time count)", r.CamerasPerCore))
	} else {
		lines = append(lines, "cameras per core at real time: none of the counts ran in real time (every stream at the source rate, no stale drop)")
	}
	return writeLines(w, lines...)
}
