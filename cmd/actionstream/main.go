// Command actionstream is the one binary: live X3D action recognition (serve, run), model
// inspection (model), training (train) and benchmarks (bench). Only flags and calls live here.
package main

import (
	"context"
	"flag"
	_ "github.com/actionstream/actionstream/internal/thp/restart" // huge pages for the arenas: a tenth of run's CPU was page faults
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/actionstream/actionstream/internal/cli"
)

func commands() []cli.Command {
	return []cli.Command{
		{Name: "serve", Summary: "run the streaming daemon from a config file", Run: cmdServe},
		{Name: "cameras", Summary: "the cluster's cameras topic", Subs: []cli.Command{
			{Name: "add", Summary: "add a camera record (cluster mode)", Run: cmdCameras("add")},
			{Name: "update", Summary: "replace a camera record", Run: cmdCameras("update")},
			{Name: "remove", Summary: "remove a camera (tombstone)", Run: cmdCameras("remove")},
			{Name: "list", Summary: "list the camera records", Run: cmdCameras("list")},
		}},
		{Name: "run", Summary: "one-shot: score one input with one model, print JSON lines", Run: cmdRun},
		{Name: "model", Summary: "inspect X3D networks and model files", Subs: []cli.Command{
			{Name: "info", Summary: "costs of the presets or one network (--arch), or a model file's metadata", Run: cmdModelInfo},
		}},
		{Name: "train", Summary: "make models", Subs: []cli.Command{
			{Name: "synth", Summary: "generate the synthetic motion dataset (videos + labels.csv + boxes.jsonl)", Run: cmdTrainSynth},
			{Name: "prepare", Summary: "decode a labelled video folder into a dataset the trainer reads", Run: cmdTrainPrepare},
			{Name: "fit", Summary: "train a preset, factor overrides or a spec file, export ONNX", Run: cmdTrainFit},
			{Name: "eval", Summary: "top-1/top-5 through ONNX Runtime with the paper's test protocols", Run: cmdTrainEval},
			{Name: "expand", Summary: "the paper's progressive expansion search from X2D to a GFLOPs target", Run: cmdTrainExpand},
			{Name: "import", Summary: "convert public X3D checkpoints (PyTorchVideo, SlowFast) to our model contract", Run: cmdTrainImport},
			{Name: "export", Summary: "export a network (untrained) or a checkpoint to an ONNX model of our contract", Run: cmdTrainExport},
		}},
		{Name: "bench", Summary: "benchmarks", Subs: []cli.Command{
			{Name: "decode", Summary: "our decode path against ffmpeg -threads 1", Run: cmdBenchDecode},
			{Name: "dwconv", Summary: "X3D's depthwise 3-D convolutions: ONNX Runtime, oneDNN, infer/dwconv", Run: cmdBenchDepthwise},
			{Name: "infer", Summary: "raw ONNX Runtime against the batcher", Run: cmdBenchInfer},
			{Name: "run", Summary: "run's wall time against the machine's bound (decode, inference, CPU)", Run: cmdBenchRun},
			{Name: "memory", Summary: "peak resident memory per served stream", Run: cmdBenchMemory},
			{Name: "streams", Summary: "cameras per core: N looping streams at real time, CPU and stale drops", Run: cmdBenchStreams},
			{Name: "outbox", Summary: "durable outbox append throughput per fsync policy", Run: cmdBenchOutbox},
			{Name: "whip", Summary: "glass-to-event latency over WHIP on loopback", Run: cmdBenchWHIP},
			{Name: "gate", Summary: "inference CPU with motion gating on a still scene against scoring every clip", Run: cmdBenchGate},
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Main(ctx, "actionstream", commands(), args, stdout, stderr)
}

// newFlags is a subcommand's flag set, named as the user types it.
func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlags("actionstream "+name, synopsis, about, stderr)
}

func parse(fs *flag.FlagSet, args []string, required ...string) error {
	return cli.Parse(fs, args, required...)
}
