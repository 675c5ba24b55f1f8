package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

// cmdTrainExport exports a trained checkpoint (train fit's run directory, or a
// checkpoint trained elsewhere with the embedded trainer) to an ONNX model of the
// contract, optionally at another crop (the network is fully convolutional; the
// head's pool keeps its training size), e.g. the larger test crop for train eval.
func cmdTrainExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("actionstream train export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	run := fs.String("run", "", "train fit run directory (arch.json, checkpoint.pt, metrics.json)")
	archFile := fs.String("arch", "", "architecture JSON (default: RUN/arch.json)")
	preset := fs.String("preset", "", "export this preset untrained (random-init weights, --seed) instead of a checkpoint")
	classes := fs.Int("classes", 400, "with --preset: classifier outputs (or the --labels count)")
	seed := fs.Int64("seed", 0, "with --preset: initialisation seed")
	ckpt := fs.String("checkpoint", "", "checkpoint (default: RUN/checkpoint.pt)")
	out := fs.String("out", "", "ONNX file to write (required)")
	labelsFile := fs.String("labels", "", "label file, one per line (default: the run's metrics.json labels)")
	name := fs.String("name", "", "model name (default: the run's)")
	crop := fs.Int("crop", 0, "export at this crop instead of the training crop (0 = training crop)")
	resize := fs.Int("resize", 0, "resize_short_side metadata (0 = 8/7·crop)")
	mean := fs.String("mean", "0.45,0.45,0.45", "RGB mean metadata")
	std := fs.String("std", "0.225,0.225,0.225", "RGB std metadata")
	trainedOn := fs.String("trained-on", "", "trained_on metadata (default: the run's dataset)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: actionstream train export --run DIR --out M.onnx [--crop N] [flags]\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || (*run == "" && *preset == "" && (*archFile == "" || *ckpt == "")) || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if *preset != "" {
		return exportUntrained(ctx, *preset, *classes, *labelsFile, *name, *out, *crop, *resize, *seed, stdout, stderr)
	}
	if *archFile == "" {
		*archFile = *run + "/arch.json"
	}
	if *ckpt == "" {
		*ckpt = *run + "/checkpoint.pt"
	}
	b, err := os.ReadFile(*archFile)
	if err != nil {
		return err
	}
	arch, err := x3d.ParseArch(b)
	if err != nil {
		return err
	}
	var runMeta struct {
		Name   string   `json:"name"`
		Labels []string `json:"labels"`
		Data   string   `json:"data"`
		Train  int      `json:"train_clips"`
	}
	if *run != "" {
		if b, err := os.ReadFile(*run + "/metrics.json"); err == nil {
			_ = json.Unmarshal(b, &runMeta)
		}
	}
	labels := runMeta.Labels
	if *labelsFile != "" {
		if labels, err = dataset.ReadLabelList(*labelsFile); err != nil {
			return err
		}
	}
	if *name == "" {
		*name = runMeta.Name
	}
	if *trainedOn == "" && runMeta.Data != "" {
		*trainedOn = fmt.Sprintf("%s (%d train clips)", runMeta.Data, runMeta.Train)
	}
	if *trainedOn == "" {
		return fmt.Errorf("--trained-on is required without a run's metrics.json")
	}
	if *crop > 0 && *crop != arch.CropSize {
		if arch, err = AtCrop(arch, *crop); err != nil {
			return err
		}
	}
	o := python.ExportOptions{Arch: arch, Out: *out, Labels: labels, Name: *name, Checkpoint: *ckpt,
		TrainedOn: *trainedOn, ResizeShortSide: *resize}
	if o.Mean, err = parseTriple(*mean); err != nil {
		return err
	}
	if o.Std, err = parseTriple(*std); err != nil {
		return err
	}
	r, err := python.New(ctx, python.Options{Stderr: stderr})
	if err != nil {
		return err
	}
	res, err := r.Export(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes, crop %d, %.3f GFLOPs)\n", res.Path, res.Bytes, arch.CropSize, float64(res.MACs)/1e9)
	return nil
}

// exportUntrained writes an untrained preset (the reference initialisation) as an ONNX model.
func exportUntrained(ctx context.Context, preset string, classes int, labelsFile, name, out string, crop, resize int, seed int64, stdout, stderr io.Writer) error {
	var labels []string
	if labelsFile != "" {
		var err error
		if labels, err = dataset.ReadLabelList(labelsFile); err != nil {
			return err
		}
		classes = len(labels)
	}
	arch, err := x3d.Preset(preset, classes)
	if err != nil {
		return err
	}
	if crop > 0 && crop != arch.CropSize {
		if arch, err = AtCrop(arch, crop); err != nil {
			return err
		}
	}
	r, err := python.New(ctx, python.Options{Stderr: stderr})
	if err != nil {
		return err
	}
	res, err := r.Export(ctx, python.ExportOptions{Arch: arch, Out: out, Labels: labels, Name: name, Seed: seed, ResizeShortSide: resize})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes, untrained %s, crop %d, %.3f GFLOPs)\n", res.Path, res.Bytes, arch.Name, arch.CropSize, float64(res.MACs)/1e9)
	return nil
}
