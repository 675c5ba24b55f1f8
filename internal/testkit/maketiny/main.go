// Command maketiny regenerates the committed tiny test model, internal/testkit/testdata/tiny.onnx,
// through the real PyTorch exporter (Debian's python3-torch). Run from the repository root:
//
//	go run ./internal/testkit/maketiny
//
// training/python's TestTinyFixtureUpToDate fails when the committed file drifts from what this
// writes.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/training/python"
)

func main() {
	out := "internal/testkit/testdata/tiny.onnx"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := run(out); err != nil {
		fmt.Fprintln(os.Stderr, "maketiny:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := python.New(ctx, python.Options{Threads: 1})
	if err != nil {
		return err
	}
	_, err = r.Export(ctx, python.ExportOptions{Arch: testkit.TinyArch(), Out: out, Labels: testkit.TinyLabels, Seed: testkit.TinySeed})
	return err
}
