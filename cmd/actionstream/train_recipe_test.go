package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// The recipe flags mean the same to `train fit` and `train expand`.
func TestRecipeFlags(t *testing.T) {
	labels := []string{"move_left", "move_right", "grow", "shrink", "static"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	build := recipeFlags(fs)
	if err := fs.Parse([]string{"--lr", "0.2", "--batch", "7", "--reverse", "--flip", "--synth-pairs", "--jitter", "64,80", "--warmup", "0"}); err != nil {
		t.Fatal(err)
	}
	r, err := build(labels)
	if err != nil {
		t.Fatal(err)
	}
	if r.LR != 0.2 || r.Batch != 7 || !r.Reverse || !r.Flip || r.JitterMin != 64 || r.JitterMax != 80 || r.WarmupEpochs != -1 {
		t.Fatalf("recipe %+v", r)
	}
	if !strings.Contains(r.ReversePairs, "grow:shrink") || !strings.Contains(r.FlipPairs, "move_left:move_right") {
		t.Fatalf("synthetic pairs not filled: reverse %q flip %q", r.ReversePairs, r.FlipPairs)
	}

	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	build = recipeFlags(fs)
	if err := fs.Parse([]string{"--jitter", "64"}); err != nil {
		t.Fatal(err)
	}
	if _, err := build(labels); err == nil || !strings.Contains(err.Error(), "MIN,MAX") {
		t.Fatalf("bad --jitter: %v", err)
	}
}
