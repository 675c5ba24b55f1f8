package eval

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

// ExportRunAtCrop re-exports a `train fit` run's checkpoint at another test crop (the
// fully-convolutional protocol), next to its model as model-crop<N>.onnx, and returns its path.
// stderr receives the trainer's output.
func ExportRunAtCrop(ctx context.Context, run string, crop int, stderr io.Writer) (string, error) {
	meta, err := infer.ReadMetadata(filepath.Join(run, "model.onnx"))
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(run, "arch.json"))
	if err != nil {
		return "", err
	}
	arch, err := x3d.ParseArch(b)
	if err != nil {
		return "", err
	}
	if arch, err = AtCrop(arch, crop); err != nil {
		return "", err
	}
	r, err := python.New(ctx, python.Options{Stderr: stderr})
	if err != nil {
		return "", err
	}
	out := filepath.Join(run, fmt.Sprintf("model-crop%d.onnx", crop))
	_, err = r.Export(ctx, python.ExportOptions{Arch: arch, Out: out, Labels: meta.Labels, Name: meta.Name,
		Checkpoint: filepath.Join(run, "checkpoint.pt"), TrainedOn: meta.TrainedOn, ResizeShortSide: crop,
		Mean: meta.Mean, Std: meta.Std, Score: meta.Score})
	return out, err
}

// WriteText prints the report: the protocol, top-1/top-5, and top-1 per class with videos.
func (r Report) WriteText(w io.Writer, splits string) error {
	if _, err := fmt.Fprintf(w, "%s on %s (%s): %d videos, %d views\ntop-1 %.2f%%  top-5 %.2f%%\n",
		r.ModelName, splits, r.Protocol, r.Videos, r.Views, 100*r.Top1, 100*r.Top5); err != nil {
		return err
	}
	for _, c := range r.PerClass {
		if c.Videos > 0 {
			if _, err := fmt.Fprintf(w, "  %-14s %5.1f%%  (%d videos)\n", c.Label, 100*c.Top1, c.Videos); err != nil {
				return err
			}
		}
	}
	return nil
}
