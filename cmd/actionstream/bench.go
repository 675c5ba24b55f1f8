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
// on the same file, alternating runs so both see the same machine state.
func benchDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "video file (required)")
	size := fs.Int("size", 160, "model crop size S (X3D-S: 160)")
	runs := fs.Int("runs", 3, "runs of each side; the median is reported")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil || *input == "" || *runs < 1 {
		if err == nil {
			fs.Usage()
		}
		return errUsage
	}
	var ours, ref []decode.BenchResult
	for i := 0; i < *runs; i++ {
		r, err := decode.BenchFFmpeg(ctx, *input)
		if err != nil {
			return fmt.Errorf("ffmpeg reference: %w", err)
		}
		ref = append(ref, r)
		o, err := decode.BenchFile(ctx, *input, decode.Config{Size: *size, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil)
		if err != nil {
			return err
		}
		ours = append(ours, o)
	}
	mo, mr := medianFPS(ours), medianFPS(ref)
	res := map[string]any{"input": *input, "runs": *runs, "ours_fps": mo.FPS, "ffmpeg_fps": mr.FPS, "ratio": mo.FPS / mr.FPS,
		"frames": mo.Frames, "ffmpeg_frames": mr.Frames, "converted": mo.Converted, "clips": mo.Clips, "errors": mo.Errors}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "input            %s\n", *input)
	fmt.Fprintf(stdout, "ffmpeg -threads 1 %8.1f frames/s (%d frames, median of %d)\n", mr.FPS, mr.Frames, *runs)
	fmt.Fprintf(stdout, "actionstream      %8.1f frames/s (%d frames, %d converted, %d clips)\n", mo.FPS, mo.Frames, mo.Converted, mo.Clips)
	fmt.Fprintf(stdout, "ratio             %8.3f (target >= 0.9)\n", mo.FPS/mr.FPS)
	return nil
}

func medianFPS(rs []decode.BenchResult) decode.BenchResult {
	s := append([]decode.BenchResult(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].FPS < s[j].FPS })
	return s[len(s)/2]
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
	piped, err := infer.MeasureBatcher(ctx, m, infer.BatcherConfig{MaxBatch: *batch, MaxWait: configs.Duration(50 * time.Millisecond), Logger: quiet}, 2**batch, opts)
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
