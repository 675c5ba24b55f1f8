package main

import (
	"context"
	"fmt"
	"io"
)

// trainSub is one `actionstream train` subcommand; each lives in its own train_<name>.go.
type trainSub struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func trainSubs() []trainSub {
	return []trainSub{
		{"synth", "generate the synthetic motion dataset (videos + labels.csv + boxes.jsonl)", cmdTrainSynth},
		{"prepare", "decode a labelled video folder into a dataset the trainer reads", cmdTrainPrepare},
		{"fit", "train a preset or any expansion factors, export ONNX", cmdTrainFit},
		{"eval", "top-1/top-5 through ONNX Runtime with the paper's test protocols", cmdTrainEval},
		{"expand", "the paper's progressive expansion search from X2D to a GFLOPs target", cmdTrainExpand},
		{"import", "convert public X3D checkpoints (PyTorchVideo, SlowFast, MMAction2) to our model contract", cmdTrainImport},
		{"export", "export a preset, custom factors or a checkpoint to an ONNX model of our contract", cmdTrainExport},
	}
}

func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		trainUsage(stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		trainUsage(stdout)
		return nil
	}
	for _, s := range trainSubs() {
		if s.name == args[0] {
			return s.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "actionstream train: unknown subcommand %q\n\n", args[0])
	trainUsage(stderr)
	return errUsage
}

func trainUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: actionstream train <subcommand> [flags]   (each takes -h)\n\nsubcommands:")
	for _, s := range trainSubs() {
		fmt.Fprintf(w, "  %-8s %s\n", s.name, s.summary)
	}
}
