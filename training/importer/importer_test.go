package importer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
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

// The fixture network: X3D-XS widths (γw 2, γb 2.25) at depth 1 (1,2,5,3 blocks),
// 4 frames of 64², 5 classes; small enough for CI, deep enough for every layout rule
// (res2's projection without a width change, SE on every other block, stages of 1-5).
var fixtureFactors = x3d.Factors{Frames: 4, SamplingRate: 12, Crop: 64, Width: 2, Bottleneck: 2.25, Depth: 1}

const fixtureClasses = 5

func newRunner(t *testing.T, ctx context.Context) *python.Runner {
	t.Helper()
	r, err := python.New(ctx, python.Options{CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixture runs testdata/x3d_fixtures.py, the networks written after each project's
// own module tree, and returns the checkpoint path; extra args are passed through.
func fixture(t *testing.T, ctx context.Context, r *python.Runner, scheme string, f x3d.Factors, extra ...string) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "x3d_fixtures.py"))
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(t.TempDir(), scheme+".pyth")
	args := append([]string{script, "--scheme", scheme, "--width", fmt.Sprint(f.Width), "--bottleneck", fmt.Sprint(f.Bottleneck),
		"--depth", fmt.Sprint(f.Depth), "--frames", fmt.Sprint(f.Frames), "--crop", fmt.Sprint(f.Crop),
		"--classes", fmt.Sprint(fixtureClasses), "--out", ck}, extra...)
	if out, err := exec.CommandContext(ctx, r.Python(), args...).CombinedOutput(); err != nil {
		t.Fatalf("fixture %s: %v\n%s", scheme, err, out)
	}
	return ck
}

func softmax(x []float32, classes int) []float32 {
	out := make([]float32, len(x))
	for i := 0; i < len(x); i += classes {
		m := math.Inf(-1)
		for _, v := range x[i : i+classes] {
			m = math.Max(m, float64(v))
		}
		var sum float64
		for j, v := range x[i : i+classes] {
			e := math.Exp(float64(v) - m)
			out[i+j] = float32(e)
			sum += e
		}
		for j := range classes {
			out[i+j] = float32(float64(out[i+j]) / sum)
		}
	}
	return out
}

// A checkpoint in each public layout, with random weights everywhere (BN statistics
// included), imported to ONNX, gives through ONNX Runtime what that project's own
// network computes in eval mode: logits for PyTorchVideo and MMAction2, SlowFast's
// softmax probabilities. The fixture's keys are checked against literal keys read off
// each project's source, so the fixture cannot drift into our own reading.
func TestImportMatchesSourceNetworks(t *testing.T) {
	testkit.NeedsPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newRunner(t, ctx)
	arch, err := x3d.Build(fixtureFactors, "x3d-xs-d1", fixtureClasses)
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
	x := make([]float32, batch*3*fixtureFactors.Frames*fixtureFactors.Crop*fixtureFactors.Crop)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	// key -> shape (nil: the key must be absent), as each project's source defines them.
	keys := map[string]map[string][]int{
		SchemePyTorchVideo: {
			"blocks.0.conv.conv_t.weight":                           {24, 3, 1, 3, 3}, // spatial, despite the name
			"blocks.0.conv.conv_xy.weight":                          {24, 1, 5, 1, 1},
			"blocks.0.norm.running_var":                             {24},
			"blocks.1.res_blocks.0.branch1_conv.weight":             {24, 24, 1, 1, 1},
			"blocks.1.res_blocks.0.branch1_norm.weight":             nil, // no BN: the width does not change
			"blocks.1.res_blocks.0.branch2.norm_b.0.running_mean":   {54},
			"blocks.1.res_blocks.0.branch2.norm_b.1.block.0.weight": {8, 54, 1, 1, 1},
			"blocks.2.res_blocks.0.branch1_norm.weight":             {48},
			"blocks.2.res_blocks.1.branch2.norm_b.0.weight":         {108}, // BN at norm_b.0 without SE too
			"blocks.2.res_blocks.1.branch2.norm_b.1.block.0.weight": nil,
			"blocks.3.res_blocks.4.branch2.norm_b.1.block.2.bias":   {216},
			"blocks.5.pool.pre_conv.weight":                         {432, 192, 1, 1, 1},
			"blocks.5.pool.post_conv.weight":                        {2048, 432, 1, 1, 1},
			"blocks.5.proj.weight":                                  {5, 2048},
		},
		SchemeSlowFast: {
			"s1.pathway0_stem.conv_xy.weight":         {24, 3, 1, 3, 3},
			"s1.pathway0_stem.conv.weight":            {24, 1, 5, 1, 1},
			"s2.pathway0_res0.branch1_bn.running_var": {24}, // a BN with every projection
			"s3.pathway0_res0.branch2.se.fc1.weight":  {8, 108, 1, 1, 1},
			"s3.pathway0_res1.branch2.b_bn.weight":    {108},
			"s3.pathway0_res1.branch2.se.fc1.weight":  nil,
			"s4.pathway0_res4.branch2.se.fc2.bias":    {216},
			"head.conv_5_bn.num_batches_tracked":      {},
			"head.lin_5.weight":                       {2048, 432, 1, 1, 1},
			"head.projection.bias":                    {5},
		},
		SchemeMMAction2: {
			"backbone.conv1_s.conv.weight":           {24, 3, 1, 3, 3},
			"backbone.conv1_s.bn.weight":             nil,
			"backbone.conv1_t.bn.running_mean":       {24},
			"backbone.layer1.0.downsample.bn.weight": {24},
			"backbone.layer2.1.conv2.conv.weight":    {108, 1, 3, 3, 3},
			"backbone.layer2.1.se_module.fc1.weight": nil,
			"backbone.layer3.2.se_module.fc2.bias":   {216},
			"backbone.conv5.bn.running_var":          {432},
			"cls_head.fc1.weight":                    {2048, 432},
			"cls_head.fc1.bias":                      nil,
			"cls_head.fc2.weight":                    {5, 2048},
		},
	}
	for _, scheme := range Schemes() {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			in, ref, keysPath := filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.f32"), filepath.Join(dir, "keys.json")
			writeF32(t, in, x)
			ck := fixture(t, ctx, r, scheme, fixtureFactors, "--input", in, "--batch", fmt.Sprint(batch), "--output", ref, "--keys", keysPath)
			want := readF32(t, ref)
			var got map[string][]int
			b, err := os.ReadFile(keysPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			for k, shape := range keys[scheme] {
				s, ok := got[k]
				switch {
				case shape == nil && ok:
					t.Errorf("fixture has %s %v, which %s does not", k, s, scheme)
				case shape != nil && (!ok || fmt.Sprint(s) != fmt.Sprint(shape)):
					t.Errorf("fixture key %s: %v (present %v), want %v", k, s, ok, shape)
				}
			}

			model := filepath.Join(dir, "m.onnx")
			res, err := Import(ctx, r, Options{Checkpoint: ck, Arch: arch, Labels: labels, Out: model, Name: "imported"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Scheme != scheme || res.Tensors != len(got) {
				t.Errorf("detected %q with %d tensors, fixture has %d", res.Scheme, res.Tensors, len(got))
			}
			if res2 := res.Arch.Stages[0].Blocks[0].Shortcut; (scheme == SchemePyTorchVideo) != (res2 == x3d.ShortcutConv) {
				t.Errorf("res2 shortcut %q", res2)
			}
			m, err := rt.Open(model)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Meta.Name != "imported" || m.Meta.Labels[4] != "e" || m.Meta.MACs != res.Arch.Cost().MACs {
				t.Errorf("metadata %+v", m.Meta)
			}
			out, err := m.Run(x, batch)
			if err != nil {
				t.Fatal(err)
			}
			if scheme == SchemeSlowFast {
				out = softmax(out, fixtureClasses)
			}
			var maxAbs, maxDiff float64
			for i := range want {
				maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
				maxDiff = math.Max(maxDiff, math.Abs(float64(out[i]-want[i])))
			}
			t.Logf("%s: max |output| %.3g, max diff %.3g", scheme, maxAbs, maxDiff)
			if len(out) != len(want) || maxAbs < 0.1 || maxDiff > 1e-4 {
				t.Fatalf("imported model differs from %s's network: max diff %g (max |output| %g)\ngot  %v\nwant %v",
					scheme, maxDiff, maxAbs, out, want)
			}
		})
	}
}

// What a user meets with a checkpoint that is not one of ours to read: each error
// names the file's problem and, for a layout mismatch, the first bad key.
func TestImportRefusesBadCheckpoints(t *testing.T) {
	testkit.NeedsPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newRunner(t, ctx)
	arch, err := x3d.Build(fixtureFactors, "x3d-xs-d1", fixtureClasses)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pyWrite := func(name, code string) string {
		p := filepath.Join(dir, name)
		if out, err := exec.CommandContext(ctx, r.Python(), "-c", code, p).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return p
	}
	trapDir := filepath.Join(dir, "trap-ran")
	narrow := fixtureFactors
	narrow.Bottleneck = 2
	junk := filepath.Join(dir, "junk.pyth")
	if err := os.WriteFile(junk, []byte("not a checkpoint at all, just text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ck, scheme string
		sentinel         error
		want             []string
	}{
		{"old wrong PyTorchVideo reading", fixture(t, ctx, r, SchemePyTorchVideo, fixtureFactors, "--rename",
			"blocks.2.res_blocks.1.branch2.norm_b.0.weight=blocks.2.res_blocks.1.branch2.norm_b.weight"), "", ErrMismatch,
			[]string{"first bad key blocks.2.res_blocks.1.branch2.norm_b.weight: not part of the pytorchvideo layout",
				"missing (blocks.2.res_blocks.1.branch2.norm_b.0.weight)"}},
		{"other bottleneck width", fixture(t, ctx, r, SchemeMMAction2, narrow), "", ErrMismatch,
			[]string{"first bad key backbone.layer1.0.conv1.conv.weight has shape [48, 24, 1, 1, 1], the architecture wants [54, 24, 1, 1, 1]"}},
		{"hostile pickle", fixture(t, ctx, r, SchemeSlowFast, fixtureFactors, "--booby-trap", trapDir), "", ErrCheckpoint,
			[]string{"refused to unpickle", "posix.mkdir is not allowed", "--trust-checkpoint"}},
		{"unknown layout", pyWrite("resnet.pth", `import sys, torch; torch.save({"state_dict": {"conv1.weight": torch.zeros(2, 3), "fc.bias": torch.zeros(2)}}, sys.argv[1])`),
			"", ErrCheckpoint, []string{"unknown checkpoint layout: first key 'conv1.weight'"}},
		{"wrong --scheme", fixture(t, ctx, r, SchemeSlowFast, fixtureFactors), SchemeMMAction2, ErrCheckpoint,
			[]string{"not a mmaction2 checkpoint: it has no backbone.conv1_s.conv.weight (first key 's1.pathway0_stem.conv_xy.weight')"}},
		{"not a torch file", junk, "", ErrCheckpoint, []string{"junk.pyth: not a PyTorch checkpoint"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out.onnx")
			_, err := Import(ctx, r, Options{Checkpoint: c.ck, Scheme: c.scheme, Arch: arch, Out: out})
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("error %v, want %v", err, c.sentinel)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "Traceback") || strings.Contains(err.Error(), "ImportError_") {
				t.Errorf("error carries Python internals: %v", err)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Error("a model was written")
			}
		})
	}
	if _, err := os.Stat(trapDir); err == nil {
		t.Error("loading the hostile checkpoint ran its code")
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

func TestImportOptions(t *testing.T) {
	_, err := Import(context.Background(), nil, Options{Checkpoint: "x.pyth", Out: "m.onnx", Scheme: "timm"})
	if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "pytorchvideo, slowfast, mmaction2") {
		t.Errorf("unknown scheme: %v", err)
	}
}
