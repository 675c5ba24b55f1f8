package importer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

func writeF32(t *testing.T, path string, x []float32) {
	t.Helper()
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

// A checkpoint in each public key scheme, with random weights, imported to ONNX, gives
// (through ONNX Runtime) the logits an independent functional X3D computes from the
// checkpoint's own keys: every tensor landed where its name says (PyTorchVideo's
// spatial conv_t and temporal conv_xy included), BN folding and SE included.
func TestImportMatchesReference(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := python.New(ctx, python.Options{CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := x3d.Build(x3d.Factors{Frames: 3, SamplingRate: 10, Crop: 48, Width: 0.5, Bottleneck: 1.5, Depth: 0.6}, "tiny", 5)
	if err != nil {
		t.Fatal(err)
	}
	labels := []string{"a", "b", "c", "d", "e"}
	rt, err := infer.NewRuntime(infer.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	const batch = 2
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, batch*3*3*48*48)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, scheme := range []string{SchemePyTorchVideo, SchemeSlowFast} {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			spec, _ := arch.JSON()
			specPath, in, ref, ck := filepath.Join(dir, "arch.json"), filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.f32"), filepath.Join(dir, "ck.pyth")
			os.WriteFile(specPath, spec, 0o644)
			writeF32(t, in, x)
			script, _ := filepath.Abs(filepath.Join("testdata", "x3d_reference.py"))
			cmd := exec.CommandContext(ctx, r.Python(), script, scheme, specPath, ck, in, fmt.Sprint(batch), ref)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("reference: %v\n%s", err, out)
			}
			want := readF32(t, ref)

			model := filepath.Join(dir, "m.onnx")
			res, err := Import(ctx, r, Options{Checkpoint: ck, Arch: arch, Labels: labels, Out: model, Name: "imported"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Scheme != scheme {
				t.Errorf("detected %q", res.Scheme)
			}
			res2Shortcut := res.Arch.Stages[0].Blocks[0].Shortcut
			if scheme == SchemeSlowFast && res2Shortcut != x3d.ShortcutConvBN || scheme == SchemePyTorchVideo && res2Shortcut != arch.Stages[0].Blocks[0].Shortcut {
				t.Errorf("res2 shortcut %q", res2Shortcut)
			}
			m, err := rt.Open(model)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Meta.Name != "imported" || m.Meta.Labels[4] != "e" || m.Meta.MACs != res.Arch.Cost().MACs {
				t.Errorf("metadata %+v", m.Meta)
			}
			got, err := m.Run(x, batch)
			if err != nil {
				t.Fatal(err)
			}
			var maxAbs, maxDiff float64
			for i := range want {
				maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
				maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
			}
			t.Logf("%s: max |logit| %.3g, max diff %.3g", scheme, maxAbs, maxDiff)
			if maxAbs < 1e-3 || maxDiff > 1e-4*math.Max(1, maxAbs) {
				t.Fatalf("imported model differs from the reference: max diff %g (max |logit| %g)\ngot  %v\nwant %v", maxDiff, maxAbs, got, want)
			}
		})
	}
}

func TestFitRefusesOtherNetworks(t *testing.T) {
	a, err := x3d.Preset("x3d-xs", 400)
	if err != nil {
		t.Fatal(err)
	}
	in := Inspection{Scheme: SchemeSlowFast, Blocks: []int{3, 5, 11, 7}, NumClasses: 400, ShortcutBN: [][2]int{{0, 0}, {1, 0}, {2, 0}, {3, 0}}}
	got, err := Fit(a, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stages[0].Blocks[0].Shortcut != x3d.ShortcutConvBN || a.Stages[0].Blocks[0].Shortcut == x3d.ShortcutConvBN {
		t.Errorf("res2 shortcut: %q (input %q)", got.Stages[0].Blocks[0].Shortcut, a.Stages[0].Blocks[0].Shortcut)
	}
	if got.Cost().Params != a.Cost().Params+2*int64(a.Stages[0].Blocks[0].OutChannels) {
		t.Errorf("params %d, want %d + one BN", got.Cost().Params, a.Cost().Params)
	}
	bad := in
	bad.NumClasses = 600
	if _, err := Fit(a, bad); !errors.Is(err, ErrMismatch) {
		t.Errorf("600 classes: %v", err)
	}
	bad = in
	bad.Blocks = []int{3, 5, 11, 8}
	if _, err := Fit(a, bad); !errors.Is(err, ErrMismatch) {
		t.Errorf("depths: %v", err)
	}
	bad = in
	bad.ShortcutBN = [][2]int{{0, 1}}
	if _, err := Fit(a, bad); !errors.Is(err, ErrMismatch) {
		t.Errorf("BN on an identity shortcut: %v", err)
	}
}
