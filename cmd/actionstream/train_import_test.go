package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/python"
)

// `train import` as a user runs it on X3D-XS checkpoints: a MMAction2 one imports and
// says what it made; a PyTorchVideo one in the old misread layout exits 1 with one
// line naming the first bad key; a hostile pickle is refused with the flag to use.
func TestTrainImportCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds X3D-XS checkpoints with PyTorch")
	}
	r, err := python.New(t.Context(), python.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script, err := filepath.Abs(filepath.Join("..", "..", "training", "importer", "testdata", "x3d_fixtures.py"))
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := func(scheme string, extra ...string) string {
		ck := filepath.Join(dir, scheme+".pth")
		args := append([]string{script, "--scheme", scheme, "--width", "2", "--bottleneck", "2.25", "--depth", "2.2",
			"--frames", "4", "--crop", "160", "--classes", "3", "--out", ck}, extra...)
		if out, err := exec.Command(r.Python(), args...).CombinedOutput(); err != nil {
			t.Fatalf("fixture: %v\n%s", err, out)
		}
		return ck
	}
	labels := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(labels, []byte("wave\nclap\njump\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "xs.onnx")
	code, stdout, stderr := runCLI(t, "train", "import", "--checkpoint", checkpoint("mmaction2"), "--arch", "x3d-xs",
		"--classes", labels, "--out", model)
	if code != 0 || !strings.Contains(stdout, "imported mmaction2 checkpoint (") || !strings.Contains(stdout, "as x3d-xs") {
		t.Fatalf("import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if meta, err := infer.ReadMetadata(model); err != nil || meta.Labels[2] != "jump" || meta.CropSize != 160 {
		t.Errorf("metadata %+v, %v", meta, err)
	}
	// --fp16: the same checkpoint in float16 (half the file), the same contract.
	half := filepath.Join(dir, "xs-fp16.onnx")
	code, stdout, stderr = runCLI(t, "train", "import", "--checkpoint", checkpoint("mmaction2"), "--arch", "x3d-xs",
		"--classes", labels, "--out", half, "--fp16")
	if code != 0 {
		t.Fatalf("import --fp16: exit %d\n%s\n%s", code, stdout, stderr)
	}
	full, _ := os.Stat(model)
	if st, err := os.Stat(half); err != nil {
		t.Error(err)
	} else if float64(st.Size()) > 0.6*float64(full.Size()) {
		t.Errorf("fp16 import: %d bytes against %d in fp32", st.Size(), full.Size())
	}
	if meta, err := infer.ReadMetadata(half); err != nil || meta.Labels[2] != "jump" {
		t.Errorf("fp16 metadata %+v, %v", meta, err)
	}

	bad := checkpoint("pytorchvideo", "--rename", "blocks.3.res_blocks.3.branch2.norm_b.0.bias=blocks.3.res_blocks.3.branch2.norm_b.bias")
	code, _, stderr = runCLI(t, "train", "import", "--checkpoint", bad, "--arch", "x3d-xs", "--classes", labels,
		"--out", filepath.Join(dir, "bad.onnx"))
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "actionstream train: ") ||
		!strings.Contains(lines[0], "first bad key blocks.3.res_blocks.3.branch2.norm_b.bias: not part of the pytorchvideo layout of x3d-xs") {
		t.Errorf("misread layout: exit %d, stderr:\n%s", code, stderr)
	}

	trap := filepath.Join(dir, "trap")
	code, _, stderr = runCLI(t, "train", "import", "--checkpoint", checkpoint("slowfast", "--booby-trap", trap),
		"--arch", "x3d-xs", "--classes", labels, "--out", filepath.Join(dir, "trap.onnx"))
	if code != 1 || !strings.Contains(stderr, "refused to unpickle: global posix.mkdir is not allowed") ||
		!strings.Contains(stderr, "--trust-checkpoint") {
		t.Errorf("hostile pickle: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(trap); err == nil {
		t.Error("the hostile pickle's code ran")
	}
}
