package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/eval"
	"github.com/actionstream/actionstream/training/fit"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

// cmdTrainExport exports a trained checkpoint (train fit's run directory, or one trained
// elsewhere with the embedded trainer), or an untrained network, to an ONNX model of the
// contract, optionally at another crop (fully convolutional; the head's pool keeps its
// training size), e.g. the larger test crop for train eval.
func cmdTrainExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train export", "(--run DIR | --arch NAME|SPEC.json [--checkpoint C]) --out M.onnx [flags]", `
With --run or --checkpoint the trained weights are exported; with --arch alone the network
is exported untrained (random-init weights, --seed).`, stderr)
	run := fs.String("run", "", "train fit run directory (arch.json, checkpoint.pt, metrics.json)")
	arch := fs.String("arch", "", "preset ("+strings.Join(x3d.Presets(), ", ")+") or architecture spec JSON file (default: RUN/arch.json)")
	cli.Alias(fs, "preset", "arch")
	numClasses := fs.Int("num-classes", 400, "classifier outputs of a preset (default: the --classes count)")
	classes := fs.String("classes", "", "class names in logit order: a file, one per line, or a comma-separated list (default: the run's)")
	cli.Alias(fs, "labels", "classes")
	seed := fs.Int64("seed", 0, "untrained: initialisation seed")
	ckpt := fs.String("checkpoint", "", "checkpoint (default: RUN/checkpoint.pt)")
	out := fs.String("out", "", "ONNX file to write (required)")
	name := fs.String("name", "", "model name (default: the run's)")
	crop := fs.Int("crop", 0, "export at this crop instead of the training crop (0 = training crop)")
	resize := fs.Int("resize", 0, "resize_short_side metadata (0 = 8/7·crop)")
	mean := fs.String("mean", "0.45,0.45,0.45", "RGB mean metadata")
	std := fs.String("std", "0.225,0.225,0.225", "RGB std metadata")
	trainedOn := fs.String("trained-on", "", "trained_on metadata (default: the run's dataset)")
	fp16 := fs.Bool("fp16", false, "float16 weights and activations (float32 clip input and logits output)")
	from := fs.String("from", "", "with --fp16: convert this exported float32 model instead of exporting a network")
	if err := cli.Parse(fs, args, "out"); err != nil {
		return err
	}
	if *from != "" {
		return exportFP16From(ctx, *from, *out, *fp16, stdout, stderr)
	}
	if *run == "" && *arch == "" {
		fmt.Fprintln(stderr, "train export: give --run or --arch")
		return cli.ErrUsage
	}
	var labels []string
	var err error
	if n, err := strconv.Atoi(*classes); err == nil {
		fmt.Fprintln(stderr, "actionstream: --classes N is deprecated; use --num-classes N")
		*numClasses, *classes = n, ""
	}
	if *classes != "" {
		if labels, err = dataset.ParseClasses(*classes); err != nil {
			return err
		}
		*numClasses = len(labels)
	}
	untrained := *run == "" && *ckpt == ""
	if *arch == "" {
		*arch = filepath.Join(*run, "arch.json")
	}
	if *ckpt == "" && *run != "" {
		*ckpt = filepath.Join(*run, "checkpoint.pt")
	}
	a, err := x3d.Load(*arch, *numClasses)
	if err != nil {
		return err
	}
	if *crop > 0 && *crop != a.CropSize && a.Detection != nil {
		return fmt.Errorf("train export: --crop: a detection network exports at its training crop %d (the grid is fixed)", a.CropSize)
	}
	if *crop > 0 && *crop != a.CropSize {
		if a, err = eval.AtCrop(a, *crop); err != nil {
			return err
		}
	}
	o := python.ExportOptions{Arch: a, Out: *out, Labels: labels, Name: *name, ResizeShortSide: *resize, Seed: *seed, FP16: *fp16}
	if o.Mean, err = parseTriple(*mean); err != nil {
		return fmt.Errorf("--mean: %w", err)
	}
	if o.Std, err = parseTriple(*std); err != nil {
		return fmt.Errorf("--std: %w", err)
	}
	if !untrained {
		o.Checkpoint = *ckpt
		if err := fit.FillExportFromRun(*run, &o, *trainedOn); err != nil {
			return err
		}
	}
	r, err := python.New(ctx, python.Options{Stderr: stderr})
	if err != nil {
		return err
	}
	res, err := r.Export(ctx, o)
	if err != nil {
		return err
	}
	what := map[bool]string{true: "untrained " + a.Name, false: "trained " + a.Name}[untrained]
	if *fp16 {
		what += ", fp16"
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes, %s, crop %d, %.3f GFLOPs)\n", res.Path, res.Bytes, what, a.CropSize, float64(res.MACs)/1e9)
	return nil
}

func exportFP16From(ctx context.Context, from, out string, fp16 bool, stdout, stderr io.Writer) error {
	if !fp16 {
		fmt.Fprintln(stderr, "train export: --from converts to fp16: give --fp16")
		return cli.ErrUsage
	}
	if _, err := infer.ReadMetadata(from); err != nil { // a clear contract error before Python's
		return err
	}
	r, err := python.New(ctx, python.Options{Stderr: stderr})
	if err != nil {
		return err
	}
	if err := r.ConvertFP16(ctx, from, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s in fp16)\n", out, from)
	return nil
}
