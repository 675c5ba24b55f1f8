package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/dataset"
)

func cmdTrainPrepare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("actionstream train prepare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	labels := fs.String("labels", "", "labels CSV with columns path,label[,split]; paths relative to it (required)")
	out := fs.String("out", "", "dataset directory to write (required)")
	model := fs.String("model", "", "take T, τ, crop, resize, mean, std and the label order from this ONNX model's metadata")
	classes := fs.String("classes", "", "label order, one per line (default: classes.txt beside the CSV if present, else order of appearance)")
	frames := fs.Int("frames", 4, "T: frames per clip")
	tau := fs.Int("tau", 12, "τ: sampling rate, frames between samples at 30 fps")
	crop := fs.Int("crop", 160, "S: the model's square crop")
	resize := fs.Int("resize", 0, "short side before the centre crop (0 = 8/7·crop, X3D's test resize)")
	store := fs.Int("store", 0, "stored square side, crop ≤ store ≤ resize (0 = resize: room for jitter/crop augmentation)")
	mean := fs.String("mean", "0.45,0.45,0.45", "RGB mean")
	std := fs.String("std", "0.225,0.225,0.225", "RGB std")
	perVideo := fs.Int("clips-per-video", 0, "K uniformly spaced clips of each video's serving grid (0 = all)")
	hop := fs.Duration("hop", 0, "time between clip starts (0 = the server's default, ceil(T/2)·τ/30 s)")
	splits := fs.String("splits", "", "comma-separated splits to keep (default: all)")
	workers := fs.Int("workers", 0, "videos decoded in parallel (0 = number of CPUs)")
	quiet := fs.Bool("quiet", false, "no progress line")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: actionstream train prepare --labels CSV --out DIR [--model M.onnx | --frames T --tau τ --crop S ...]\n\n"+
			"Decodes every listed video through the server's decode + clipper path and stores its clips\n"+
			"(uint8 + the decoder's float table; see docs/TRAINING.md).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *labels == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg := dataset.Config{Frames: *frames, SamplingRate: *tau, Size: *crop, ResizeShortSide: *resize,
		StoreSize: *store, ClipsPerVideo: *perVideo, Hop: *hop, Workers: *workers}
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
		if *store == 0 {
			cfg.StoreSize = m.ResizeShortSide
		}
	}
	if cfg.Labels == nil {
		path := *classes
		if path == "" {
			if p := filepath.Join(filepath.Dir(*labels), "classes.txt"); fileExists(p) {
				path = p
			}
		}
		if path != "" {
			if cfg.Labels, err = dataset.ReadLabelList(path); err != nil {
				return err
			}
		}
	}
	if *splits != "" {
		cfg.Splits = strings.Split(*splits, ",")
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	if !*quiet {
		cfg.Progress = func(done, total int) {
			fmt.Fprintf(stderr, "\rprepare: %d/%d videos", done, total)
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
	}
	idx, err := dataset.Prepare(ctx, *labels, *out, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d labels, T=%d τ=%d S=%d (resize %d, stored %d²), in %s\n", *out, len(idx.Labels),
		idx.Frames, idx.SamplingRate, idx.Size, idx.ResizeShortSide, idx.StoreSize, time.Since(start).Round(time.Second))
	for _, name := range sortedKeys(idx.Splits) {
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

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
