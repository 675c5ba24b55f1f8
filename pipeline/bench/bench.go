// Package bench holds the measuring code of `actionstream bench`: decode throughput
// against the ffmpeg CLI, ONNX Runtime against the batcher, the serving pipeline's
// memory per stream and WHIP glass-to-event latency. It lives under pipeline because
// the last two drive the whole pipeline; the command only parses flags and prints.
package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"

	"github.com/actionstream/actionstream/hostinfo"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// DecodeResult compares our demux+decode+sample+convert path with `ffmpeg -threads 1 -f null`,
// both timed as whole processes (start-up included), alternating which side goes first.
type DecodeResult struct {
	Input            string     `json:"input"`
	Runs             int        `json:"runs"`
	OursFPS          float64    `json:"ours_fps"`       // frames / median wall time
	FFmpegFPS        float64    `json:"ffmpeg_fps"`     // frames / median wall time
	Ratio            float64    `json:"ratio"`          // median wall time ffmpeg / ours
	OursSeconds      [3]float64 `json:"ours_seconds"`   // wall time min, median, max
	FFmpegSeconds    [3]float64 `json:"ffmpeg_seconds"` // wall time min, median, max
	OursCPUSeconds   float64    `json:"ours_cpu_seconds"`
	FFmpegCPUSeconds float64    `json:"ffmpeg_cpu_seconds"`
	CPURatio         float64    `json:"cpu_ratio"`               // median CPU time ffmpeg / ours
	OursSwitches     int64      `json:"ours_context_switches"`   // median per run
	FFmpegSwitches   int64      `json:"ffmpeg_context_switches"` // median per run
	Frames           int64      `json:"frames"`
	FFmpegFrames     int64      `json:"ffmpeg_frames"`
	Converted        int64      `json:"converted"`
	Clips            int64      `json:"clips"`
	Errors           int64      `json:"errors"`
	CPU              string     `json:"cpu"`
	LoadBefore       string     `json:"load_before"`
	LoadAfter        string     `json:"load_after"`
}

// DecodeOptions are the settings of Decode.
type DecodeOptions struct {
	Input string
	Crop  int // the model's crop S
	Runs  int // runs of each side
	// Pass runs our side: a command (this binary re-run with a hidden flag) that decodes
	// Input once and prints DecodePass's result as JSON on stdout.
	Pass []string
}

// DecodePass decodes input once in this process (the child Decode times).
func DecodePass(ctx context.Context, input string, crop int) (decode.BenchResult, error) {
	return decode.BenchFile(ctx, input, decode.Config{Size: crop, Logger: quietLogger()}, nil)
}

// Decode times both sides o.Runs times as whole processes, alternating which goes first so
// both see the same machine state.
func Decode(ctx context.Context, o DecodeOptions) (DecodeResult, error) {
	if o.Runs < 1 || o.Crop < 1 || len(o.Pass) == 0 {
		return DecodeResult{}, fmt.Errorf("%w: runs %d, crop %d, pass command %q", ErrOptions, o.Runs, o.Crop, o.Pass)
	}
	ours := func() (decode.BenchResult, error) {
		pr, out, err := decode.BenchProcess(ctx, o.Pass[0], o.Pass[1:]...)
		var r decode.BenchResult
		if err != nil {
			return r, err
		}
		if err := json.Unmarshal(out, &r); err != nil {
			return r, fmt.Errorf("bench decode pass output: %w", err)
		}
		r.Elapsed, r.CPU, r.Switches, r.FPS = pr.Wall, pr.CPU, pr.Switches, float64(r.Frames)/pr.Wall.Seconds()
		return r, nil
	}
	load := hostinfo.LoadAverage()
	var oursRuns, refRuns []decode.BenchResult
	for i := range o.Runs {
		for side := range 2 {
			if (i+side)%2 == 0 {
				r, err := decode.BenchFFmpeg(ctx, o.Input)
				if err != nil {
					return DecodeResult{}, fmt.Errorf("ffmpeg reference: %w", err)
				}
				refRuns = append(refRuns, r)
				continue
			}
			r, err := ours()
			if err != nil {
				return DecodeResult{}, err
			}
			oursRuns = append(oursRuns, r)
		}
	}
	mo, mr := spread(oursRuns), spread(refRuns)
	cpu := func(r decode.BenchResult) time.Duration { return r.CPU }
	switches := func(r decode.BenchResult) int64 { return r.Switches }
	co, cr := medianOf(oursRuns, cpu), medianOf(refRuns, cpu)
	secs := func(m [3]decode.BenchResult) [3]float64 {
		return [3]float64{m[0].Elapsed.Seconds(), m[1].Elapsed.Seconds(), m[2].Elapsed.Seconds()}
	}
	return DecodeResult{Input: o.Input, Runs: o.Runs, OursFPS: mo[1].FPS, FFmpegFPS: mr[1].FPS,
		Ratio: mr[1].Elapsed.Seconds() / mo[1].Elapsed.Seconds(), OursSeconds: secs(mo), FFmpegSeconds: secs(mr),
		OursCPUSeconds: co.Seconds(), FFmpegCPUSeconds: cr.Seconds(), CPURatio: cr.Seconds() / co.Seconds(),
		OursSwitches: medianOf(oursRuns, switches), FFmpegSwitches: medianOf(refRuns, switches),
		Frames: mo[1].Frames, FFmpegFrames: mr[1].Frames, Converted: mo[1].Converted, Clips: mo[1].Clips,
		Errors: mo[1].Errors, CPU: hostinfo.CPUModel(), LoadBefore: load, LoadAfter: hostinfo.LoadAverage()}, nil
}

// spread returns the fastest, median and slowest run by wall time.
func spread(rs []decode.BenchResult) [3]decode.BenchResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b decode.BenchResult) int { return cmp.Compare(a.Elapsed, b.Elapsed) })
	return [3]decode.BenchResult{s[0], s[len(s)/2], s[len(s)-1]}
}

// medianOf is the median over the runs of one of their figures.
func medianOf[T cmp.Ordered](rs []decode.BenchResult, of func(decode.BenchResult) T) T {
	v := make([]T, len(rs))
	for i, r := range rs {
		v[i] = of(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// InferOptions are the settings of Infer.
type InferOptions struct {
	Model    string
	Batch    int
	Threads  int
	Provider string
	Duration time.Duration // timed duration of each side, split over Runs
	Runs     int           // runs of each side, alternating (0 = 5)
	Spin     bool          // let ONNX Runtime's threads spin between calls
}

// InferResult compares raw ONNX Runtime calls with the batcher path; clips/s and latencies
// are medians over the runs.
type InferResult struct {
	Model         string  `json:"model"`
	Provider      string  `json:"provider"`
	Batch         int     `json:"batch"`
	Threads       int     `json:"threads"`
	Runs          int     `json:"runs"`
	RawClipsPerS  float64 `json:"raw_clips_per_s"`
	PipeClipsPerS float64 `json:"pipeline_clips_per_s"`
	Ratio         float64 `json:"ratio"` // median batcher clips/s / median raw clips/s
	RawP50MS      float64 `json:"raw_p50_ms"`
	RawP99MS      float64 `json:"raw_p99_ms"`
	PipeP50MS     float64 `json:"pipeline_p50_ms"`
	PipeP99MS     float64 `json:"pipeline_p99_ms"`
	RawSpread     Spread  `json:"raw_clips_per_s_spread"`
	PipeSpread    Spread  `json:"pipeline_clips_per_s_spread"`
	RatioSpread   Spread  `json:"ratio_spread"` // per pair of adjacent runs
	CPU           string  `json:"cpu"`
	LoadBefore    string  `json:"load_before"`
	LoadAfter     string  `json:"load_after"`
}

// Infer alternates raw model calls and the batcher (copy into the batch, model call,
// scores, top-k, delivery) on the same session, batch and threads: run i times raw then
// batcher when i is even, batcher then raw when odd, so both see the same machine.
func Infer(ctx context.Context, o InferOptions) (InferResult, error) {
	if o.Batch < 1 || o.Runs < 0 {
		return InferResult{}, fmt.Errorf("%w: batch %d, runs %d", ErrOptions, o.Batch, o.Runs)
	}
	if o.Runs == 0 {
		o.Runs = 5
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	res := InferResult{Batch: o.Batch, Threads: o.Threads, Runs: o.Runs, CPU: hostinfo.CPUModel(), LoadBefore: hostinfo.LoadAverage()}
	rt, err := infer.NewRuntime(infer.Options{Threads: o.Threads, Provider: o.Provider, SessionConfig: spinConfig(o.Spin)})
	if err != nil {
		return InferResult{}, err
	}
	defer rt.Close()
	m, err := rt.Open(o.Model)
	if err != nil {
		return InferResult{}, err
	}
	defer m.Close()
	res.Model, res.Provider = m.Meta.Name, m.Provider
	// Twice as many streams as the batch holds: while one batch runs the next is already waiting,
	// as on a loaded server, so the figure is the batcher's throughput, not a ping-pong delay.
	bc := infer.BatcherConfig{MaxBatch: o.Batch, MaxWait: confkit.Duration(50 * time.Millisecond), Logger: quietLogger()}
	var raw, piped []infer.Throughput
	for i := range o.Runs {
		// ORT's first calls allocate and tune: the first run of each side warms up longer.
		mo := infer.MeasureOptions{Warmup: 1, Duration: o.Duration / time.Duration(o.Runs)}
		if i == 0 {
			mo.Warmup = 3
		}
		for side := range 2 {
			if (i+side)%2 == 0 {
				t, err := infer.Measure(ctx, m, o.Batch, mo)
				if err != nil {
					return InferResult{}, err
				}
				raw = append(raw, t)
				continue
			}
			t, err := infer.MeasureBatcher(ctx, m, bc, 2*o.Batch, mo)
			if err != nil {
				return InferResult{}, err
			}
			piped = append(piped, t)
		}
	}
	rate := func(ts []infer.Throughput) []float64 {
		v := make([]float64, len(ts))
		for i, t := range ts {
			v[i] = t.ClipsPerSec
		}
		return v
	}
	medMS := func(ts []infer.Throughput, q func(infer.Throughput) time.Duration) float64 {
		v := make([]float64, len(ts))
		for i, t := range ts {
			v[i] = ms(q(t))
		}
		return spreadOf(v).Median
	}
	ratios := make([]float64, o.Runs)
	for i := range ratios {
		ratios[i] = piped[i].ClipsPerSec / raw[i].ClipsPerSec
	}
	res.RawSpread, res.PipeSpread, res.RatioSpread = spreadOf(rate(raw)), spreadOf(rate(piped)), spreadOf(ratios)
	res.RawClipsPerS, res.PipeClipsPerS = res.RawSpread.Median, res.PipeSpread.Median
	res.Ratio = res.PipeClipsPerS / res.RawClipsPerS
	p50 := func(t infer.Throughput) time.Duration { return t.P50 }
	p99 := func(t infer.Throughput) time.Duration { return t.P99 }
	res.RawP50MS, res.RawP99MS = medMS(raw, p50), medMS(raw, p99)
	res.PipeP50MS, res.PipeP99MS = medMS(piped, p50), medMS(piped, p99)
	res.LoadAfter = hostinfo.LoadAverage()
	return res, nil
}

// spinConfig is the ONNX Runtime session setting for thread spinning.
func spinConfig(spin bool) map[string]string {
	if spin {
		return nil
	}
	return map[string]string{"session.intra_op.allow_spinning": "0"}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func roundMS(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// MemoryOptions are the settings of Memory.
type MemoryOptions struct {
	Model, Input string // Input is looped by every stream
	Streams      int
	Duration     time.Duration
	Threads      int
	Batch        int // ONNX Runtime's activation memory grows with it
	Logger       *slog.Logger
}

// MemoryResult is the process's memory while serving.
type MemoryResult struct {
	Streams      int     `json:"streams"`
	Duration     string  `json:"duration"`
	Clips        uint64  `json:"clips"`
	HeapInuseMiB float64 `json:"go_heap_inuse_mib"`
	HeapSysMiB   float64 `json:"go_heap_sys_mib"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	BaselineMiB  float64 `json:"baseline_rss_mib"` // model loaded, before streams
	PerStreamMiB float64 `json:"per_stream_mib"`
	AboveBaseMiB float64 `json:"per_stream_above_baseline_mib"`
}

// Memory serves N looping, paced copies of one file for a while and reports the peak
// resident memory (Linux /proc/self/status), in total and per stream.
func Memory(ctx context.Context, o MemoryOptions) (MemoryResult, error) {
	if o.Streams < 1 || o.Batch < 1 {
		return MemoryResult{}, fmt.Errorf("%w: streams %d, batch %d", ErrOptions, o.Streams, o.Batch)
	}
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	cfg := configs.Default()
	cfg.Model.Path = o.Model
	cfg.Model.Runtime.Threads = o.Threads
	cfg.Batcher.MaxBatch = o.Batch
	cfg.HTTP.Addr = ""
	for i := range o.Streams {
		cfg.Streams = append(cfg.Streams, configs.Stream{ID: fmt.Sprintf("s%d", i), URL: o.Input, Loop: true})
	}
	if err := cfg.Validate(); err != nil {
		return MemoryResult{}, err
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: o.Logger.With("component", "bench"), Sinks: []sink.Sink{jsonl.New(io.Discard)}})
	if err != nil {
		return MemoryResult{}, err
	}
	baseline := procStatusKiB("VmRSS")
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	if err := p.Run(runCtx); err != nil {
		return MemoryResult{}, err
	}
	peak := procStatusKiB("VmHWM")
	var clips uint64
	for _, st := range p.Streams() {
		clips += st.Clips
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	n := float64(o.Streams)
	return MemoryResult{Streams: o.Streams, Duration: o.Duration.String(), Clips: clips,
		HeapInuseMiB: float64(mem.HeapInuse) / (1 << 20), HeapSysMiB: float64(mem.HeapSys) / (1 << 20),
		PeakRSSMiB: float64(peak) / 1024, BaselineMiB: float64(baseline) / 1024,
		PerStreamMiB: float64(peak) / 1024 / n, AboveBaseMiB: float64(peak-baseline) / 1024 / n}, nil
}

// procStatusKiB reads a memory line (VmRSS, VmHWM) of /proc/self/status in KiB; 0 if unavailable.
func procStatusKiB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
