package python

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/training/x3d"
)

func newRunner(t *testing.T) *Runner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := New(ctx, Options{CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// PyTorch builds every preset with exactly the parameters the Go counter predicts.
func TestCountParamsMatchesCounter(t *testing.T) {
	testkit.NeedsPython(t)
	r := newRunner(t)
	var archs []x3d.Arch
	for _, name := range x3d.Presets() {
		a, err := x3d.Preset(name, 400)
		if err != nil {
			t.Fatal(err)
		}
		archs = append(archs, a)
	}
	counts, err := r.CountParams(testCtx(t), archs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range archs {
		c := a.Cost()
		got := counts[i]
		t.Logf("%-7s pytorch %d / %d excl. BN; counter %d / %d", a.Name, got.Params, got.ParamsExcludingBN, c.Params, c.ParamsExcludingBN)
		if got.Name != a.Name || got.Params != c.Params || got.ParamsExcludingBN != c.ParamsExcludingBN {
			t.Errorf("%s: pytorch %+v, counter params %d excl. BN %d", a.Name, got, c.Params, c.ParamsExcludingBN)
		}
	}
	// The published X3D-XS count, independently of the counter.
	if counts[1].Name != "x3d-xs" || counts[1].Params != 3794274 || counts[1].ParamsExcludingBN != 3762858 {
		t.Errorf("x3d-xs: %+v, want 3794274 / 3762858", counts[1])
	}
}

func randomClips(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// The exported ONNX model, run by ONNX Runtime through infer, computes what the
// PyTorch network computes (BN folded, Swish as Sigmoid*Mul), and carries the
// contract's metadata.
func TestExportMatchesPyTorch(t *testing.T) {
	testkit.NeedsPython(t)
	r := newRunner(t)
	xs, err := x3d.Preset("x3d-xs", 7)
	if err != nil {
		t.Fatal(err)
	}
	// The pool is sized for a 32 crop and runs at 48 (as X3D-XL's), so the
	// classifier runs at 2×2 positions and the logits are their mean.
	small, err := x3d.Build(x3d.Factors{Frames: 3, SamplingRate: 10, Crop: 48, PoolCrop: 32, Width: 0.5, Bottleneck: 1.5, Depth: 0.6}, "tiny", 5)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := infer.NewRuntime(infer.Options{Threads: 2})
	if err != nil {
		t.Fatalf("infer.NewRuntime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })

	for _, a := range []x3d.Arch{xs, small} {
		t.Run(a.Name, func(t *testing.T) {
			ctx := testCtx(t)
			dir := t.TempDir()
			const batch = 2
			clip := 3 * a.Frames * a.CropSize * a.CropSize
			input := randomClips(42, batch*clip)
			ckpt := filepath.Join(dir, "weights.pt")
			want, err := r.Forward(ctx, ForwardOptions{Arch: a, Seed: 3, RandomizeBN: true, SaveCheckpoint: ckpt, Input: input, Batch: batch})
			if err != nil {
				t.Fatalf("Forward: %v", err)
			}
			labels := make([]string, a.NumClasses)
			for i := range labels {
				labels[i] = string(rune('a'+i)) + "-label"
			}
			out := filepath.Join(dir, "model.onnx")
			res, err := r.Export(ctx, ExportOptions{Arch: a, Out: out, Labels: labels, Checkpoint: ckpt, TrainedOn: "test weights"})
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			t.Logf("exported %s: %d nodes, %d bytes, ops %v", a.Name, res.Nodes, res.Bytes, res.Ops)
			if slices.Contains(res.Ops, "BatchNormalization") || !slices.Contains(res.Ops, "Sigmoid") {
				t.Errorf("ops %v: want Sigmoid and no BatchNormalization", res.Ops)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			// op_type strings are stored verbatim in the protobuf: an independent check.
			for _, op := range []string{"BatchNormalization", "HardSwish", "Dropout"} {
				if bytes.Contains(raw, []byte(op)) {
					t.Errorf("model file contains %s", op)
				}
			}

			m, err := rt.Open(out)
			if err != nil {
				t.Fatalf("infer Open: %v", err)
			}
			defer m.Close()
			got, err := m.Run(input, batch)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("onnx gave %d logits, pytorch %d", len(got), len(want))
			}
			var maxDiff, maxAbs float64
			for i := range got {
				maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
				maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
			}
			t.Logf("%s: max |onnx - pytorch| = %.3g (max |logit| %.3g)", a.Name, maxDiff, maxAbs)
			if maxDiff > 1e-4 {
				t.Errorf("max abs difference %.3g > 1e-4", maxDiff)
			}
			if maxAbs < 1e-3 {
				t.Errorf("logits are all ~0 (max %.3g): the comparison would prove nothing", maxAbs)
			}
			// Dynamic batch: one clip alone gives the first row.
			one, err := m.Run(input[:clip], 1)
			if err != nil {
				t.Fatalf("Run(n=1): %v", err)
			}
			for i := range one {
				if d := math.Abs(float64(one[i] - want[i])); d > 1e-4 {
					t.Fatalf("batch 1 logit %d differs by %.3g", i, d)
				}
			}

			checkMetadata(t, m.Meta, a, labels)
			fromFile, err := infer.ReadMetadata(out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fromFile, m.Meta) {
				t.Errorf("ReadMetadata %+v != Open's %+v", fromFile, m.Meta)
			}
		})
	}
}

func checkMetadata(t *testing.T, got infer.Metadata, a x3d.Arch, labels []string) {
	t.Helper()
	cost := a.Cost()
	if got.SchemaVersion != infer.SchemaVersion || got.Name != a.Name || got.Task != infer.TaskClassification ||
		!slices.Equal(got.Labels, labels) || got.Frames != a.Frames || got.SamplingRate != a.SamplingRate ||
		got.CropSize != a.CropSize || got.ResizeShortSide != a.CropSize*8/7 ||
		got.Mean != DefaultMean || got.Std != DefaultStd || got.Score != infer.ScoreSoftmax ||
		got.MACs != cost.MACs || got.Params != cost.Params || got.TrainedOn != "test weights" {
		t.Errorf("metadata %+v does not round-trip (arch %s, cost %d MACs %d params)", got, a.Name, cost.MACs, cost.Params)
	}
	back, err := x3d.ParseArch(got.Architecture)
	if err != nil {
		t.Fatalf("architecture metadata: %v", err)
	}
	if !reflect.DeepEqual(back, a) {
		t.Errorf("architecture metadata round-trips to %+v, want %+v", back, a)
	}
}

// Without a checkpoint the export is the reference initialisation: reproducible from
// the seed, labelled random-init, and still a valid model.
func TestExportRandomInitDeterministic(t *testing.T) {
	testkit.NeedsPython(t)
	r := newRunner(t)
	a, err := x3d.Build(x3d.Factors{Frames: 2, SamplingRate: 4, Crop: 32, Width: 0.5, Bottleneck: 1.0, Depth: 0.4}, "micro", 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	dir := t.TempDir()
	export := func(name string, seed int64) []byte {
		p := filepath.Join(dir, name)
		if _, err := r.Export(ctx, ExportOptions{Arch: a, Out: p, Seed: seed}); err != nil {
			t.Fatalf("Export: %v", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a1, a2, b1 := export("a1.onnx", 1), export("a2.onnx", 1), export("b1.onnx", 2)
	if !bytes.Equal(a1, a2) {
		t.Error("two exports with the same seed differ")
	}
	if bytes.Equal(a1, b1) {
		t.Error("exports with different seeds are identical")
	}
	meta, err := infer.ReadMetadata(filepath.Join(dir, "a1.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if meta.TrainedOn != TrainedOnRandom || !slices.Equal(meta.Labels, []string{"class_0", "class_1", "class_2"}) {
		t.Errorf("defaults: trained_on %q labels %v", meta.TrainedOn, meta.Labels)
	}
}

func TestExportOptionErrors(t *testing.T) {
	a, err := x3d.Preset("x3d-xs", 3)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]ExportOptions{
		"labels":     {Arch: a, Labels: []string{"only-one"}},
		"checkpoint": {Arch: a, Checkpoint: "w.pt"}, // TrainedOn required
		"score":      {Arch: a, Score: "argmax"},
		"resize":     {Arch: a, ResizeShortSide: 100},
		"arch":       {Arch: x3d.Arch{Name: "empty"}},
	} {
		if _, err := o.Metadata(); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%s: err %v, want ErrBadOptions", name, err)
		}
	}
}

// A failure on the Python side comes back as ErrFailed with Python's reason.
func TestPythonErrorIsReported(t *testing.T) {
	testkit.NeedsPython(t)
	r := newRunner(t)
	a, err := x3d.Build(x3d.Factors{Frames: 2, SamplingRate: 4, Crop: 32, Width: 0.5, Bottleneck: 1.0, Depth: 0.4}, "micro", 3)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Export(testCtx(t), ExportOptions{Arch: a, Out: filepath.Join(t.TempDir(), "m.onnx"),
		Checkpoint: filepath.Join(t.TempDir(), "missing.pt"), TrainedOn: "x"})
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "missing.pt") {
		t.Fatalf("err = %v, want ErrFailed naming the missing checkpoint", err)
	}
	// A spec PyTorch refuses (inconsistent widths) is reported the same way.
	bad := a
	bad.Head.InChannels++
	_, err = r.CountParams(testCtx(t), bad)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "SpecError") {
		t.Fatalf("err = %v, want ErrFailed from SpecError", err)
	}
}

func TestRunProgressAndCancel(t *testing.T) {
	testkit.NeedsPython(t)
	r := newRunner(t)
	a, err := x3d.Preset("x2d", 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := x3d.Preset("x3d-xs", 4)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pa, _ := writeJSON(dir, "a.json", a)
	pb, _ := writeJSON(dir, "b.json", b)
	var steps []int
	raw, err := r.Run(testCtx(t), []string{"count", "--spec", pa, "--spec", pb}, func(m Message) error {
		if m.Type != "progress" || m.Stage != "count" || m.Total != 2 {
			t.Errorf("progress message %+v", m)
		}
		steps = append(steps, m.Step)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(steps, []int{1, 2}) {
		t.Errorf("progress steps %v, want [1 2]", steps)
	}
	var res struct{ Type string }
	if err := json.Unmarshal(raw, &res); err != nil || res.Type != "result" {
		t.Errorf("result %s (%v)", raw, err)
	}

	// A progress callback's error stops the process and is returned as is.
	stop := errors.New("stop here")
	if _, err := r.Run(testCtx(t), []string{"count", "--spec", pa, "--spec", pb}, func(Message) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error: got %v", err)
	}

	// A cancelled context ends the run with ctx's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Run(ctx, []string{"count", "--spec", pa}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

func TestExtractIsContentAddressed(t *testing.T) {
	base := t.TempDir()
	d1, err := Extract(base)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(d1) != SourceHash()[:16] {
		t.Errorf("dir %s not named after the source hash", d1)
	}
	want, err := sources.ReadFile(Module + "/net.py")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(d1, Module, "net.py"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("extracted net.py differs (%v)", err)
	}
	d2, err := Extract(base)
	if err != nil || d2 != d1 {
		t.Fatalf("second Extract: %s, %v", d2, err)
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 1 {
		t.Errorf("base has %d entries, want only the extraction dir", len(entries))
	}
}

func TestInterpreterFromEnv(t *testing.T) {
	t.Setenv(EnvPython, filepath.Join(t.TempDir(), "no-such-python"))
	if _, err := Interpreter(context.Background()); !errors.Is(err, ErrNoPython) {
		t.Errorf("missing $%s: err %v, want ErrNoPython", EnvPython, err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvPython, exe)
	if got, err := Interpreter(context.Background()); err != nil || got != exe {
		t.Errorf("Interpreter() = %q, %v; want %q", got, err, exe)
	}
}
