package main

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/synth"
)

func cmdTrainSynth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train synth", "--out DIR --videos N [--seed S] [flags]", "Classes: "+strings.Join(synth.Classes(), ", ")+
		"\nFiles written are described in docs/DATASETS.md.", stderr)
	out := fs.String("out", "", "output directory (required)")
	videos := fs.Int("videos", 0, "number of videos (required)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed and flags give the same dataset")
	actors := fs.Int("actors", 1, "actors per video, each doing a different action (boxes in boxes.jsonl)")
	size := fs.String("size", fmt.Sprintf("%dx%d", synth.DefaultWidth, synth.DefaultHeight), "frame size WxH (even)")
	classes := fs.String("classes", strings.Join(synth.Classes(), ","), "classes in label order: a comma-separated list or a file, one per line")
	fpsFlag := fs.String("fps", "30=0.7,25=0.15,15=0.15", "frame rates and weights, e.g. 30=0.7,25=0.15,15=0.15 or just 30")
	minS := fs.Float64("min-seconds", synth.DefaultMinSeconds, "shortest video, seconds")
	maxS := fs.Float64("max-seconds", synth.DefaultMaxSeconds, "longest video, seconds")
	val := fs.Float64("val", synth.DefaultValFraction, "fraction of each class for the val split")
	test := fs.Float64("test", synth.DefaultTestFraction, "fraction of each class for the test split")
	workers := fs.Int("workers", 0, "videos encoded in parallel (0 = number of CPUs)")
	crf := fs.Int("crf", 18, "x264 CRF quality")
	ffmpeg := fs.String("ffmpeg", "", "ffmpeg executable (default: ffmpeg on PATH)")
	preview := fs.String("preview", "", "also write a PNG contact sheet of the first videos to this file")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := cli.Parse(fs, args, "out", "videos"); err != nil {
		return err
	}
	w, h, err := parseSize(*size)
	if err != nil {
		return err
	}
	fpsList, err := synth.ParseFPS(*fpsFlag)
	if err != nil {
		return err
	}
	cls, err := dataset.ParseClasses(*classes)
	if err != nil {
		return err
	}
	if *val == 0 && *test == 0 {
		// Both zero on the command line means all train; in a Config it means the defaults.
		*val, *test = -1, -1
	}
	plan, err := synth.NewPlan(synth.Config{
		Videos: *videos, Seed: *seed, Actors: *actors, Width: w, Height: h, Classes: cls,
		FPS: fpsList, MinSeconds: *minS, MaxSeconds: *maxS, ValFraction: *val, TestFraction: *test,
	})
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := synth.Options{Workers: *workers, FFmpeg: *ffmpeg, CRF: *crf, Logger: logger}
	if !*quiet {
		opts.Progress = cli.Progress(stderr, "synth")
	}
	if err := synth.Generate(ctx, plan, *out, opts); err != nil {
		return err
	}
	if *preview != "" {
		if err := writePNG(*preview, func(f io.Writer) error { return png.Encode(f, synth.ContactSheet(plan, 6, 4)) }); err != nil {
			return err
		}
	}
	counts := map[string]int{}
	for _, v := range plan.Videos {
		counts[v.Split]++
	}
	fmt.Fprintf(stdout, "wrote %d videos to %s (train %d, val %d, test %d): %s, %s\n", len(plan.Videos), *out,
		counts[synth.SplitTrain], counts[synth.SplitVal], counts[synth.SplitTest],
		filepath.Join(*out, synth.LabelsFile), filepath.Join(*out, synth.BoxesFile))
	return nil
}

// parseSize parses "WxH".
func parseSize(s string) (int, int, error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("size %q: want WxH, e.g. 224x168", s)
	}
	return w, h, nil
}

// writePNG writes a file atomically through fill.
func writePNG(path string, fill func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return errors.Join(fmt.Errorf("writing %s", path), err)
	}
	return nil
}
