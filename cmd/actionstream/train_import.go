package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/importer"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

func cmdTrainImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("actionstream train import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ckpt := fs.String("checkpoint", "", "PyTorchVideo, SlowFast or MMAction2 X3D checkpoint (.pyth/.pt/.pth) (required)")
	scheme := fs.String("scheme", "", "key scheme: "+strings.Join(importer.Schemes(), ", ")+" (default: detected)")
	trust := fs.Bool("trust-checkpoint", false, "unpickle the file without restriction (a pickle can run code: only for files from a source you trust)")
	preset := fs.String("preset", "x3d-m", "the checkpoint's network: "+strings.Join(x3d.Presets(), ", "))
	labels := fs.String("labels", "", "class names, one per line in logit order (e.g. Kinetics-400) (required)")
	out := fs.String("out", "", "ONNX file to write (required)")
	name := fs.String("name", "", "model name (default: the preset's)")
	resize := fs.Int("resize", 0, "short side before the centre crop (0 = 8/7·crop)")
	trainedOn := fs.String("trained-on", "", "trained_on metadata (default: names the checkpoint)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: actionstream train import --checkpoint C --preset NAME --labels FILE --out M.onnx\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ckpt == "" || *labels == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	names, err := dataset.ReadLabelList(*labels)
	if err != nil {
		return err
	}
	arch, err := x3d.Preset(*preset, len(names))
	if err != nil {
		return err
	}
	r, err := python.New(ctx, python.Options{Stderr: stderr})
	if err != nil {
		return err
	}
	res, err := importer.Import(ctx, r, importer.Options{Checkpoint: *ckpt, Scheme: *scheme, TrustCheckpoint: *trust, Arch: arch, Labels: names,
		Out: *out, Name: *name, TrainedOn: *trainedOn, ResizeShortSide: *resize})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %s checkpoint (%d tensors) as %s: %s, %d bytes, %.2f GFLOPs, %d params\n", res.Scheme,
		res.Tensors, arch.Name, res.Model, res.Export.Bytes, float64(res.Arch.Cost().MACs)/1e9, res.Arch.Cost().Params)
	return nil
}
