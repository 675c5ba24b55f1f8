package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
)

// The fp16 demo model keeps the contract (float32 clip in, logits out), halves the file
// and, through the serving path (train eval), scores held-out synthetic videos within one
// top-1 point of the float32 model.
func TestTrainExportFP16KeepsTop1(t *testing.T) {
	testkit.NeedsPython(t)
	dir := t.TempDir()
	demo := filepath.Join("..", "..", "models", "demo.onnx")
	half := filepath.Join(dir, "demo-fp16.onnx")
	code, stdout, stderr := runCLI(t, "train", "export", "--from", demo, "--fp16", "--out", half)
	if code != 0 || !strings.Contains(stdout, "in fp16") {
		t.Fatalf("export --from --fp16: exit %d\n%s\n%s", code, stdout, stderr)
	}
	full, _ := os.Stat(demo)
	got, err := os.Stat(half)
	if err != nil {
		t.Fatal(err)
	}
	if r := float64(got.Size()) / float64(full.Size()); r < 0.45 || r > 0.6 {
		t.Errorf("fp16 file is %.2f of the fp32 one, want about half (weights in float16)", r)
	}
	m32, err := infer.ReadMetadata(demo)
	if err != nil {
		t.Fatal(err)
	}
	m16, err := infer.ReadMetadata(half)
	if err != nil {
		t.Fatalf("fp16 model breaks the contract: %v", err)
	}
	if m16.Name != m32.Name || strings.Join(m16.Labels, ",") != strings.Join(m32.Labels, ",") {
		t.Errorf("metadata changed: %+v vs %+v", m16, m32)
	}

	syn := filepath.Join(dir, "synth")
	if code, _, stderr := runCLI(t, "train", "synth", "--out", syn, "--videos", "36", "--seed", "3", "--size", "128x96",
		"--val", "0", "--test", "0.75", "--quiet"); code != 0 {
		t.Fatalf("synth: %s", stderr)
	}
	top1 := func(model, name string) float64 {
		out := filepath.Join(dir, name)
		code, stdout, stderr := runCLI(t, "train", "eval", "--model", model, "--labels", filepath.Join(syn, "labels.csv"),
			"--splits", "test", "--clips-per-video", "2", "--quiet", "--threads", "1", "--out", out)
		if code != 0 {
			t.Fatalf("eval %s: exit %d\n%s\n%s", model, code, stdout, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "eval.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Videos int     `json:"videos"`
			Top1   float64 `json:"top1"`
		}
		if err := json.Unmarshal(b, &rep); err != nil || rep.Videos != 27 {
			t.Fatalf("eval.json: %v, %d videos", err, rep.Videos)
		}
		return rep.Top1
	}
	a, b := top1(demo, "eval32"), top1(half, "eval16")
	if a < 0.8 {
		t.Fatalf("fp32 demo top-1 %.1f%%: the held-out set is not the demo's task", 100*a)
	}
	if math.Abs(a-b) > 0.01 {
		t.Fatalf("top-1 fp32 %.2f%%, fp16 %.2f%%: more than 1 point apart", 100*a, 100*b)
	}
}

func TestTrainExportFP16Errors(t *testing.T) {
	code, _, stderr := runCLI(t, "train", "export", "--from", "../../models/demo.onnx", "--out", filepath.Join(t.TempDir(), "x.onnx"))
	if code != 2 || !strings.Contains(stderr, "--from converts to fp16: give --fp16") {
		t.Errorf("--from without --fp16: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "train", "export", "--from", "../../README.md", "--fp16", "--out", filepath.Join(t.TempDir(), "x.onnx"))
	if code != 1 || !strings.Contains(stderr, "not an ONNX model") {
		t.Errorf("--from a text file: exit %d, %s", code, stderr)
	}
}
