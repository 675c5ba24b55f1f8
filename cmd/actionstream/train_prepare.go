package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/training/dataset"
)

func cmdTrainPrepare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train prepare", "--labels CSV --out DIR [--model M.onnx | --frames T --sampling-rate τ --crop S ...]", `
Decodes every listed video through the server's decode + clipper path and stores its clips
(uint8 + the decoder's float table; see docs/TRAINING.md).`, stderr)
	labels := fs.String("labels", "", "labels CSV with columns path,label[,split]; paths relative to it (required)")
	out := fs.String("out", "", "dataset directory to write (required)")
	model := fs.String("model", "", "take T, τ, crop, resize, mean, std and the label order from this ONNX model's metadata")
	classes := fs.String("classes", "", "label order: a file, one per line, or a comma-separated list (default: classes.txt beside the CSV, else order of appearance)")
	cfg := dataset.Config{}
	fs.IntVar(&cfg.Frames, "frames", 4, "T: frames per clip")
	fs.IntVar(&cfg.SamplingRate, "sampling-rate", 12, "τ: frames between samples at 30 fps")
	cli.Alias(fs, "tau", "sampling-rate")
	fs.IntVar(&cfg.Size, "crop", 160, "S: the model's square crop")
	fs.IntVar(&cfg.ResizeShortSide, "resize", 0, "short side before the centre crop (0 = 8/7·crop, X3D's test resize)")
	fs.IntVar(&cfg.StoreSize, "store", 0, "stored square side, crop ≤ store ≤ resize (0 = resize: room for jitter/crop augmentation)")
	mean := fs.String("mean", "0.45,0.45,0.45", "RGB mean")
	std := fs.String("std", "0.225,0.225,0.225", "RGB std")
	fs.IntVar(&cfg.ClipsPerVideo, "clips-per-video", 0, "K uniformly spaced clips of each video's serving grid (0 = all)")
	fs.DurationVar(&cfg.Hop, "hop", 0, "time between clip starts (0 = the server's default, ceil(T/2)·τ/30 s)")
	splits := fs.String("splits", "", "comma-separated splits to keep (default: all)")
	fs.IntVar(&cfg.Workers, "workers", 0, "videos decoded in parallel (0 = number of CPUs)")
	fs.StringVar(&cfg.Boxes, "boxes", "", "boxes.jsonl (train synth): a detection dataset, each clip with its key-frame actors")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := cli.Parse(fs, args, "labels", "out"); err != nil {
		return err
	}
	var err error
	if cfg.Mean, err = parseTriple(*mean); err != nil {
		return fmt.Errorf("--mean: %w", err)
	}
	if cfg.Std, err = parseTriple(*std); err != nil {
		return fmt.Errorf("--std: %w", err)
	}
	if *model != "" {
		m, err := infer.ReadMetadata(*model)
		if err != nil {
			return err
		}
		cfg.Frames, cfg.SamplingRate, cfg.Size, cfg.ResizeShortSide = m.Frames, m.SamplingRate, m.CropSize, m.ResizeShortSide
		cfg.Mean, cfg.Std, cfg.Labels = m.Mean, m.Std, m.Labels
		if cfg.StoreSize == 0 {
			cfg.StoreSize = m.ResizeShortSide
		}
	} else if cfg.Labels, err = dataset.LabelOrder(*labels, *classes); err != nil {
		return err
	}
	if *splits != "" {
		cfg.Splits = strings.Split(*splits, ",")
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if !*quiet {
		cfg.Progress = cli.Progress(stderr, "prepare")
	}
	start := time.Now()
	idx, err := dataset.Prepare(ctx, *labels, *out, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d labels, T=%d τ=%d S=%d (resize %d, stored %d²), in %s\n", *out, len(idx.Labels),
		idx.Frames, idx.SamplingRate, idx.Size, idx.ResizeShortSide, idx.StoreSize, time.Since(start).Round(time.Second))
	names := make([]string, 0, len(idx.Splits))
	for name := range idx.Splits {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(stdout, "  %-6s %6d clips  %s\n", name, idx.Splits[name].Clips, idx.Splits[name].File)
	}
	return nil
}

func parseTriple(s string) ([3]float32, error) {
	var out [3]float32
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return out, fmt.Errorf("want 3 comma-separated numbers, got %q", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return out, err
		}
		out[i] = float32(v)
	}
	return out, nil
}
