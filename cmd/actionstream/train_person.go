package main

import (
	"context"
	"fmt"
	"io"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/person"
	"github.com/actionstream/actionstream/training/python"
)

// wantsTask reports whether args carry --task NAME (or --task=NAME).
func wantsTask(args []string, name string) bool {
	for i, a := range args {
		if a == "--task="+name || a == "-task="+name || (a == "--task" || a == "-task") && i+1 < len(args) && args[i+1] == name {
			return true
		}
	}
	return false
}

func cmdTrainFitPerson(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train fit --task person", "--data SYNTH --out RUN [--heldout SYNTH2] [flags]", `
Trains the small person detector of the RoI detection mode on the key frames of a
train synth --actors N directory (every actor is a person) and exports it in the YOLOX
format (RUN/person-detector.onnx); then scores it through the serving detector: box
precision and recall at IoU 0.5 on the test split and on --heldout (another seed).`, stderr)
	fs.String("task", "person", "person (this command)")
	o := person.FitOptions{}
	fs.StringVar(&o.Data, "data", "", "train synth directories, comma-separated: their train and val splits train (required)")
	fs.StringVar(&o.Out, "out", "", "run directory (required)")
	fs.StringVar(&o.Heldout, "heldout", "", "another train synth directory, scored in full")
	fs.IntVar(&o.Extract.Size, "crop", 112, "S: the action model's crop, the detector's input size")
	fs.IntVar(&o.Extract.ResizeShortSide, "resize", 0, "short side before the crop (0 = the crop)")
	fs.IntVar(&o.Extract.SamplingRate, "sampling-rate", 6, "τ: frames between the images taken from a video, counted at 30 fps")
	fs.IntVar(&o.Epochs, "epochs", 40, "epochs")
	fs.IntVar(&o.Batch, "batch", 32, "images per SGD step")
	fs.IntVar(&o.Width, "width", 16, "the network's base width")
	fs.IntVar(&o.Seed, "seed", 0, "random seed")
	fs.StringVar(&o.Strides, "strides", "", "the detection heads' strides in input pixels, finest first (\"\" = 8,16; 4,8 suits a 64-pixel crop)")
	o.Detector = infer.DefaultPersonDetectorConfig()
	fs.Float64Var(&o.Detector.ScoreThreshold, "score-threshold", o.Detector.ScoreThreshold, "the score threshold the exported detector is measured at")
	fs.Float64Var(&o.Detector.NMSIoU, "nms-iou", o.Detector.NMSIoU, "the NMS IoU it is measured at")
	threads := fs.Int("threads", 0, "torch CPU threads (0 = torch's default)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := parse(fs, args, "data", "out"); err != nil {
		return err
	}
	if !*quiet {
		o.Progress = stderr
	}
	o.Runtime.Threads = *threads
	r, err := python.New(ctx, python.Options{Threads: *threads, Stderr: stderr})
	if err != nil {
		return err
	}
	res, err := person.Fit(ctx, r, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "person detector %s: %d bytes, %d params, %d training images\n", res.Model, res.Bytes, res.Params, res.TrainImages)
	for _, m := range []struct {
		name string
		m    *person.Metrics
	}{{"test split", res.Test}, {"held-out " + o.Heldout, res.Heldout}} {
		if m.m != nil {
			fmt.Fprintf(stdout, "%s: %s\n", m.name, m.m)
		}
	}
	return nil
}
