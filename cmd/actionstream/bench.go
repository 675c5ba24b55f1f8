package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/infer/dwbench"
	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/pipeline/bench"
	"github.com/actionstream/actionstream/sink/outbox"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

func cmdBenchDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench decode", "--input FILE [flags]", "Our demux+decode+sample+convert path against `ffmpeg -threads 1 -f null`, both timed as whole processes, alternating.", stderr)
	input := fs.String("input", "", "video file (required)")
	crop := fs.Int("crop", 160, "S: the model's crop (X3D-S: 160)")
	cli.Alias(fs, "size", "crop")
	runs := fs.Int("runs", 5, "runs of each side; min, median and max are reported")
	asJSON := fs.Bool("json", false, "print JSON")
	pass := fs.Bool("pass", false, cli.Hidden) // the timed child: decode once, print the counts as JSON
	if err := cli.Parse(fs, args, "input"); err != nil {
		return err
	}
	if *pass {
		r, err := bench.DecodePass(ctx, *input, *crop)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary: %w", err)
	}
	r, err := bench.Decode(ctx, bench.DecodeOptions{Input: *input, Crop: *crop, Runs: *runs,
		Pass: []string{self, "bench", "decode", "--pass", "--input", *input, "--crop", strconv.Itoa(*crop)}})
	return show(stdout, r, err, *asJSON)
}

// show prints a result as one JSON line or as its text, unless err.
func show(w io.Writer, r interface{ WriteText(io.Writer) error }, err error, asJSON bool) error {
	switch {
	case err != nil:
		return err
	case asJSON:
		return json.NewEncoder(w).Encode(r)
	}
	return r.WriteText(w)
}

func cmdBenchRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench run", "--model M.onnx --input FILE [flags]", `
`+"`run`"+`'s wall time (a whole process, model load included) against the largest of: ffmpeg -threads 1
decoding the input, its clips at the raw ONNX Runtime rate, and (ffmpeg CPU + inference CPU) /
cores; all measured in the same rounds, in rotating order.`, stderr)
	var o bench.RunOptions
	fs.StringVar(&o.Model, "model", "", "ONNX model (required)")
	fs.StringVar(&o.Input, "input", "", "video file (required)")
	fs.IntVar(&o.Runs, "runs", 5, "rounds; min, median and max are reported")
	fs.IntVar(&o.Threads, "threads", 0, "run's --threads (0 = its rule: every core but the decoder's)")
	asJSON := fs.Bool("json", false, "print JSON")
	pass := fs.Bool("pass", false, cli.Hidden) // the raw child: time --clips raw model calls
	clips := fs.Int("clips", 0, cli.Hidden)    // with --pass
	if err := cli.Parse(fs, args, "model"); err != nil {
		return err
	}
	if *pass {
		r, err := bench.RawPass(ctx, o.Model, *clips, o.Threads)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	if o.Input == "" {
		fs.Usage()
		return cli.ErrUsage
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary: %w", err)
	}
	th := strconv.Itoa(o.Threads)
	o.Run = []string{self, "run", "--model", o.Model, "--input", o.Input, "--threads", th}
	o.Raw = []string{self, "bench", "run", "--pass", "--model", o.Model, "--threads", th}
	r, err := bench.Run(ctx, o)
	return show(stdout, r, err, *asJSON)
}

func cmdBenchDepthwise(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench dwconv", "[--model x3d-s.onnx] [flags]", `
X3D-S's channel-wise 3×3×3 convolution shapes, each run by ONNX Runtime's Conv (a one-node
model), by that model with infer/dwconv's custom op, by infer/dwconv directly on every SIMD path
this CPU has, and by oneDNN in a build with -tags dnnl; then --model end to end with each
depthwise kernel. Implementations alternate round by round.`, stderr)
	var o dwbench.Options
	fs.StringVar(&o.Model, "model", "", "model timed end to end (e.g. actionstream train export --arch x3d-s --out x3d-s.onnx)")
	fs.IntVar(&o.Threads, "threads", 0, "threads of every implementation (0 = one per core)")
	fs.IntVar(&o.Rounds, "rounds", 7, "alternating rounds; min, median and max are reported")
	fs.IntVar(&o.Calls, "calls", 3, "end-to-end model calls per kernel per round")
	batches := fs.String("batches", "1,4", "end-to-end batch sizes, comma-separated")
	fs.BoolVar(&o.Blocked, "dnnl-blocked", false, "also oneDNN with nCdhw8c/nCdhw16c forced on the two largest shapes (its slow reference code)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	for _, b := range strings.Split(*batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || n < 1 {
			return fmt.Errorf("--batches: %q is not a batch size", b)
		}
		o.Batches = append(o.Batches, n)
	}
	r, err := dwbench.Run(ctx, o)
	return show(stdout, r, err, *asJSON)
}

func cmdBenchInfer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench infer", "--model M.onnx [flags]", "Raw ONNX Runtime calls against the batcher path on the same model, batch and threads, in alternating runs.", stderr)
	var o bench.InferOptions
	fs.StringVar(&o.Model, "model", "", "ONNX model (required)")
	fs.IntVar(&o.Batch, "batch", 4, "clips per model call")
	fs.IntVar(&o.Threads, "threads", 0, "ONNX Runtime intra-op threads (0 = one per core)")
	fs.StringVar(&o.Provider, "provider", "cpu", "cpu, cuda or tensorrt")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "timed duration of each side, split over --runs")
	fs.IntVar(&o.Runs, "runs", 5, "runs of each side, alternating; min, median and max are reported")
	fs.BoolVar(&o.Spin, "spin", true, "let ONNX Runtime's threads spin between calls (false frees the cores for decoding)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cli.Parse(fs, args, "model"); err != nil {
		return err
	}
	r, err := bench.Infer(ctx, o)
	return show(stdout, r, err, *asJSON)
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
	if err := cli.Parse(fs, args, "model", "input"); err != nil {
		return err
	}
	r, err := bench.Memory(ctx, o)
	return show(stdout, r, err, *asJSON)
}

func cmdBenchStreams(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench streams", "--model M.onnx --input FILE [flags]", `
Serves N looping, paced copies of one file (each count in its own process, counts alternated
run by run) and reports per count the slowest stream's fps, CPU-seconds per stream-second and
stale drops, then cameras per core at real time.`, stderr)
	var o bench.StreamsOptions
	fs.StringVar(&o.Model, "model", "", "ONNX model (required)")
	fs.StringVar(&o.Input, "input", "", "video file, looped by every stream (required)")
	counts := fs.String("streams", "8,16", "comma-separated stream counts to alternate")
	fs.IntVar(&o.Runs, "runs", 3, "runs of each count; min, median and max are reported")
	fs.DurationVar(&o.Warmup, "warmup", 5*time.Second, "served before the measured window")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "the measured window of each run")
	fs.IntVar(&o.Threads, "threads", 0, "ONNX Runtime intra-op threads (0 = one per core)")
	fs.IntVar(&o.MaxPending, "max-pending", 0, "batcher.max_pending: clips per stream waiting for inference (0 = default 2; 1 = latest-wins)")
	asJSON := fs.Bool("json", false, "print JSON")
	pass := fs.Bool("pass", false, cli.Hidden) // one measured run in this process, JSON out
	if err := cli.Parse(fs, args, "model", "input"); err != nil {
		return err
	}
	if *pass {
		n, err := strconv.Atoi(*counts)
		if err != nil {
			return fmt.Errorf("--streams: %w", err)
		}
		r, err := bench.StreamsPass(ctx, o, n)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	for _, s := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--streams: %q is not a count", s)
		}
		o.Counts = append(o.Counts, n)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary: %w", err)
	}
	o.Pass = []string{self, "bench", "streams", "--pass", "--model", o.Model, "--input", o.Input,
		"--warmup", o.Warmup.String(), "--duration", o.Duration.String(), "--threads", strconv.Itoa(o.Threads), "--max-pending", strconv.Itoa(o.MaxPending)}
	r, err := bench.Streams(ctx, o)
	return show(stdout, r, err, *asJSON)
}

func cmdBenchOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench outbox", "[flags]", `
Append throughput of the durable event outbox per fsync policy, as the pipeline appends: one
appender, one reader acknowledging at once. Policies are alternated run by run.`, stderr)
	policies := fs.String("fsync", "always,64,100ms", "comma-separated fsync policies: always, a count, a duration")
	events := fs.Int("events", 6400, "events appended per run (a multiple of a count policy, whose stragglers wait up to 1 s)")
	size := fs.Int("event-bytes", 700, "bytes per event (a clip.scored event is about 700)")
	batch := fs.Int("per-append", 1, "events per append call (the pipeline appends one inference batch's events at once)")
	runs := fs.Int("runs", 5, "runs of each policy; min, median and max are reported")
	dir := fs.String("dir", "", "directory for the outboxes, on the disk to measure (default: the system's temporary directory)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var ps []outbox.SyncPolicy
	for _, s := range strings.Split(*policies, ",") {
		p, err := outbox.ParseSyncPolicy(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--fsync: %w", err)
		}
		ps = append(ps, p)
	}
	r, err := outbox.Compare(ctx, *dir, ps, outbox.BenchConfig{Events: *events, EventBytes: *size, Batch: *batch}, *runs)
	return show(stdout, r, err, *asJSON)
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
	if err := cli.Parse(fs, args); err != nil {
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
	return show(stdout, r, err, *asJSON)
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

func cmdBenchGate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench gate", "--model M.onnx [--input FILE] [flags]", `
Scores one input with motion gating off and on, alternating, each a one-shot pipeline; reports
inference time (summed model calls) and process CPU of each side. Default input: a still scene
with sensor noise, generated with ffmpeg.`, stderr)
	o := bench.GateOptions{Motion: configs.Default().Motion}
	fs.StringVar(&o.Model, "model", "", "ONNX model (required)")
	fs.StringVar(&o.Input, "input", "", "video to score (default: generate a still scene of --size, --seconds)")
	fs.StringVar(&o.Size, "size", "1280x720", "generated scene size WxH")
	fs.IntVar(&o.Seconds, "seconds", 20, "generated scene length")
	fs.IntVar(&o.Runs, "runs", 5, "runs of each side; min, median and max are reported")
	fs.IntVar(&o.Threads, "threads", 1, "ONNX Runtime intra-op threads (1: inference time is its CPU time)")
	fs.Float64Var(&o.Motion.Threshold, "threshold", o.Motion.Threshold, "motion.threshold of the gated side")
	fs.Float64Var(&o.Motion.NoiseFloor, "noise-floor", o.Motion.NoiseFloor, "motion.noise_floor of the gated side")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cli.Parse(fs, args, "model"); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "actionstream-bench-gate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	o.TempDir = tmp
	r, err := bench.Gate(ctx, o)
	return show(stdout, r, err, *asJSON)
}
