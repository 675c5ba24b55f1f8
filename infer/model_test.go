package infer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/internal/testkit"
)

// ORT's logits equal numpy's for a batch, and each clip's row does not depend on the
// others in the batch (batch layout is right).
func TestModelRunMatchesNumpy(t *testing.T) {
	path := makeModel(t, "--frames", "4", "--crop", "8", "--classes", "5", "--expect", "3")
	input, want := readF32(t, path+".input.f32"), readF32(t, path+".expected.f32")
	r := newRuntime(t, Options{})
	m := openModel(t, r, path)
	if m.ClipLen() != 3*4*8*8 || m.Classes() != 5 || m.MaxBatch() != 0 || m.Provider != ProviderCPU {
		t.Fatalf("model: cliplen %d classes %d maxbatch %d provider %s", m.ClipLen(), m.Classes(), m.MaxBatch(), m.Provider)
	}
	got, err := m.Run(input, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(want) != 15 {
		t.Fatalf("got %d logits, want %d", len(got), len(want))
	}
	for i := range want {
		if !near(float64(got[i]), float64(want[i]), 1e-4) {
			t.Fatalf("logit %d: ort %v numpy %v", i, got[i], want[i])
		}
	}
	one := make([]float32, 5)
	if err := m.RunInto(input[m.ClipLen():2*m.ClipLen()], 1, one); err != nil {
		t.Fatal(err)
	}
	for i := range one {
		if !near(float64(one[i]), float64(want[5+i]), 1e-4) {
			t.Fatalf("clip 1 alone, logit %d: %v, in batch %v", i, one[i], want[5+i])
		}
	}
	b, _ := os.ReadFile(path)
	sum := sha256.Sum256(b)
	if m.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("Digest = %s", m.Digest)
	}
	if m.Meta.Name != "test-linear" || m.Path != path {
		t.Fatalf("Meta.Name %q Path %q", m.Meta.Name, m.Path)
	}
}

func TestModelRunBadBatch(t *testing.T) {
	r := newRuntime(t, Options{})
	m := openModel(t, r, makeModel(t))
	in := make([]float32, 2*m.ClipLen())
	for _, n := range []int{0, -1, 3} {
		if _, err := m.Run(in, n); !errors.Is(err, ErrBadBatch) {
			t.Errorf("Run(n=%d) err = %v, want ErrBadBatch", n, err)
		}
	}
	if err := m.RunInto(in, 2, make([]float32, 3)); !errors.Is(err, ErrBadBatch) {
		t.Errorf("short output: err = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run(in, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: err = %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Session config entries are applied to every session opened from the runtime.
func TestRuntimeSessionConfig(t *testing.T) {
	path := makeModel(t)
	r := newRuntime(t, Options{SessionConfig: map[string]string{"session.intra_op.allow_spinning": "0"}})
	m := openModel(t, r, path)
	if _, err := m.Run(make([]float32, m.ClipLen()), 1); err != nil {
		t.Fatal(err)
	}
}

func TestModelFixedBatch(t *testing.T) {
	r := newRuntime(t, Options{})
	m := openModel(t, r, makeModel(t, "--batch", "2"))
	if m.MaxBatch() != 2 {
		t.Fatalf("MaxBatch = %d", m.MaxBatch())
	}
	in := make([]float32, 2*m.ClipLen())
	if _, err := m.Run(in, 1); !errors.Is(err, ErrBadBatch) {
		t.Fatalf("n=1 on fixed batch 2: err = %v", err)
	}
	if _, err := m.Run(in, 2); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsWithContractErrors(t *testing.T) {
	r := newRuntime(t, Options{})
	if _, err := r.Open(makeModel(t, "--dims", "3,8,8")); !errors.Is(err, ErrBadInput) {
		t.Fatalf("rank 4: err = %v", err)
	}
	if _, err := r.Open(makeModel(t, "--omit", KeyScore)); !errors.Is(err, ErrNoMetadata) {
		t.Fatalf("no score: err = %v", err)
	}
}

func TestScores(t *testing.T) {
	meta := Metadata{Labels: []string{"a", "b", "c"}, Score: ScoreSoftmax}
	logits := []float32{1, 2, 3, 1000, 1000, 0}
	s := Scores(meta, logits)
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	tot := e[0] + e[1] + e[2]
	for i := 0; i < 3; i++ {
		if !near(float64(s[i]), e[i]/tot, 1e-6) {
			t.Fatalf("softmax[%d] = %v, want %v", i, s[i], e[i]/tot)
		}
	}
	// Large logits stay finite (max subtracted); each row sums to 1.
	if !near(float64(s[3]), 0.5, 1e-6) || !near(float64(s[4]), 0.5, 1e-6) || s[5] != 0 {
		t.Fatalf("row 2 = %v", s[3:])
	}
	meta.Score = ScoreSigmoid
	s = Scores(meta, []float32{0, 2, -2})
	if s[0] != 0.5 || !near(float64(s[1]), 1/(1+math.Exp(-2)), 1e-6) || !near(float64(s[1]+s[2]), 1, 1e-6) {
		t.Fatalf("sigmoid = %v", s)
	}
}

func TestTopK(t *testing.T) {
	labels := []string{"a", "b", "c", "d"}
	got := TopK(labels, []float32{0.1, 0.4, 0.1, 0.4}, 3)
	want := []string{"b", "d", "a"} // ties keep label order
	if len(got) != 3 {
		t.Fatalf("%v", got)
	}
	for i, w := range want {
		if got[i].Label != w {
			t.Fatalf("TopK = %v, want labels %v", got, want)
		}
	}
	if got[0].Score != 0.4 || got[2].Score != 0.1 {
		t.Fatalf("scores %v", got)
	}
	nan := float32(math.NaN())
	if got := TopK(labels, []float32{nan, 0.2, nan, 0.7}, 4); got[0].Label != "d" || got[1].Label != "b" || got[2].Label != "a" {
		t.Fatalf("NaN ordering: %v", got)
	}
	// The one score rule: NaN and negatives count as 0, above 1 as 1, for ranking and reporting.
	got = TopK(labels, []float32{nan, 1.5, -0.2, 0.3}, 4)
	if got[0] != (LabelScore{"b", 1}) || got[1] != (LabelScore{"d", 0.3}) || got[2] != (LabelScore{"a", 0}) || got[3] != (LabelScore{"c", 0}) {
		t.Fatalf("clamped top-k: %v", got)
	}
	clip := ScoredClip{Labels: labels, Scores: []float32{0.1, 0.2, nan, 0.9}}
	if top := clip.TopK(2); len(top) != 2 || top[0].Label != "d" || top[1].Label != "b" {
		t.Fatalf("ScoredClip.TopK: %v", top)
	}
	if n := len(TopK(labels, []float32{1, 2, 3, 4}, 0)); n != 4 {
		t.Fatalf("k=0 gave %d", n)
	}
	if n := len(TopK(labels, []float32{1, 2, 3, 4}, 10)); n != 4 {
		t.Fatalf("k=10 gave %d", n)
	}
}

// OpenInBackground checks the file and its contract at once and builds the session on
// another goroutine: calls wait for it and score as Open's model does; a session ONNX Runtime
// cannot build (here an op it does not know) shows in Ready and in every call.
func TestOpenInBackground(t *testing.T) {
	tiny := testkit.TinyModelPath()
	r := newRuntime(t, Options{})
	want := openModel(t, r, tiny)
	m, err := r.OpenInBackground(tiny)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Info(); got.Provider != ProviderCPU || got.Digest != want.Digest || got.Meta.Name != want.Meta.Name {
		t.Fatalf("Info before the session: %+v", got)
	}
	in := make([]float32, m.ClipLen())
	for i := range in {
		in[i] = float32(i%11) / 11
	}
	a, b := make([]float32, m.Classes()), make([]float32, m.Classes())
	if err := m.RunInto(in, 1, a); err != nil {
		t.Fatal(err)
	}
	if err := want.RunInto(in, 1, b); err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("logit %d: %v in the background-built session, %v in Open's", i, a[i], b[i])
		}
	}
	if err := m.Ready(); err != nil {
		t.Fatal(err)
	}
	// With a warm-up, it runs on the building goroutine after the session exists; the
	// model's own calls queue behind it.
	warm, err := newRuntime(t, Options{WarmUpBatches: []int{1, 2}}).OpenInBackground(tiny)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- warm.RunInto(in, 1, a) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a call on a model warming up in the background did not return")
	}
	if a[0] != b[0] {
		t.Fatalf("warmed model: logit 0 %v, want %v", a[0], b[0])
	}

	raw, err := os.ReadFile(tiny)
	if err != nil {
		t.Fatal(err)
	}
	// NodeProto.op_type is field 4: renaming one Conv keeps the protobuf and the contract valid.
	bad := bytes.Replace(raw, []byte("\x22\x04Conv"), []byte("\x22\x04Cxnv"), 1)
	if bytes.Equal(bad, raw) {
		t.Fatal("no Conv node to rename")
	}
	path := filepath.Join(t.TempDir(), "unknown-op.onnx")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err = r.OpenInBackground(path)
	if err != nil {
		t.Fatalf("the contract is valid, the session is not built yet: %v", err)
	}
	if err := m.Ready(); err == nil || !strings.Contains(err.Error(), "create onnx runtime session") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Ready: %v", err)
	}
	if err := m.RunInto(in, 1, a); err == nil || !strings.Contains(err.Error(), "create onnx runtime session") {
		t.Fatalf("RunInto on a session that could not be built: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.OpenInBackground(filepath.Join(t.TempDir(), "missing.onnx")); err == nil {
		t.Fatal("a missing file opened")
	}
}
