package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/training/eval"
)

func cmdTrainEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train eval", "(--model M.onnx | --run DIR [--test-crop N]) --labels CSV [flags]", "", stderr)
	model := fs.String("model", "", "ONNX model of the contract (or --run)")
	run := fs.String("run", "", "train fit run directory: evaluates RUN/model.onnx, or with --test-crop a re-export of RUN/checkpoint.pt")
	testCrop := fs.Int("test-crop", 0, "with --run: export the network at this larger crop first (X3D tests at 8/7 of the training crop)")
	labels := fs.String("labels", "", "labels CSV (path,label,split) (required)")
	splits := fs.String("splits", "test", "comma-separated splits to evaluate")
	cli.Alias(fs, "split", "splits")
	clips := fs.Int("clips-per-video", 10, "K uniformly spaced clips of each video's serving grid")
	cli.Alias(fs, "clips", "clips-per-video")
	crops := fs.Int("crops", 1, "1 = centre crop (the serving view), 3 = left/centre/right along the long side at short side = crop")
	out := fs.String("out", "", "directory for eval.json and confusion.png (default: print only)")
	threads := fs.Int("threads", 0, "ONNX Runtime threads (0 = default)")
	provider := fs.String("provider", "cpu", "ONNX Runtime provider: cpu, cuda, tensorrt")
	batch := fs.Int("batch", 8, "clips per ONNX Runtime call")
	task := fs.String("task", "classification", "classification, detection (frame-mAP@0.5 on each clip's key frame) or events (detection model through run: events with the true actor's box and action, actors keeping one id)")
	boxes := fs.String("boxes", "", "detection, RoI model: where the boxes come from: true (the key frames' true boxes)")
	boxesFile := fs.String("boxes-file", "", "detection: the actors of every frame (default: boxes.jsonl beside --labels)")
	pd := infer.DefaultPersonDetectorConfig()
	fs.StringVar(&pd.Path, "person-detector", "", "detection, RoI model: boxes from this person detector ONNX model, run on each key frame")
	fs.StringVar(&pd.Format, "person-format", pd.Format, "the person detector's export: yolox or yolov8")
	fs.Float64Var(&pd.ScoreThreshold, "person-score", pd.ScoreThreshold, "the person detector's score threshold (detection.person_detector.score_threshold)")
	fs.Float64Var(&pd.NMSIoU, "person-nms", pd.NMSIoU, "the person detector's NMS IoU (detection.person_detector.nms_iou)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := cli.Parse(fs, args, "labels"); err != nil {
		return err
	}
	if *task != "classification" && *task != "detection" && *task != "events" {
		return fmt.Errorf("train eval: --task %q: want classification, detection or events", *task)
	}
	if (*model == "") == (*run == "") {
		fmt.Fprintln(stderr, "train eval: give one of --model and --run")
		return cli.ErrUsage
	}
	if *run != "" {
		*model = filepath.Join(*run, "model.onnx")
		if *testCrop > 0 {
			p, err := eval.ExportRunAtCrop(ctx, *run, *testCrop, stderr)
			if err != nil {
				return err
			}
			*model = p
		}
	}
	if *task == "events" {
		eo := eval.EventsOptions{Model: *model, Labels: *labels, Boxes: *boxesFile, Splits: strings.Split(*splits, ","),
			PersonDetector: pd, Threads: *threads}
		if !*quiet {
			eo.Progress = cli.Progress(stderr, "eval")
		}
		rep, err := eval.RunEvents(ctx, eo)
		if err != nil {
			return err
		}
		return rep.Report(stdout, *out)
	}
	rt, err := infer.NewRuntime(infer.Options{Threads: *threads, Provider: *provider})
	if err != nil {
		return err
	}
	defer rt.Close()
	if *task == "detection" {
		do := eval.DetectionOptions{Model: *model, Labels: *labels, Boxes: *boxesFile, Splits: strings.Split(*splits, ","),
			Clips: *clips, Batch: *batch, RoIBoxes: *boxes, PersonDetector: pd, Threads: *threads, Runtime: rt}
		if !*quiet {
			do.Progress = cli.Progress(stderr, "eval")
		}
		rep, err := eval.RunDetection(ctx, do)
		if err != nil {
			return err
		}
		return rep.Report(stdout, *out)
	}
	o := eval.Options{Model: *model, Labels: *labels, Splits: strings.Split(*splits, ","), Clips: *clips,
		Crops: *crops, Batch: *batch, Runtime: rt}
	if !*quiet {
		o.Progress = cli.Progress(stderr, "eval")
	}
	rep, err := eval.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := rep.WriteText(stdout, *splits); err != nil {
		return err
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		j, png := filepath.Join(*out, "eval.json"), filepath.Join(*out, "confusion.png")
		if err := rep.Write(j, png); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s, %s\n", j, png)
	}
	return nil
}
