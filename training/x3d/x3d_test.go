package x3d

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// The published counts (400 classes, one clip) the counter must reproduce exactly.
func TestPresetCostsExact(t *testing.T) {
	cases := []struct {
		name                     string
		frames, tau, crop        int
		macs, params, paramsNoBN int64
	}{
		{"x3d-xs", 4, 12, 160, 605_256_512, 3_794_274, 3_762_858},
		{"x3d-s", 13, 6, 160, 1_962_892_112, 3_794_274, 3_762_858},
		{"x3d-m", 16, 5, 224, 4_732_468_736, 3_794_274, 3_762_858},
		{"x3d-l", 16, 5, 312, 18_367_710_176, 6_153_384, 6_087_120},
		{"x3d-xl", 16, 5, 356, 48_423_725_120, 11_095_840, 11_000_260},
	}
	for _, tc := range cases {
		a, err := Preset(tc.name, 400)
		if err != nil {
			t.Fatal(err)
		}
		if a.Frames != tc.frames || a.SamplingRate != tc.tau || a.CropSize != tc.crop {
			t.Errorf("%s: %dx%d@%d, want %dx%d@%d", tc.name, a.Frames, a.SamplingRate, a.CropSize, tc.frames, tc.tau, tc.crop)
		}
		c := a.Cost()
		if c.MACs != tc.macs || c.Params != tc.params || c.ParamsExcludingBN != tc.paramsNoBN {
			t.Errorf("%s: macs %d params %d excl. BN %d; want %d %d %d", tc.name, c.MACs, c.Params, c.ParamsExcludingBN, tc.macs, tc.params, tc.paramsNoBN)
		}
		// The breakdown adds up to the totals.
		var macs, params, noBN, acts int64
		for _, l := range c.Layers {
			macs += l.MACs
			params += l.Params
			acts += l.Activations
			if l.Kind != KindBN {
				noBN += l.Params
			}
		}
		if macs != c.MACs || params != c.Params || noBN != c.ParamsExcludingBN || acts != c.Activations {
			t.Errorf("%s: layer sums %d/%d/%d/%d differ from totals %+v", tc.name, macs, params, noBN, acts, c)
		}
	}
}

// Fully convolutional evaluation at the 3-crop test size.
func TestCostAtLargerCrop(t *testing.T) {
	cases := []struct {
		name string
		crop int
		macs int64
	}{
		{"x3d-xs", 182, 843_919_472},
		{"x3d-s", 182, 2_727_045_164},
		{"x3d-m", 256, 6_185_725_184},
		{"x3d-l", 356, 24_777_648_768},
	}
	for _, tc := range cases {
		a, err := Preset(tc.name, 400)
		if err != nil {
			t.Fatal(err)
		}
		c := a.CostAt(tc.crop)
		if c.MACs != tc.macs {
			t.Errorf("%s@%d: macs %d, want %d", tc.name, tc.crop, c.MACs, tc.macs)
		}
		if c.Params != a.Cost().Params {
			t.Errorf("%s@%d: params changed with crop: %d vs %d", tc.name, tc.crop, c.Params, a.Cost().Params)
		}
		proj := c.Layers[len(c.Layers)-1]
		if proj.Name != "head.proj" || proj.Output[2]*proj.Output[3] < 2 {
			t.Errorf("%s@%d: classifier should run at several positions, got %+v", tc.name, tc.crop, proj)
		}
	}
}

// The paper's X2D base: 20.67M multiply-adds and 1.63M params, within 1%.
func TestX2DWithinOnePercent(t *testing.T) {
	a, err := Preset("x2d", 400)
	if err != nil {
		t.Fatal(err)
	}
	c := a.Cost()
	if d := math.Abs(float64(c.MACs)/20.67e6 - 1); d > 0.01 {
		t.Errorf("x2d macs %d off by %.2f%%", c.MACs, 100*d)
	}
	if d := math.Abs(float64(c.Params)/1.63e6 - 1); d > 0.01 {
		t.Errorf("x2d params %d off by %.2f%%", c.Params, 100*d)
	}
}

func TestX3DMStructure(t *testing.T) {
	a, err := Preset("x3d-m", 400)
	if err != nil {
		t.Fatal(err)
	}
	if a.Stem.OutChannels != 24 || a.Stem.TemporalKernel != 5 {
		t.Errorf("stem %+v", a.Stem)
	}
	wantDepth := []int{3, 5, 11, 7}
	wantOut := []int{24, 48, 96, 192}
	wantInner := []int{54, 108, 216, 432}
	wantSE := []int{8, 8, 16, 32}
	for i, st := range a.Stages {
		if len(st.Blocks) != wantDepth[i] {
			t.Errorf("%s: %d blocks, want %d", st.Name, len(st.Blocks), wantDepth[i])
		}
		for j, b := range st.Blocks {
			if b.OutChannels != wantOut[i] || b.InnerChannels != wantInner[i] {
				t.Errorf("%s.%d: %+v", st.Name, j, b)
			}
			se := 0
			if j%2 == 0 {
				se = wantSE[i]
			}
			if b.SEChannels != se {
				t.Errorf("%s.%d: se %d want %d", st.Name, j, b.SEChannels, se)
			}
			wantShortcut, wantStride := ShortcutIdentity, 1
			if j == 0 {
				wantShortcut, wantStride = ShortcutConvBN, 2
				if i == 0 {
					wantShortcut = ShortcutConv // 24 -> 24: projection without BN
				}
			}
			if b.Shortcut != wantShortcut || b.SpatialStride != wantStride {
				t.Errorf("%s.%d: shortcut %s stride %d", st.Name, j, b.Shortcut, b.SpatialStride)
			}
		}
	}
	if a.Head.ConvChannels != 432 || a.Head.FCChannels != 2048 || a.Head.PoolKernel != [3]int{16, 7, 7} {
		t.Errorf("head %+v", a.Head)
	}
	xl, _ := Preset("x3d-xl", 400)
	if xl.Head.PoolKernel != [3]int{16, 10, 10} || xl.CropSize != 356 {
		t.Errorf("x3d-xl pools as trained at 312: %+v crop %d", xl.Head, xl.CropSize)
	}
}

func TestRoundWidth(t *testing.T) {
	cases := []struct {
		w    int
		m    float64
		want int
	}{
		{12, 2.0, 24}, {12, 2.9, 32}, {24, 2.9, 72}, {48, 2.9, 136}, {96, 2.9, 280},
		{54, 0.0625, 8}, {432, 0.0625, 32}, {630, 0.0625, 40}, {1, 1, 8}, {20, 1, 24}, {11, 1, 16},
		// 0.9 rule: 140/4=35 -> 32 (>= 31.5) stays; 108/4=27 -> 24 < 24.3 gets +8
		{68, 1, 72}, {140, 0.25, 32}, {108, 0.25, 32},
	}
	for _, tc := range cases {
		if got := roundWidth(tc.w, tc.m); got != tc.want {
			t.Errorf("roundWidth(%d, %v) = %d, want %d", tc.w, tc.m, got, tc.want)
		}
	}
}

// The JSON carries exactly the contract's field names.
func TestArchJSONFields(t *testing.T) {
	a, err := Preset("x3d-xs", 400)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "name", "num_classes", "frames", "sampling_rate", "crop_size", "factors", "stem", "stages", "head", "bn_eps", "bn_momentum"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing top-level key %q", k)
		}
	}
	stem := m["stem"].(map[string]any)
	for _, k := range []string{"in_channels", "out_channels", "spatial_kernel", "spatial_stride", "temporal_kernel"} {
		if _, ok := stem[k]; !ok {
			t.Errorf("stem missing %q", k)
		}
	}
	b0 := m["stages"].([]any)[0].(map[string]any)["blocks"].([]any)[0].(map[string]any)
	want := map[string]any{"in_channels": 24.0, "inner_channels": 54.0, "out_channels": 24.0, "spatial_stride": 2.0, "se_channels": 8.0, "shortcut": "conv"}
	if !reflect.DeepEqual(b0, want) {
		t.Errorf("res2 block 0 = %v, want %v", b0, want)
	}
	head := m["head"].(map[string]any)
	wantHead := map[string]any{"in_channels": 192.0, "conv_channels": 432.0, "fc_channels": 2048.0, "pool_kernel": []any{4.0, 5.0, 5.0}, "dropout": 0.5}
	if !reflect.DeepEqual(head, wantHead) {
		t.Errorf("head = %v, want %v", head, wantHead)
	}
	back, err := ParseArch(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, a) {
		t.Errorf("round trip changed the arch")
	}
	if _, err := ParseArch([]byte(strings.Replace(string(data), `"shortcut":"conv"`, `"shortcut":"weird"`, 1))); !errors.Is(err, ErrBadArch) {
		t.Errorf("bad shortcut: err %v", err)
	}
	if _, err := ParseArch([]byte(`{"schema_version":1,"extra":1}`)); !errors.Is(err, ErrBadArch) {
		t.Errorf("unknown field: err %v", err)
	}
}

func TestScaleAxes(t *testing.T) {
	base, err := PresetFactors("x2d")
	if err != nil {
		t.Fatal(err)
	}
	baseCost := mustCost(t, base)
	for _, ax := range Axes() {
		f, err := base.Scale(ax, 2)
		if err != nil {
			t.Fatalf("%s: %v", ax, err)
		}
		c := mustCost(t, f)
		if c.MACs <= baseCost.MACs {
			t.Errorf("%s x2: macs %d not above base %d", ax, c.MACs, baseCost.MACs)
		}
		if (ax == AxisFrameRate || ax == AxisFrames || ax == AxisSpatial) && c.Params != baseCost.Params {
			t.Errorf("%s changes params: %d vs %d", ax, c.Params, baseCost.Params)
		}
	}
	f, _ := PresetFactors("x3d-m")
	g, _ := f.Scale(AxisFrameRate, 2)
	if g.Frames != 32 || g.SamplingRate != 3 { // 5/2 rounds half away from zero
		t.Errorf("frame_rate x2 of 16x5 = %dx%d, want 32x3", g.Frames, g.SamplingRate)
	}
	g, _ = f.Scale(AxisFrames, 0.5)
	if g.Frames != 8 || g.SamplingRate != 5 {
		t.Errorf("frames x0.5 of 16x5 = %dx%d", g.Frames, g.SamplingRate)
	}
	g, _ = PresetFactors("x2d")
	g, _ = g.Scale(AxisSpatial, math.Sqrt2)
	if g.Crop != 160 {
		t.Errorf("spatial x√2 of 112 = %d, want 160", g.Crop)
	}
	xl, _ := PresetFactors("x3d-xl")
	g, _ = xl.Scale(AxisSpatial, 1)
	if g.PoolCrop != 0 {
		t.Errorf("scaling the crop should reset the pool crop")
	}
	if _, err := f.Scale(AxisDepth, 0); !errors.Is(err, ErrBadFactors) {
		t.Errorf("scale 0: err %v", err)
	}
	if _, err := f.Scale("colour", 2); !errors.Is(err, ErrUnknownAxis) {
		t.Errorf("unknown axis: err %v", err)
	}
	if _, err := ParseAxis("bottleneck"); err != nil {
		t.Error(err)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Preset("x3d-huge", 400); !errors.Is(err, ErrUnknownPreset) {
		t.Errorf("unknown preset: %v", err)
	}
	if _, err := Preset("x3d-xs", 0); !errors.Is(err, ErrBadFactors) {
		t.Errorf("0 classes: %v", err)
	}
	f, _ := PresetFactors("x3d-xs")
	for _, bad := range []Factors{
		{Frames: 0, SamplingRate: 1, Crop: 160, Width: 1, Bottleneck: 1, Depth: 1},
		{Frames: 1, SamplingRate: 1, Crop: 16, Width: 1, Bottleneck: 1, Depth: 1},
		{Frames: 1, SamplingRate: 1, Crop: 160, Width: math.NaN(), Bottleneck: 1, Depth: 1},
		{Frames: 1, SamplingRate: 1, Crop: 160, PoolCrop: 200, Width: 1, Bottleneck: 1, Depth: 1},
	} {
		if _, err := Build(bad, "bad", 10); !errors.Is(err, ErrBadFactors) {
			t.Errorf("Build(%+v): err %v", bad, err)
		}
	}
	a, _ := Build(f, "xs", 10)
	if err := a.CheckCrop(128); !errors.Is(err, ErrBadCrop) {
		t.Errorf("crop below the pool kernel: %v", err)
	}
	if c := a.CostAt(128); c.MACs != 0 || c.Layers != nil {
		t.Errorf("CostAt an invalid crop should be zero, got %d", c.MACs)
	}
}

func mustCost(t *testing.T, f Factors) Cost {
	t.Helper()
	a, err := Build(f, "t", 400)
	if err != nil {
		t.Fatal(err)
	}
	return a.Cost()
}
