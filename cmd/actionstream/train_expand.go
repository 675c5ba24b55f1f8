package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/actionstream/actionstream/training/expand"
	"github.com/actionstream/actionstream/training/fit"
	"github.com/actionstream/actionstream/training/x3d"
)

// expandTrainerConfig is what `train expand` hands to the fit trainer (newFitTrainer);
// each Candidate carries its network, schedule (Epochs) and directory.
type expandTrainerConfig struct {
	Data   string     // the dataset directory (--data)
	Labels []string   // class names, in label order
	Device string     // --device: cpu | cuda
	Recipe fit.Recipe // the shared recipe flags; each candidate's Epochs is its own
	Logger *slog.Logger
	Stderr io.Writer // for progress output
}

func cmdTrainExpand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("actionstream train expand", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "dataset directory (labels.csv, classes.txt); required unless --scorer synthetic")
	out := fs.String("out", "", "output directory: trajectory.json/.csv/.png and candidates/<key>/ (required)")
	target := fs.Float64("target-gflops", 0, "complexity to reach, GFLOPs = 1e9 multiply-adds per clip (required)")
	factor := fs.Float64("factor", 2, "c: each candidate expands one axis until the MACs grow by this factor")
	workers := fs.Int("workers", 1, "candidates trained at once")
	epochs := fs.Int("epochs", 1, "short training schedule of each candidate")
	finalEpochs := fs.Int("final-epochs", 0, "schedule of the contracted final model (0 = --epochs)")
	axesFlag := fs.String("axes", "", "comma-separated axes to expand (default all: "+axesList()+")")
	base := fs.String("base", "x2d", "starting network preset")
	numClasses := fs.Int("num-classes", 0, "classifier outputs (default: from the dataset's classes)")
	tolerance := fs.Float64("tolerance", 0.05, "the contracted model must be within this fraction of the target")
	scorer := fs.String("scorer", "fit", "fit: train candidates with the PyTorch trainer; synthetic: dry run with a fixed accuracy function of the factors (tests the search only)")
	device := fs.String("device", "cpu", "training device for the fit scorer: cpu | cuda")
	recipe := recipeFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: actionstream train expand --data DIR --target-gflops X --out DIR [flags]

The X3D paper's progressive expansion: from X2D, each step expands every axis by the factor c
(one candidate per axis), trains the candidates briefly, keeps the best accuracy gain per
log-GFLOPs, repeats until the target is passed, then contracts the last expanded axis to the
target (within --tolerance) and trains that model. Rerunning with the same --out resumes:
finished candidates are not trained again.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *target <= 0 || fs.NArg() > 0 || (*scorer != "fit" && *scorer != "synthetic") {
		fs.Usage()
		return errUsage
	}
	if *scorer == "fit" && *data == "" {
		fmt.Fprintln(stderr, "train expand: --data is required with --scorer fit")
		return errUsage
	}
	baseF, err := x3d.PresetFactors(*base)
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
	var labels []string
	if *data != "" {
		if labels, err = datasetClasses(*data); err != nil {
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

	var tr expand.Trainer
	switch *scorer {
	case "synthetic":
		tr = expand.Synthetic()
	default:
		rec, err := recipe(labels)
		if err != nil {
			return err
		}
		if tr, err = newFitTrainer(ctx, expandTrainerConfig{Data: *data, Labels: labels, Device: *device, Recipe: rec, Logger: logger, Stderr: stderr}); err != nil {
			return fmt.Errorf("train expand: %w", err)
		}
	}
	tj, err := expand.Run(ctx, expand.Config{
		Out: *out, NumClasses: n, TargetMACs: int64(*target * 1e9), Base: baseF, Factor: *factor, Axes: axes,
		Epochs: *epochs, FinalEpochs: *finalEpochs, Workers: *workers, Tolerance: *tolerance, Logger: logger,
	}, tr)
	if err != nil {
		return err
	}
	printTrajectory(stdout, tj, *out)
	return nil
}

func axesList() string {
	var s []string
	for _, a := range x3d.Axes() {
		s = append(s, string(a))
	}
	return strings.Join(s, ",")
}

// datasetClasses reads the label order: classes.txt when present, else the sorted distinct
// labels of labels.csv (multi-actor labels "a|b" count each part).
func datasetClasses(dir string) ([]string, error) {
	if f, err := os.Open(filepath.Join(dir, "classes.txt")); err == nil {
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				out = append(out, s)
			}
		}
		return out, sc.Err()
	}
	f, err := os.Open(filepath.Join(dir, "labels.csv"))
	if err != nil {
		return nil, fmt.Errorf("dataset %s: neither classes.txt nor labels.csv: %w", dir, err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("dataset %s: labels.csv: %w", dir, err)
	}
	col := -1
	if len(rows) > 0 {
		col = slices.Index(rows[0], "label")
	}
	if col < 0 {
		return nil, fmt.Errorf("dataset %s: labels.csv has no label column", dir)
	}
	var out []string
	for _, r := range rows[1:] {
		for _, l := range strings.Split(r[col], "|") {
			if l != "" && !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func printTrajectory(w io.Writer, tj expand.Trajectory, out string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\taxis\tT×τ\tcrop\twidth\tbottleneck\tdepth\tGFLOPs\taccuracy")
	row := func(step, axis string, p expand.Point) {
		f := p.Factors
		fmt.Fprintf(tw, "%s\t%s\t%d×%d\t%d\t%g\t%g\t%g\t%.4g\t%.4f\n", step, axis, f.Frames, f.SamplingRate, f.Crop,
			f.Width, f.Bottleneck, f.Depth, p.GFLOPs, p.Result.Accuracy)
	}
	for i, p := range tj.Path {
		axis := string(p.Axis)
		if i == 0 {
			axis = "(base)"
		}
		row(fmt.Sprint(i), axis, p)
	}
	if c := tj.Contraction; c != nil {
		note := ""
		if !c.WithinTolerance {
			note = " (outside tolerance)"
		}
		row("final", "-"+string(c.Axis)+note, c.Final)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nwrote %s, %s, %s\n", filepath.Join(out, expand.TrajectoryJSON), filepath.Join(out, expand.TrajectoryCSV), filepath.Join(out, expand.TrajectoryPNG))
}
