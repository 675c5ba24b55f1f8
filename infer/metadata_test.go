package infer

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadMetadata(t *testing.T) {
	path := makeModel(t, "--frames", "4", "--crop", "8", "--classes", "5", "--score", "sigmoid")
	m, err := ReadMetadata(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 1 || m.Name != "test-linear" || m.Task != TaskClassification || m.Score != ScoreSigmoid {
		t.Fatalf("header fields: %+v", m)
	}
	if len(m.Labels) != 5 || m.Labels[0] != "class0" || m.Labels[4] != "class4" {
		t.Fatalf("labels: %v", m.Labels)
	}
	if m.Frames != 4 || m.SamplingRate != 6 || m.CropSize != 8 || m.ResizeShortSide != 9 {
		t.Fatalf("sizes: %+v", m)
	}
	if m.Mean != [3]float32{0.45, 0.45, 0.45} || m.Std != [3]float32{0.225, 0.225, 0.225} {
		t.Fatalf("mean/std: %v %v", m.Mean, m.Std)
	}
	var arch struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(m.Architecture, &arch); err != nil || arch.Name != "linear-test" {
		t.Fatalf("architecture %s: %v", m.Architecture, err)
	}
	if m.MACs != 3*4*8*8*5+3*5 || m.Params != 3*4*8*8*5+3*5+5 || m.TrainedOn != "random-init" {
		t.Fatalf("info: macs %d params %d trained_on %q", m.MACs, m.Params, m.TrainedOn)
	}
	if m.ClipLen() != 3*4*8*8 {
		t.Fatalf("ClipLen = %d", m.ClipLen())
	}
}

// Informational keys may be absent.
func TestReadMetadataOptionalKeys(t *testing.T) {
	path := makeModel(t, "--omit", KeyArchitecture, "--omit", KeyMACs, "--omit", KeyParams, "--omit", KeyTrainedOn)
	m, err := ReadMetadata(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Architecture != nil || m.MACs != 0 || m.Params != 0 || m.TrainedOn != "" {
		t.Fatalf("%+v", m)
	}
}

func TestReadMetadataRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 4096)
	rand.Read(random)

	cases := []struct {
		name  string
		path  string
		want  error
		about []string // substrings the message must contain besides the path
	}{
		{"random bytes", write("random.onnx", random), ErrNotONNX, nil},
		{"empty file", write("empty.onnx", nil), ErrNotONNX, []string{"ir_version"}},
		{"text", write("text.onnx", []byte("hello, this is not a model\n")), ErrNotONNX, nil},
		// ir_version 8 and nothing else: a valid protobuf but no graph.
		{"no graph", write("nograph.onnx", []byte{0x08, 0x08}), ErrNotONNX, []string{"no graph"}},
		{"missing labels", makeModel(t, "--omit", KeyLabels), ErrNoMetadata, []string{KeyLabels}},
		{"missing crop", makeModel(t, "--omit", KeyCropSize), ErrNoMetadata, []string{KeyCropSize}},
		{"no metadata at all", makeModel(t, "--omit", KeySchemaVersion, "--omit", KeyName), ErrNoMetadata, []string{KeySchemaVersion}},
		{"schema 2", makeModel(t, "--set", KeySchemaVersion+"=2"), ErrSchemaVersion, []string{"is 2"}},
		{"bad score", makeModel(t, "--set", KeyScore+"=relu"), ErrBadMetadata, []string{KeyScore, "relu"}},
		{"detection task without a mode", makeModel(t, "--set", KeyTask+"=detection"), ErrNoMetadata, []string{KeyDetectionMode}},
		{"unknown task", makeModel(t, "--set", KeyTask+"=segmentation"), ErrBadMetadata, []string{KeyTask, "segmentation"}},
		{"bad labels", makeModel(t, "--set", KeyLabels+"=a,b"), ErrBadMetadata, []string{KeyLabels}},
		{"bad mean", makeModel(t, "--set", KeyMean+"=[1,2]"), ErrBadMetadata, []string{KeyMean}},
		{"zero std", makeModel(t, "--set", KeyStd+"=[1,0,1]"), ErrBadMetadata, []string{KeyStd}},
		{"rank 4", makeModel(t, "--dims", "3,8,8"), ErrBadInput, []string{"rank 4"}},
		{"frames disagree", makeModel(t, "--dims", "3,6,8,8"), ErrBadInput, []string{"dim 2", "is 6", "says 4"}},
		{"crop disagrees", makeModel(t, "--crop", "8", "--dims", "3,4,8,10"), ErrBadInput, []string{"dim 4", "is 10", "says 8"}},
		{"channels", makeModel(t, "--dims", "1,4,8,8"), ErrBadInput, []string{"channels"}},
		{"labels vs classes", makeModel(t, "--classes", "5", "--set", KeyLabels+`=["a","b","c"]`), ErrBadOutput, []string{"5 classes", "3 labels"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadMetadata(c.path)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			msg := err.Error()
			for _, s := range append([]string{c.path}, c.about...) {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not mention %q", msg, s)
				}
			}
		})
	}
	if _, err := ReadMetadata(filepath.Join(dir, "absent.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("absent file: err = %v", err)
	}
}

// Every truncation of a valid model is handled: no panic, and any error is one of the
// contract's sentinels (a cut right after a complete field can still be a valid file).
func TestReadMetadataTruncated(t *testing.T) {
	b, err := os.ReadFile(makeModel(t))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n++ {
		_, err := inspect("cut.onnx", b[:n])
		if err != nil && !errors.Is(err, ErrNotONNX) && !errors.Is(err, ErrNoMetadata) &&
			!errors.Is(err, ErrBadMetadata) && !errors.Is(err, ErrBadInput) && !errors.Is(err, ErrBadOutput) {
			t.Fatalf("cut at %d: unexpected error %v", n, err)
		}
	}
}

func FuzzInspect(f *testing.F) {
	b, err := os.ReadFile(makeModel(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0x08, 0x08, 0x3a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		inspect("fuzz.onnx", data) // must not panic
	})
}
