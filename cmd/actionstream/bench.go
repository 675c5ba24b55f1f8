package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/actionstream/actionstream/pipeline/bench"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

func cmdBenchDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench decode", "--input FILE [flags]", "Our demux+decode+sample+convert path against `ffmpeg -threads 1 -f null`, alternating runs.", stderr)
	input := fs.String("input", "", "video file (required)")
	crop := fs.Int("crop", 160, "S: the model's crop (X3D-S: 160)")
	alias(fs, "size", "crop")
	runs := fs.Int("runs", 3, "runs of each side; the median is reported")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args, "input"); err != nil {
		return err
	}
	r, err := bench.Decode(ctx, *input, *crop, *runs)
	if err != nil || *asJSON {
		return jsonLine(stdout, r, err)
	}
	fmt.Fprintf(stdout, "input            %s\n", r.Input)
	fmt.Fprintf(stdout, "ffmpeg -threads 1 %8.1f frames/s (%d frames, median of %d)\n", r.FFmpegFPS, r.FFmpegFrames, r.Runs)
	fmt.Fprintf(stdout, "actionstream      %8.1f frames/s (%d frames, %d converted, %d clips)\n", r.OursFPS, r.Frames, r.Converted, r.Clips)
	fmt.Fprintf(stdout, "ratio             %8.3f (target >= 0.9)\n", r.Ratio)
	return nil
}

// jsonLine prints v as one JSON line unless err.
func jsonLine(w io.Writer, v any, err error) error {
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(v)
}

func cmdBenchInfer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench infer", "--model M.onnx [flags]", "Raw ONNX Runtime calls against the batcher path on the same model, batch and threads.", stderr)
	var o bench.InferOptions
	fs.StringVar(&o.Model, "model", "", "ONNX model (required)")
	fs.IntVar(&o.Batch, "batch", 4, "clips per model call")
	fs.IntVar(&o.Threads, "threads", 0, "ONNX Runtime intra-op threads (0 = one per core)")
	fs.StringVar(&o.Provider, "provider", "cpu", "cpu, cuda or tensorrt")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "timed duration of each side")
	fs.BoolVar(&o.Spin, "spin", true, "let ONNX Runtime's threads spin between calls (false frees the cores for decoding)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args, "model"); err != nil {
		return err
	}
	r, err := bench.Infer(ctx, o)
	if err != nil || *asJSON {
		return jsonLine(stdout, r, err)
	}
	fmt.Fprintf(stdout, "model %s (%s), batch %d, threads %d\n", r.Model, r.Provider, r.Batch, r.Threads)
	fmt.Fprintf(stdout, "raw ONNX Runtime  %8.2f clips/s  (p50 %.1f ms, p99 %.1f ms per call)\n", r.RawClipsPerS, r.RawP50MS, r.RawP99MS)
	fmt.Fprintf(stdout, "batcher pipeline  %8.2f clips/s  (p50 %.1f ms, p99 %.1f ms per batch)\n", r.PipeClipsPerS, r.PipeP50MS, r.PipeP99MS)
	fmt.Fprintf(stdout, "ratio             %8.3f (target >= 0.9)\n", r.Ratio)
	return nil
}

func cmdBenchMemory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench memory", "--model M.onnx --input FILE [flags]", "Serves N looping, paced copies of one file; reports peak resident memory.", stderr)
	o := bench.MemoryOptions{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	fs.StringVar(&o.Model, "model", "", "ONNX model (required)")
	fs.StringVar(&o.Input, "input", "", "video file, looped by every stream (required)")
	fs.IntVar(&o.Streams, "streams", 8, "number of streams")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "how long to serve")
	fs.IntVar(&o.Threads, "threads", 0, "ONNX Runtime intra-op threads (0 = one per core)")
	fs.IntVar(&o.Batch, "batch", 8, "most clips per model call (ONNX Runtime's activation memory grows with it)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args, "model", "input"); err != nil {
		return err
	}
	r, err := bench.Memory(ctx, o)
	if err != nil || *asJSON {
		return jsonLine(stdout, r, err)
	}
	fmt.Fprintf(stdout, "streams %d for %s: %d clips\n", r.Streams, r.Duration, r.Clips)
	fmt.Fprintf(stdout, "Go heap: %.1f MiB in use, %.1f MiB obtained from the OS (the rest of RSS is FFmpeg, ONNX Runtime and stacks)\n", r.HeapInuseMiB, r.HeapSysMiB)
	fmt.Fprintf(stdout, "peak RSS %.1f MiB (model loaded, before streams: %.1f MiB)\n", r.PeakRSSMiB, r.BaselineMiB)
	fmt.Fprintf(stdout, "per stream: %.1f MiB of peak, %.1f MiB above the model baseline\n", r.PerStreamMiB, r.AboveBaseMiB)
	return nil
}

func cmdBenchWHIP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench whip", "[--model M.onnx | --arch NAME|SPEC.json] [flags]", `
A pion publisher on loopback sends a stream in real time; a clip's latency runs from the capture
of its last frame to its clip.scored line. The model alone (batch 1) is timed beside it.`, stderr)
	var o bench.WHIPOptions
	fs.StringVar(&o.Model, "model", "", "ONNX model (default: export --arch with random weights)")
	arch := fs.String("arch", "x3d-xs", "preset or spec JSON exported when --model is not given")
	fs.StringVar(&o.Input, "input", "", "Annex-B .h264 or VP8 .ivf to publish (default: generate --size at --fps with ffmpeg)")
	fs.StringVar(&o.Size, "size", "640x360", "generated video size WxH")
	fs.IntVar(&o.FPS, "fps", 30, "frame rate of the published stream")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "how long to publish")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "clips ending earlier than this are not counted")
	fs.IntVar(&o.Threads, "threads", 0, "ONNX Runtime intra-op threads (0 = one per core)")
	fs.DurationVar(&o.MaxWait, "max-wait", 0, "batcher max_wait (0 = the default config's)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "actionstream-bench-whip-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	o.TempDir = tmp
	if o.Model == "" {
		if o.Model, err = exportRandom(ctx, *arch, tmp); err != nil {
			return err
		}
	}
	r, err := bench.WHIP(ctx, o)
	if err != nil || *asJSON {
		return jsonLine(stdout, r, err)
	}
	fmt.Fprintf(stdout, "model             %s (%s), %d threads, %d CPUs\n", r.Model, r.Clip, r.Threads, r.CPUs)
	fmt.Fprintf(stdout, "stream            %s %s at %d fps for %gs over WHIP (loopback), %d frames\n", r.Codec, r.Input, r.FPS, r.DurationS, r.FramesSent)
	fmt.Fprintf(stdout, "glass-to-event    median %.1f ms, p99 %.1f ms (min %.1f, max %.1f) over %d clips\n",
		r.LatencyMedianMS, r.LatencyP99MS, r.LatencyMinMS, r.LatencyMaxMS, r.Clips)
	fmt.Fprintf(stdout, "inference alone   median %.1f ms, p99 %.1f ms (batch 1)\n", r.InferMedianMS, r.InferP99MS)
	return nil
}

// exportRandom writes a random-init model of arch (inference time does not depend on weights).
func exportRandom(ctx context.Context, arch, dir string) (string, error) {
	a, err := x3d.Load(arch, 10)
	if err != nil {
		return "", err
	}
	r, err := python.New(ctx, python.Options{})
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, a.Name+".onnx")
	if _, err := r.Export(ctx, python.ExportOptions{Arch: a, Out: out, Seed: 1}); err != nil {
		return "", fmt.Errorf("exporting %s: %w", a.Name, err)
	}
	return out, nil
}
