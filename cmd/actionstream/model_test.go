package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/training/modelinfo"
	"github.com/actionstream/actionstream/training/x3d"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func infoJSON(t *testing.T, args ...string) []x3d.Row {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"model", "info", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("model info --json %v: exit %d, stderr %s", args, code, errOut)
	}
	var rows []x3d.Row
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return rows
}

// The published counts come out of `model info --json` exactly.
func TestModelInfoJSONPresets(t *testing.T) {
	rows := infoJSON(t)
	type want struct {
		frames, tau, crop        int
		macs, params, paramsNoBN int64
	}
	wants := map[string]want{
		"x3d-xs": {4, 12, 160, 605_256_512, 3_794_274, 3_762_858},
		"x3d-s":  {13, 6, 160, 1_962_892_112, 3_794_274, 3_762_858},
		"x3d-m":  {16, 5, 224, 4_732_468_736, 3_794_274, 3_762_858},
		"x3d-l":  {16, 5, 312, 18_367_710_176, 6_153_384, 6_087_120},
		"x3d-xl": {16, 5, 356, 48_423_725_120, 11_095_840, 11_000_260},
	}
	if len(rows) != 6 || rows[0].Name != "x2d" {
		t.Fatalf("want 6 presets starting with x2d, got %d: %+v", len(rows), rows)
	}
	for _, r := range rows[1:] {
		w, ok := wants[r.Name]
		if !ok {
			t.Errorf("unexpected preset %q", r.Name)
			continue
		}
		got := want{r.Frames, r.SamplingRate, r.CropSize, r.MACs, r.Params, r.ParamsExcludingBN}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", r.Name, got, w)
		}
		if r.NumClasses != 400 || r.Layers != nil {
			t.Errorf("%s: classes %d, layers %d without --layers", r.Name, r.NumClasses, len(r.Layers))
		}
	}
	// The raw JSON carries the key names other tools read.
	_, out, _ := runCLI(t, "model", "info", "--json")
	for _, k := range []string{`"name"`, `"frames"`, `"sampling_rate"`, `"crop_size"`, `"macs"`, `"params"`, `"params_excluding_bn"`} {
		if !strings.Contains(out, k) {
			t.Errorf("JSON lacks %s", k)
		}
	}
}

func TestModelInfoCropAndClasses(t *testing.T) {
	for _, tc := range []struct {
		arch string
		crop string
		macs int64
	}{
		{"x3d-xs", "182", 843_919_472},
		{"x3d-s", "182", 2_727_045_164},
		{"x3d-m", "256", 6_185_725_184},
		{"x3d-l", "356", 24_777_648_768},
	} {
		rows := infoJSON(t, "--arch", tc.arch, "--crop", tc.crop)
		if len(rows) != 1 || rows[0].MACs != tc.macs || rows[0].Name != tc.arch {
			t.Errorf("%s@%s: %+v, want macs %d", tc.arch, tc.crop, rows, tc.macs)
		}
	}
	// 10 classes: only the classifier changes: (2048+1)×(400-10) fewer params.
	rows := infoJSON(t, "--arch", "x3d-xs", "--num-classes", "10")
	if want := int64(3_794_274 - 2049*390); rows[0].Params != want || rows[0].MACs != 605_256_512-2048*390 {
		t.Errorf("10 classes: params %d macs %d, want params %d", rows[0].Params, rows[0].MACs, want)
	}
}

func TestModelInfoCustomFactors(t *testing.T) {
	// x3d-m's factors spelled out by hand give x3d-m's numbers.
	rows := infoJSON(t, "--frames", "16", "--sampling-rate", "5", "--train-crop", "224", "--width", "2", "--bottleneck", "2.25", "--depth", "2.2", "--name", "mine")
	if len(rows) != 1 || rows[0].Name != "mine" || rows[0].MACs != 4_732_468_736 || rows[0].Params != 3_794_274 {
		t.Fatalf("custom = %+v", rows)
	}
	// Overriding a preset's factor renames it and changes the cost.
	rows = infoJSON(t, "--arch", "x3d-m", "--frames", "8")
	if rows[0].Name != "custom" || rows[0].Frames != 8 || rows[0].MACs >= 4_732_468_736 || rows[0].Params != 3_794_274 {
		t.Errorf("x3d-m with 8 frames = %+v", rows[0])
	}
	// Expansion steps from x3d-xs at depth 2: frame rate ×2.4 (4×12 -> 10×5), frames ×1.6 (16×5),
	// crop ×1.95 (160 -> 312), depth ×2.5 (5.0): that is x3d-l.
	rows = infoJSON(t, "--arch", "x3d-xs", "--depth", "2", "--expand", "frame_rate=2.4", "--expand", "frames=1.6",
		"--expand", "spatial=1.95", "--expand", "depth=2.5")
	if rows[0].Params != 6_153_384 || rows[0].MACs != 18_367_710_176 {
		t.Errorf("expanded to x3d-l: %+v", rows[0])
	}
	// --layers adds the breakdown, which sums to the total.
	rows = infoJSON(t, "--arch", "x3d-xs", "--layers")
	var macs int64
	for _, l := range rows[0].Layers {
		macs += l.MACs
	}
	if len(rows[0].Layers) == 0 || macs != rows[0].MACs || rows[0].Layers[0].Name != "stem.conv_xy" {
		t.Errorf("layers: %d layers summing to %d, total %d", len(rows[0].Layers), macs, rows[0].MACs)
	}
}

func TestModelInfoTableAndSpec(t *testing.T) {
	code, out, _ := runCLI(t, "model", "info")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range []string{"x3d-xs", "4×12", "0.61", "605256512", "x3d-xl", "48.42", "11.10"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	code, out, _ = runCLI(t, "model", "info", "--arch", "x3d-s", "--layers")
	if code != 0 || !strings.Contains(out, "res5.0.se.fc1") || !strings.Contains(out, "head.proj") {
		t.Errorf("--layers table (exit %d):\n%s", code, out)
	}

	code, out, errOut := runCLI(t, "model", "info", "--arch", "x3d-xs", "--spec", "--num-classes", "7")
	if code != 0 {
		t.Fatalf("--spec exit %d: %s", code, errOut)
	}
	a, err := x3d.ParseArch([]byte(out))
	if err != nil {
		t.Fatalf("spec does not parse: %v\n%s", err, out)
	}
	want, _ := x3d.Preset("x3d-xs", 7)
	if a.Name != "x3d-xs" || a.NumClasses != 7 || a.Cost().MACs != want.Cost().MACs || len(a.Stages) != 4 {
		t.Errorf("spec = %+v", a)
	}
}

func TestModelInfoErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"model"}, 2, "usage"},
		{[]string{"model", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"model", "info", "--bogus"}, 2, "bogus"},
		{[]string{"model", "info", "--arch", "x3d-huge"}, 1, "unknown preset"},
		{[]string{"model", "info", "--arch", "x3d-xs", "--crop", "100"}, 1, "smaller than the pool kernel"},
		{[]string{"model", "info", "--crop", "-3"}, 1, "positive"},
		{[]string{"model", "info", "--num-classes", "0"}, 1, "at least 1"},
		{[]string{"model", "info", "--width", "-1"}, 1, "width"},
		{[]string{"model", "info", "--spec"}, 1, "--arch"},
		{[]string{"model", "info", "--arch", "x3d-xs", "--expand", "colour=2"}, 1, "unknown expansion axis"},
		{[]string{"model", "info", "--arch", "x3d-xs", "--expand", "depth"}, 1, "AXIS=MULTIPLIER"},
		{[]string{"model", "info", "extra"}, 2, "unexpected argument"},
		{[]string{"model", "info", "--model", "x.onnx", "--arch", "x3d-xs"}, 1, "cannot be combined"},
		{[]string{"model", "info", "--model", filepath.Join(t.TempDir(), "missing.onnx")}, 1, "missing.onnx"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d stderr %q; want exit %d mentioning %q", tc.args, code, errOut, tc.code, tc.msg)
		}
		if out != "" {
			t.Errorf("%v: wrote to stdout on error: %q", tc.args, out)
		}
	}
}

func TestModelInfoModelFile(t *testing.T) {
	arch, err := x3d.Preset("x3d-xs", 2)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(arch)
	cost := arch.Cost()
	meta := [][2]string{
		{"actionstream.schema_version", "1"},
		{"actionstream.name", "x3d-xs-test"},
		{"actionstream.task", "classification"},
		{"actionstream.labels", `["left","right"]`},
		{"actionstream.frames", "4"},
		{"actionstream.sampling_rate", "12"},
		{"actionstream.crop_size", "160"},
		{"actionstream.resize_short_side", "182"},
		{"actionstream.mean", "[0.45,0.45,0.45]"},
		{"actionstream.std", "[0.225,0.225,0.225]"},
		{"actionstream.score", "softmax"},
		{"actionstream.architecture", string(spec)},
		{"actionstream.macs", "605252000"},
		{"actionstream.params", "3000000"},
		{"actionstream.trained_on", "random-init"},
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(path, onnxFixture(meta, []int64{3, 4, 160, 160}, 2), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, "model", "info", "--model", path, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got modelinfo.ModelFile
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "x3d-xs-test" || got.Frames != 4 || got.SamplingRate != 12 || got.CropSize != 160 || got.ResizeShortSide != 182 ||
		len(got.Labels) != 2 || got.Labels[1] != "right" || got.Score != "softmax" || got.MACs != 605252000 || got.Params != 3000000 {
		t.Errorf("metadata = %+v", got)
	}
	if got.CountedMACs != cost.MACs || got.CountedParams != cost.Params {
		t.Errorf("counted %d/%d, want %d/%d", got.CountedMACs, got.CountedParams, cost.MACs, cost.Params)
	}

	code, out, _ = runCLI(t, "model", "info", "--model", path)
	if code != 0 || !strings.Contains(out, "x3d-xs-test") || !strings.Contains(out, "left, right") || !strings.Contains(out, "random-init") {
		t.Errorf("text (exit %d):\n%s", code, out)
	}

	// A rank-4 input breaks the contract; the error says so.
	if err := os.WriteFile(path, onnxFixture(meta, []int64{3, 160, 160}, 2), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "model", "info", "--model", path)
	if code != 1 || !strings.Contains(errOut, "rank") {
		t.Errorf("rank-4 input: exit %d, stderr %q", code, errOut)
	}
}

// onnxFixture encodes a minimal ONNX ModelProto: metadata_props, one float
// input "clip" [N, dims...] and one float output "logits" [N, classes]. The
// graph has no nodes; only the metadata reader sees it.
func onnxFixture(meta [][2]string, dims []int64, classes int64) []byte {
	var model []byte
	model = pbVarint(model, 1, 8) // ir_version
	opset := pbVarint(pbBytes(nil, 1, []byte("")), 2, 13)
	model = pbBytes(model, 8, opset)
	graph := pbBytes(nil, 2, []byte("fixture"))
	graph = pbBytes(graph, 11, valueInfo("clip", append([]int64{-1}, dims...)))
	graph = pbBytes(graph, 12, valueInfo("logits", []int64{-1, classes}))
	model = pbBytes(model, 7, graph)
	for _, kv := range meta {
		model = pbBytes(model, 14, pbBytes(pbBytes(nil, 1, []byte(kv[0])), 2, []byte(kv[1])))
	}
	return model
}

// valueInfo is a float32 tensor ValueInfoProto; a negative dim is the symbolic "N".
func valueInfo(name string, dims []int64) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		if d < 0 {
			dim = pbBytes(nil, 2, []byte("N"))
		} else {
			dim = pbVarint(nil, 1, uint64(d))
		}
		shape = pbBytes(shape, 1, dim)
	}
	tensor := pbBytes(pbVarint(nil, 1, 1), 2, shape)
	typ := pbBytes(nil, 1, tensor)
	return pbBytes(pbBytes(nil, 1, []byte(name)), 2, typ)
}

func pbVarint(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func pbBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
