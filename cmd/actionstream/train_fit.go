package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/fit"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

func cmdTrainFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if wantsTask(args, "person") {
		return cmdTrainFitPerson(ctx, args, stdout, stderr)
	}
	fs := newFlags("train fit", "--data DIR --out DIR [--arch NAME|SPEC.json] [flags]", `
T, τ and the crop come from the dataset, the classes from its labels. A preset --arch takes
the factor overrides; a spec file is trained exactly as written.`, stderr)
	data := fs.String("data", "", "prepared dataset directory (train prepare) (required)")
	out := fs.String("out", "", "run directory: checkpoint.pt, metrics.json, curves.png, model.onnx (required)")
	arch := fs.String("arch", "x3d-xs", "preset ("+strings.Join(x3d.Presets(), ", ")+"), architecture spec JSON file, or an exported model.onnx (its architecture)")
	cli.Alias(fs, "preset", "arch")
	req := x3d.Request{}
	fs.Float64Var(&req.Width, "width", 0, "γw width multiplier (0 = the preset's)")
	fs.Float64Var(&req.Bottleneck, "bottleneck", 0, "γb bottleneck multiplier (0 = the preset's)")
	fs.Float64Var(&req.Depth, "depth", 0, "γd depth multiplier (0 = the preset's)")
	name := fs.String("name", "", "model name in the ONNX metadata and events (default: the architecture's)")
	epochs := fs.Int("epochs", fit.DefaultRecipe.Epochs, "epochs")
	recipe := recipeFlags(fs)
	singleFrame := fs.Int("single-frame", 0, "train a 1-frame network (X2D) on frame K (1-based) of each clip; -1 = a random frame")
	device := fs.String("device", "cpu", "cpu or cuda")
	resume := fs.Bool("resume", false, "continue from --out's checkpoint")
	val := fs.String("val-split", "val", "split evaluated after each epoch (- = none)")
	valEvery := fs.Int("val-every", 1, "evaluate the validation split every N epochs (and after the last)")
	threads := fs.Int("threads", 0, "torch CPU threads (0 = torch's default)")
	trainedOn := fs.String("trained-on", "", "trained_on metadata text (default: describes the dataset)")
	noExport := fs.Bool("no-export", false, "skip the ONNX export")
	task := fs.String("task", fit.TaskClassification, "classification, detection (single-stage head) or roi (RoI head; dataset from train prepare --boxes)")
	detStride := fs.Int("detection-stride", x3d.DefaultDetectionStride, "detection cell size in crop pixels: 4 (res2..res5), 8 (res3..res5) or 16 (res4, res5)")
	detCh := fs.Int("detection-channels", fit.DefaultDetectionChannels, "detection neck and head width")
	initRun := fs.String("init", "", "detection: start the backbone from this weights.pt (e.g. the single-stage run's, for roi) or model.onnx (its --arch)")
	featCache := fs.String("feature-cache", "", "with --freeze-backbone: keep and reuse the backbone features in this directory")
	freeze := fs.Bool("freeze-backbone", false, "detection: train only the neck and head on the --init backbone's features")
	roiNeg := fs.Int("roi-negatives", 0, "roi: background boxes per clip (IoU < 0.3 with every actor) trained to score no class")
	quiet := fs.Bool("quiet", false, "no progress bar")
	dryRun := fs.Bool("dry-run", false, "print the architecture JSON that would be trained and exit")
	if err := cli.Parse(fs, args, "data", "out"); err != nil {
		return err
	}
	ds, err := dataset.Open(*data)
	if err != nil {
		return err
	}
	ix := ds.Index
	req.Arch, req.NumClasses = *arch, len(ix.Labels)
	if x3d.IsPreset(*arch) {
		req.Frames, req.SamplingRate, req.TrainCrop = ix.Frames, ix.SamplingRate, ix.Size
		if *singleFrame != 0 {
			req.Frames = 1
		}
	}
	var a x3d.Arch
	if strings.HasSuffix(*arch, ".onnx") {
		// The architecture of an exported model (its backbone for --init).
		m, err := infer.ReadMetadata(*arch)
		if err != nil {
			return err
		}
		if a, err = x3d.ParseArch(m.Architecture); err != nil {
			return fmt.Errorf("%s: %w", *arch, err)
		}
	} else {
		archs, err := x3d.Resolve(req)
		if err != nil {
			return err
		}
		a = archs[0]
	}
	if a.Name == "custom" {
		a.Name = fmt.Sprintf("%s-t%d-s%d", *arch, a.Frames, a.CropSize)
	}
	if a, err = fit.WithTask(a, *task, *detCh, *detStride); err != nil {
		return err
	}
	if *dryRun {
		return printJSON(stdout, a)
	}
	rec, err := recipe(ix.Labels)
	if err != nil {
		return err
	}
	rec.Epochs, rec.SingleFrame = *epochs, *singleFrame
	r, err := python.New(ctx, python.Options{Threads: *threads, Stderr: stderr})
	if err != nil {
		return err
	}
	cost := a.Cost()
	fmt.Fprintf(stderr, "fit: %s (%.3f GFLOPs, %.2fM params), T=%d τ=%d S=%d, %d classes, device %s\n",
		a.Name, float64(cost.MACs)/1e9, float64(cost.Params)/1e6, a.Frames, a.SamplingRate, a.CropSize, a.NumClasses, *device)
	o := fit.Options{Arch: a, Data: *data, Out: *out, Name: *name, Recipe: rec, Device: *device,
		Resume: *resume, ValSplit: *val, ValEvery: *valEvery, TrainedOn: *trainedOn, NoExport: *noExport,
		Task: *task, DetectionChannels: *detCh, DetectionStride: *detStride, Init: *initRun, FreezeBackbone: *freeze, FeatureCache: *featCache, RoINegatives: *roiNeg}
	if !*quiet {
		o.Bar = stderr
	}
	res, err := fit.Fit(ctx, r, o)
	if err != nil {
		return err
	}
	m := res.Metrics
	fmt.Fprintf(stdout, "trained %s: %d epochs, %d train clips, %.1f clips/s on %s, %.0fs\n", m.Name, len(m.History),
		m.TrainClips, m.ClipsPerS, m.Device, m.Seconds)
	if m.ValMAP != nil {
		fmt.Fprintf(stdout, "val frame-mAP@0.5 %.2f%%\n", 100**m.ValMAP)
	} else if m.ValTop1 != nil {
		fmt.Fprintf(stdout, "val top-1 %.2f%%", 100**m.ValTop1)
		if m.ValTop5 != nil {
			fmt.Fprintf(stdout, ", top-5 %.2f%%", 100**m.ValTop5)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "metrics %s\ncurves  %s\n", res.MetricsPath, res.CurvesPath)
	if res.Model != "" {
		fmt.Fprintf(stdout, "model   %s\n", res.Model)
	}
	return nil
}

// recipeFlags registers the optimisation and augmentation flags that `train fit` and
// `train expand` share; the returned func builds the Recipe (Epochs left zero).
func recipeFlags(fs *flag.FlagSet) func(labels []string) (fit.Recipe, error) {
	d, r := fit.DefaultRecipe, &fit.RecipeFlags{}
	fs.IntVar(&r.Batch, "batch", d.Batch, "clips per SGD step")
	fs.Float64Var(&r.LR, "lr", d.LR, "peak learning rate (after the linear warm-up; cosine decay to --final-lr-frac·lr)")
	fs.Float64Var(&r.FinalLRFrac, "final-lr-frac", 0, "the cosine schedule's end as a fraction of --lr")
	fs.Float64Var(&r.Momentum, "momentum", d.Momentum, "SGD momentum")
	fs.Float64Var(&r.WeightDecay, "weight-decay", d.WeightDecay, "weight decay on conv/linear weights (none on BN and biases)")
	fs.Float64Var(&r.WarmupEpochs, "warmup", d.WarmupEpochs, "linear warm-up epochs (0 or negative = none)")
	fs.Float64Var(&r.Dropout, "dropout", 0, "dropout before the classifier (0 = the architecture's 0.5; negative = none)")
	fs.StringVar(&r.Jitter, "jitter", "", "short-side jitter range MIN,MAX in pixels, e.g. 160,182 (default: off, the serving crop)")
	fs.BoolVar(&r.Flip, "flip", false, "random horizontal flips (off by default: they swap left and right; see --flip-pairs)")
	fs.StringVar(&r.FlipPairs, "flip-pairs", "", "labels a horizontal flip swaps, e.g. move_left:move_right,rotate_cw:rotate_ccw")
	fs.BoolVar(&r.VFlip, "vflip", false, "random vertical flips (see --vflip-pairs)")
	fs.StringVar(&r.VFlipPairs, "vflip-pairs", "", "labels a vertical flip swaps, e.g. move_up:move_down,rotate_cw:rotate_ccw")
	fs.BoolVar(&r.Reverse, "reverse", false, "play half the clips backwards (see --reverse-pairs)")
	fs.StringVar(&r.ReversePairs, "reverse-pairs", "", "labels time reversal swaps, e.g. move_left:move_right,grow:shrink")
	fs.BoolVar(&r.SynthPairs, "synth-pairs", false, "the synthetic motion classes' pairs for --flip/--vflip/--reverse (when their -pairs flags are empty)")
	fs.Int64Var(&r.Seed, "seed", 0, "seed of initialisation, order and augmentation")
	return func(labels []string) (fit.Recipe, error) { return r.Build(labels) }
}
