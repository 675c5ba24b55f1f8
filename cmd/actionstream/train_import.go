package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/importer"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

func cmdTrainImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train import", "--checkpoint C --arch NAME|SPEC.json --classes FILE --out M.onnx [flags]", "", stderr)
	ckpt := fs.String("checkpoint", "", "PyTorchVideo, SlowFast or MMAction2 X3D checkpoint (.pyth/.pt/.pth) (required)")
	scheme := fs.String("scheme", "", "key scheme: "+strings.Join(importer.Schemes(), ", ")+" (default: detected)")
	arch := fs.String("arch", "x3d-m", "the checkpoint's network: preset ("+strings.Join(x3d.Presets(), ", ")+") or spec JSON file")
	cli.Alias(fs, "preset", "arch")
	classes := fs.String("classes", "", "class names in logit order (e.g. Kinetics-400): a file, one per line, or a comma-separated list (required)")
	cli.Alias(fs, "labels", "classes")
	trust := fs.Bool("trust-checkpoint", false, "unpickle the file without restriction (a pickle can run code: only for files from a source you trust)")
	out := fs.String("out", "", "ONNX file to write (required)")
	name := fs.String("name", "", "model name (default: the architecture's)")
	resize := fs.Int("resize", 0, "short side before the centre crop (0 = 8/7·crop)")
	trainedOn := fs.String("trained-on", "", "trained_on metadata (default: names the checkpoint)")
	fp16 := fs.Bool("fp16", false, "float16 weights and activations (float32 clip input and logits output)")
	if err := cli.Parse(fs, args, "checkpoint", "classes", "out"); err != nil {
		return err
	}
	names, err := dataset.ParseClasses(*classes)
	if err != nil {
		return err
	}
	a, err := x3d.Load(*arch, len(names))
	if err != nil {
		return err
	}
	r, err := python.New(ctx, python.Options{Stderr: stderr})
	if err != nil {
		return err
	}
	res, err := importer.Import(ctx, r, importer.Options{Checkpoint: *ckpt, Scheme: *scheme, TrustCheckpoint: *trust, Arch: a, Labels: names,
		Out: *out, Name: *name, TrainedOn: *trainedOn, ResizeShortSide: *resize, FP16: *fp16})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %s checkpoint (%d tensors) as %s: %s, %d bytes, %.2f GFLOPs, %d params\n", res.Scheme,
		res.Tensors, a.Name, res.Model, res.Export.Bytes, float64(res.Arch.Cost().MACs)/1e9, res.Arch.Cost().Params)
	return nil
}
