package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"
)

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: actionstream bench decode|infer|memory|whip [flags]")
		return errUsage
	}
	switch args[0] {
	case "decode":
		return benchDecode(ctx, args[1:], stdout, stderr)
	case "infer":
		return benchInfer(ctx, args[1:], stdout, stderr)
	case "memory":
		return benchMemory(ctx, args[1:], stdout, stderr)
	case "whip":
		return benchWHIP(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "actionstream bench: unknown benchmark %q (decode, infer, memory, whip)\n", args[0])
	return errUsage
}

// benchDecode compares our demux+decode+sample+convert path with `ffmpeg -threads 1 -f null`
// on the same file, each timed as a whole process (this binary re-runs itself with --pass for
// our side), alternating which goes first so both see the same machine state.
func benchDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "video file (required)")
	size := fs.Int("size", 160, "model crop size S (X3D-S: 160)")
	runs := fs.Int("runs", 5, "runs of each side; min, median and max are reported")
	asJSON := fs.Bool("json", false, "print JSON")
	pass := fs.Bool("pass", false, "decode the input once in this process and print its counts as JSON (what the timed child runs)")
	if err := fs.Parse(args); err != nil || *input == "" || *runs < 1 {
		if err == nil {
			fs.Usage()
		}
		return errUsage
	}
	if *pass {
		o, err := decode.BenchFile(ctx, *input, decode.Config{Size: *size, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(o)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench decode: finding this binary: %w", err)
	}
	ours := func() (decode.BenchResult, error) {
		el, cpu, out, err := decode.BenchProcess(ctx, self, "bench", "decode", "--pass", "--input", *input, "--size", strconv.Itoa(*size))
		var r decode.BenchResult
		if err != nil {
			return r, err
		}
		if err := json.Unmarshal(out, &r); err != nil {
			return r, fmt.Errorf("bench decode --pass output: %w", err)
		}
		r.Elapsed, r.CPU, r.FPS = el, cpu, float64(r.Frames)/el.Seconds()
		return r, nil
	}
	var oursRuns, refRuns []decode.BenchResult
	for i := 0; i < *runs; i++ {
		for side := range 2 {
			if (i+side)%2 == 0 {
				r, err := decode.BenchFFmpeg(ctx, *input)
				if err != nil {
					return fmt.Errorf("ffmpeg reference: %w", err)
				}
				refRuns = append(refRuns, r)
			} else {
				o, err := ours()
				if err != nil {
					return err
				}
				oursRuns = append(oursRuns, o)
			}
		}
	}
	mo, mr := spread(oursRuns), spread(refRuns)
	ratio := mr[1].Elapsed.Seconds() / mo[1].Elapsed.Seconds()
	co, cr := medianCPU(oursRuns), medianCPU(refRuns)
	res := map[string]any{"input": *input, "runs": *runs, "ours_fps": mo[1].FPS, "ffmpeg_fps": mr[1].FPS, "ratio": ratio,
		"ours_cpu_seconds": co.Seconds(), "ffmpeg_cpu_seconds": cr.Seconds(), "cpu_ratio": cr.Seconds() / co.Seconds(),
		"ours_seconds":   [3]float64{mo[0].Elapsed.Seconds(), mo[1].Elapsed.Seconds(), mo[2].Elapsed.Seconds()},
		"ffmpeg_seconds": [3]float64{mr[0].Elapsed.Seconds(), mr[1].Elapsed.Seconds(), mr[2].Elapsed.Seconds()},
		"frames":         mo[1].Frames, "ffmpeg_frames": mr[1].Frames, "converted": mo[1].Converted, "clips": mo[1].Clips, "errors": mo[1].Errors}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	line := func(name string, m [3]decode.BenchResult, cpu time.Duration) {
		fmt.Fprintf(stdout, "%-17s %8.1f frames/s  wall min/median/max %.3f/%.3f/%.3f s  cpu median %.3f s\n", name, m[1].FPS,
			m[0].Elapsed.Seconds(), m[1].Elapsed.Seconds(), m[2].Elapsed.Seconds(), cpu.Seconds())
	}
	fmt.Fprintf(stdout, "input             %s (whole processes, %d alternating runs each)\n", *input, *runs)
	line("ffmpeg -threads 1", mr, cr)
	line("actionstream", mo, co)
	fmt.Fprintf(stdout, "frames            %d ours, %d ffmpeg (%d converted, %d clips)\n", mo[1].Frames, mr[1].Frames, mo[1].Converted, mo[1].Clips)
	fmt.Fprintf(stdout, "ratio             %8.3f (median wall time ffmpeg / ours; target >= 0.9), cpu time %.3f\n", ratio, cr.Seconds()/co.Seconds())
	return nil
}

func medianCPU(rs []decode.BenchResult) time.Duration {
	c := make([]time.Duration, len(rs))
	for i, r := range rs {
		c[i] = r.CPU
	}
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[len(c)/2]
}

// spread returns the fastest, median and slowest run by wall time.
func spread(rs []decode.BenchResult) [3]decode.BenchResult {
	s := append([]decode.BenchResult(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Elapsed < s[j].Elapsed })
	return [3]decode.BenchResult{s[0], s[len(s)/2], s[len(s)-1]}
}

// benchInfer compares raw ONNX Runtime calls with the batcher path (copy into the batch,
// model call, scores, top-k, delivery) on the same model, batch and threads.
func benchInfer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench infer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "ONNX model (required)")
	batch := fs.Int("batch", 4, "clips per model call")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0 = one per core)")
	provider := fs.String("provider", "cpu", "cpu, cuda or tensorrt")
	dur := fs.Duration("duration", 10*time.Second, "timed duration of each side")
	spin := fs.Bool("spin", true, "let ONNX Runtime's threads spin between calls (false frees the cores for decoding)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil || *model == "" || *batch < 1 {
		if err == nil {
			fs.Usage()
		}
		return errUsage
	}
	rt, err := infer.NewRuntime(infer.Options{Threads: *threads, Provider: *provider, SessionConfig: spinConfig(*spin)})
	if err != nil {
		return err
	}
	defer rt.Close()
	m, err := rt.Open(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	opts := infer.MeasureOptions{Warmup: 3, Duration: *dur}
	raw, err := infer.Measure(ctx, m, *batch, opts)
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Twice as many streams as the batch holds: while one batch runs the next is already waiting,
	// as on a loaded server, so the figure is the batcher's throughput, not a ping-pong delay.
	piped, err := infer.MeasureBatcher(ctx, m, infer.BatcherConfig{MaxBatch: *batch, MaxWait: 50 * time.Millisecond, Logger: quiet}, 2**batch, opts)
	if err != nil {
		return err
	}
	res := map[string]any{"model": m.Meta.Name, "provider": m.Provider, "batch": *batch, "threads": *threads,
		"raw_clips_per_s": raw.ClipsPerSec, "pipeline_clips_per_s": piped.ClipsPerSec, "ratio": piped.ClipsPerSec / raw.ClipsPerSec,
		"raw_p50_ms": ms(raw.P50), "raw_p99_ms": ms(raw.P99), "pipeline_p50_ms": ms(piped.P50), "pipeline_p99_ms": ms(piped.P99)}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "model %s (%s), batch %d, threads %d\n", m.Meta.Name, m.Provider, *batch, *threads)
	fmt.Fprintf(stdout, "raw ONNX Runtime  %8.2f clips/s  (p50 %.1f ms, p99 %.1f ms per call)\n", raw.ClipsPerSec, ms(raw.P50), ms(raw.P99))
	fmt.Fprintf(stdout, "batcher pipeline  %8.2f clips/s  (p50 %.1f ms, p99 %.1f ms per batch)\n", piped.ClipsPerSec, ms(piped.P50), ms(piped.P99))
	fmt.Fprintf(stdout, "ratio             %8.3f (target >= 0.9)\n", piped.ClipsPerSec/raw.ClipsPerSec)
	return nil
}

// spinConfig is the ONNX Runtime session setting for thread spinning.
func spinConfig(spin bool) map[string]string {
	if spin {
		return nil
	}
	return map[string]string{"session.intra_op.allow_spinning": "0"}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchMemory runs the serving pipeline on N looping, paced copies of one file and reports the
// process's peak resident memory, in total and per stream.
func benchMemory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "ONNX model (required)")
	input := fs.String("input", "", "video file, looped by every stream (required)")
	streams := fs.Int("streams", 8, "number of streams")
	dur := fs.Duration("duration", time.Minute, "how long to serve")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads")
	batch := fs.Int("batch", 8, "most clips per model call (ONNX Runtime's activation memory grows with it)")
	if err := fs.Parse(args); err != nil || *model == "" || *input == "" || *streams < 1 || *batch < 1 {
		if err == nil {
			fs.Usage()
		}
		return errUsage
	}
	cfg := configs.Default()
	cfg.Model.Path = *model
	cfg.Model.Runtime.Threads = *threads
	cfg.Batcher.MaxBatch = *batch
	cfg.HTTP.Addr = ""
	for i := 0; i < *streams; i++ {
		cfg.Streams = append(cfg.Streams, configs.Stream{ID: fmt.Sprintf("s%d", i), URL: *input, Loop: true})
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: quiet, Sinks: []sink.Sink{jsonl.New(io.Discard)}})
	if err != nil {
		return err
	}
	baseline := rssKiB("VmRSS")
	runCtx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	if err := p.Run(runCtx); err != nil {
		return err
	}
	peak := rssKiB("VmHWM")
	var clips uint64
	var fps float64
	for _, st := range p.Streams() {
		clips += st.Clips
		fps += st.FPS
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(stdout, "streams %d for %s: %d clips\n", *streams, *dur, clips)
	fmt.Fprintf(stdout, "Go heap: %.1f MiB in use, %.1f MiB obtained from the OS (the rest of RSS is FFmpeg, ONNX Runtime and stacks)\n",
		float64(ms.HeapInuse)/(1<<20), float64(ms.HeapSys)/(1<<20))
	fmt.Fprintf(stdout, "peak RSS %.1f MiB (model loaded, before streams: %.1f MiB)\n", float64(peak)/1024, float64(baseline)/1024)
	fmt.Fprintf(stdout, "per stream: %.1f MiB of peak, %.1f MiB above the model baseline\n",
		float64(peak)/1024/float64(*streams), float64(peak-baseline)/1024/float64(*streams))
	return nil
}

// rssKiB reads a memory line (VmRSS, VmHWM) of /proc/self/status in KiB; 0 if unavailable.
func rssKiB(field string) int64 {
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
