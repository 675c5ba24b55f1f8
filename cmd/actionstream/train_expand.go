package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/expand"
	"github.com/actionstream/actionstream/training/fit"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

func cmdTrainExpand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train expand", "--data DIR --target-gflops X --out DIR [flags]", `
The X3D paper's progressive expansion: from X2D, each step expands every axis by the factor c
(one candidate per axis), trains the candidates briefly, keeps the best accuracy gain per
log-GFLOPs, repeats until the target is passed, then contracts the last expanded axis to the
target (within --tolerance) and trains that model. Rerunning with the same --out resumes:
finished candidates are not trained again.`, stderr)
	data := fs.String("data", "", "labelled video folder (labels.csv, optional classes.txt); required unless --scorer synthetic")
	out := fs.String("out", "", "output directory: trajectory.json/.csv/.png and candidates/<key>/ (required)")
	target := fs.Float64("target-gflops", 0, "complexity to reach, GFLOPs = 1e9 multiply-adds per clip (required)")
	factor := fs.Float64("factor", 2, "c: each candidate expands one axis until the MACs grow by this factor")
	workers := fs.Int("workers", 1, "candidates trained at once")
	epochs := fs.Int("epochs", 1, "short training schedule of each candidate")
	finalEpochs := fs.Int("final-epochs", 0, "schedule of the contracted final model (0 = --epochs)")
	axesFlag := fs.String("axes", "", "comma-separated axes to expand (default all: "+axesList()+")")
	arch := fs.String("arch", "x2d", "starting network: preset or architecture spec JSON file (its factors)")
	cli.Alias(fs, "base", "arch")
	numClasses := fs.Int("num-classes", 0, "classifier outputs (default: the dataset's label count)")
	tolerance := fs.Float64("tolerance", 0.05, "the contracted model must be within this fraction of the target")
	scorer := fs.String("scorer", "fit", "fit: train candidates with the PyTorch trainer; synthetic: dry run with a fixed accuracy function of the factors (tests the search only)")
	device := fs.String("device", "cpu", "training device for the fit scorer: cpu | cuda")
	recipe := recipeFlags(fs)
	if err := cli.Parse(fs, args, "out", "target-gflops"); err != nil {
		return err
	}
	if *target <= 0 || (*scorer != "fit" && *scorer != "synthetic") || (*scorer == "fit" && *data == "") {
		fmt.Fprintln(stderr, "train expand: need --target-gflops > 0, --scorer fit|synthetic, and --data with --scorer fit")
		return cli.ErrUsage
	}
	base, err := x3d.Load(*arch, 400)
	if err != nil {
		return err
	}
	var axes []x3d.Axis
	for _, s := range strings.Split(*axesFlag, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		a, err := x3d.ParseAxis(s)
		if err != nil {
			return err
		}
		axes = append(axes, a)
	}
	labelsCSV := filepath.Join(*data, "labels.csv")
	var labels []string
	if *data != "" {
		if labels, err = dataset.LabelOrder(labelsCSV, ""); err != nil {
			return err
		}
	}
	n := *numClasses
	if n == 0 {
		n = len(labels)
	}
	if n == 0 {
		n = 400 // a dry run without a dataset counts Kinetics' classifier, as the paper does
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tr := expand.Synthetic()
	if *scorer == "fit" {
		rec, err := recipe(labels)
		if err != nil {
			return err
		}
		r, err := python.New(ctx, python.Options{Stderr: stderr, Logger: logger})
		if err != nil {
			return fmt.Errorf("train expand: %w", err)
		}
		// Each candidate's clip geometry is prepared from the videos (cached in DATA/prepared/).
		tr = &fit.ExpandTrainer{Runner: r, Labels: labelsCSV, Classes: labels, DataDir: filepath.Join(*data, "prepared"),
			Recipe: rec, Device: *device, ClipsPerVideo: 4, Logger: logger}
	}
	tj, err := expand.Run(ctx, expand.Config{
		Out: *out, NumClasses: n, TargetMACs: int64(*target * 1e9), Base: base.Factors, Factor: *factor, Axes: axes,
		Epochs: *epochs, FinalEpochs: *finalEpochs, Workers: *workers, Tolerance: *tolerance, Logger: logger,
	}, tr)
	if err != nil {
		return err
	}
	if err := expand.WriteTable(stdout, tj); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "\nwrote %s, %s, %s\n", filepath.Join(*out, expand.TrajectoryJSON), filepath.Join(*out, expand.TrajectoryCSV), filepath.Join(*out, expand.TrajectoryPNG))
	return err
}
