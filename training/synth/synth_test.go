package synth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// tiny is a config small enough to render and encode in well under a second per video.
func tiny(videos int, seed uint64) Config {
	return Config{Videos: videos, Seed: seed, Width: 64, Height: 48, MinSeconds: 0.6, MaxSeconds: 1,
		FPS: []FPSWeight{{30, 1}, {25, 1}, {15, 1}}}
}

func TestPlanIsAFunctionOfConfig(t *testing.T) {
	a, err := NewPlan(tiny(30, 42))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewPlan(tiny(30, 42))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same config and seed gave different plans")
	}
	c, _ := NewPlan(tiny(30, 43))
	if reflect.DeepEqual(a.Videos, c.Videos) {
		t.Fatal("different seeds gave the same plan")
	}
	// A video's parameters do not depend on how many videos follow it.
	d, _ := NewPlan(tiny(31, 42))
	sameVideo := 0
	for i := range a.Videos {
		va, vd := a.Videos[i], d.Videos[i]
		va.Label, vd.Label, va.Split, vd.Split = "", "", "", ""
		va.Actors, vd.Actors = nil, nil
		if reflect.DeepEqual(va, vd) {
			sameVideo++
		}
	}
	if sameVideo != len(a.Videos) {
		t.Fatalf("only %d/%d videos kept timing/background when one video was added", sameVideo, len(a.Videos))
	}
}

func TestRenderedFramesReproducible(t *testing.T) {
	a, _ := NewPlan(tiny(3, 9))
	b, _ := NewPlan(tiny(3, 9))
	c, _ := NewPlan(tiny(3, 10))
	for i := range a.Videos {
		da, db, dc := FrameDigest(a.Videos[i]), FrameDigest(b.Videos[i]), FrameDigest(c.Videos[i])
		if da != db {
			t.Fatalf("video %d: same seed rendered differently: %s vs %s", i, da, db)
		}
		if da == dc {
			t.Fatalf("video %d: different seeds rendered the same frames", i)
		}
	}
	// Frames differ over time (something moves or noise changes) but one frame renders the same twice.
	r := NewRenderer(a.Videos[0])
	f0, _ := r.Frame(0, nil)
	f0b, _ := r.Frame(0, nil)
	f1, _ := r.Frame(a.Videos[0].Frames-1, nil)
	if !bytes.Equal(f0.Pix, f0b.Pix) {
		t.Fatal("frame 0 rendered twice differs")
	}
	if bytes.Equal(f0.Pix, f1.Pix) {
		t.Fatal("first and last frame identical")
	}
}

func TestBalancedLabelsAndStratifiedSplits(t *testing.T) {
	cfg := tiny(90, 5)
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	perClass := map[string]map[string]int{}
	for _, v := range p.Videos {
		if perClass[v.Label] == nil {
			perClass[v.Label] = map[string]int{}
		}
		perClass[v.Label][v.Split]++
	}
	if len(perClass) != len(Classes()) {
		t.Fatalf("got %d classes, want %d", len(perClass), len(Classes()))
	}
	for label, s := range perClass {
		// 10 videos per class, 10% val and 10% test each.
		if s[SplitTrain] != 8 || s[SplitVal] != 1 || s[SplitTest] != 1 {
			t.Errorf("class %s splits %v, want train 8 val 1 test 1", label, s)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{Videos: 0},
		{Videos: 1, Width: 65, Height: 48},
		{Videos: 1, Classes: []string{"jump"}},
		{Videos: 1, Classes: []string{ClassLeft, ClassLeft}},
		{Videos: 1, Actors: 3, Classes: []string{ClassLeft, ClassRight}},
		{Videos: 1, MinSeconds: 5, MaxSeconds: 2},
		{Videos: 1, ValFraction: 0.6, TestFraction: 0.5},
		{Videos: 1, FPS: []FPSWeight{{0, 1}}},
	}
	for i, c := range bad {
		if _, err := NewPlan(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("config %d (%+v): err %v, want ErrBadConfig", i, c, err)
		}
	}
	if _, err := ParseFPS("30=0.5,15"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFPS("x=1"); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("ParseFPS bad: %v", err)
	}
}

// features of one actor at one frame, read from the rendered box.
func boxFeatures(b Box) (cx, cy, size float64) {
	return (b.X1 + b.X2) / 2, (b.Y1 + b.Y2) / 2, math.Sqrt((b.X2 - b.X1) * (b.Y2 - b.Y1))
}

// nearestMean trains a nearest-class-mean classifier on even indices and returns its
// accuracy on odd ones.
func nearestMean(x [][]float64, y []int, classes int) float64 {
	dim := len(x[0])
	mean := make([][]float64, classes)
	count := make([]float64, classes)
	for k := range mean {
		mean[k] = make([]float64, dim)
	}
	// Standardise so one feature's scale does not dominate.
	mu, sd := make([]float64, dim), make([]float64, dim)
	for _, f := range x {
		for d := range dim {
			mu[d] += f[d] / float64(len(x))
		}
	}
	for _, f := range x {
		for d := range dim {
			sd[d] += (f[d] - mu[d]) * (f[d] - mu[d]) / float64(len(x))
		}
	}
	z := func(f []float64) []float64 {
		o := make([]float64, dim)
		for d := range dim {
			o[d] = (f[d] - mu[d]) / math.Max(math.Sqrt(sd[d]), 1e-9)
		}
		return o
	}
	for i := 0; i < len(x); i += 2 {
		f := z(x[i])
		for d := range dim {
			mean[y[i]][d] += f[d]
		}
		count[y[i]]++
	}
	for k := range mean {
		for d := range dim {
			mean[k][d] /= math.Max(count[k], 1)
		}
	}
	right, n := 0, 0
	for i := 1; i < len(x); i += 2 {
		f := z(x[i])
		best, bestD := -1, math.Inf(1)
		for k := range mean {
			d := 0.0
			for j := range dim {
				d += (f[j] - mean[k][j]) * (f[j] - mean[k][j])
			}
			if d < bestD {
				best, bestD = k, d
			}
		}
		if best == y[i] {
			right++
		}
		n++
	}
	return float64(right) / float64(n)
}

// TestOneFrameTellsNothing: where an actor is, how large and how it is oriented in one frame
// carries no label information, while the change over a clip's span does.
func TestOneFrameTellsNothing(t *testing.T) {
	classes := []string{ClassLeft, ClassRight, ClassUp, ClassDown, ClassGrow, ClassShrink, ClassStatic}
	cfg := Config{Videos: 1400, Seed: 3, Width: 96, Height: 72, Classes: classes, FPS: []FPSWeight{{30, 1}}}
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for k, c := range classes {
		index[c] = k
	}
	var single, pair [][]float64
	var y []int
	for _, v := range p.Videos {
		r := NewRenderer(v)
		// One frame anywhere in the video (uniform, from the video's own seed); a pair of
		// frames 1.6 s apart (the span of an X3D-XS clip, 4 samples 12 frames apart at 30 fps).
		_, bs := r.Frame(int(v.Seed%uint64(v.Frames)), nil)
		i := int((v.Seed >> 32) % uint64(v.Frames-48))
		_, b0 := r.Frame(i, nil)
		_, b1 := r.Frame(i+48, nil)
		if len(bs) != 1 || len(b0) != 1 || len(b1) != 1 {
			t.Fatalf("%s: actor left the frame", v.Path)
		}
		xs, ys, ss := boxFeatures(bs[0])
		x0, y0, s0 := boxFeatures(b0[0])
		x1, y1, s1 := boxFeatures(b1[0])
		single = append(single, []float64{xs, ys, ss})
		pair = append(pair, []float64{x1 - x0, y1 - y0, math.Log(s1 / s0)})
		y = append(y, index[v.Label])
	}
	chance := 1 / float64(len(classes))
	accSingle := nearestMean(single, y, len(classes))
	accPair := nearestMean(pair, y, len(classes))
	t.Logf("nearest-mean accuracy: one frame %.3f, two frames %.3f (chance %.3f)", accSingle, accPair, chance)
	if accSingle > chance+0.06 {
		t.Errorf("one frame predicts the label: accuracy %.3f vs chance %.3f", accSingle, chance)
	}
	if accPair < 0.8 {
		t.Errorf("motion between two frames should reveal the label: accuracy %.3f", accPair)
	}
}

// TestGenerateWithFFmpeg encodes a tiny dataset with the real ffmpeg CLI and checks the
// files: frame counts and rates, decoded pixels close to the rendered ones, index files, and
// that two runs (different worker counts) write identical labels and boxes.
func TestGenerateWithFFmpeg(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required: %v", tool, err)
		}
	}
	cfg := tiny(4, 11)
	cfg.Actors = 2
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	if err := Generate(context.Background(), p, dirA, Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	p2, _ := NewPlan(cfg)
	if err := Generate(context.Background(), p2, dirB, Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{LabelsFile, BoxesFile, ClassesFile, PlanFile} {
		a, err1 := os.ReadFile(filepath.Join(dirA, f))
		b, err2 := os.ReadFile(filepath.Join(dirB, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs between two runs of one seed (%v %v)", f, err1, err2)
		}
	}

	// labels.csv: header, one row per video, paths relative to the CSV and existing.
	f, _ := os.Open(filepath.Join(dirA, LabelsFile))
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], []string{"path", "label", "split"}) || len(rows) != 5 {
		t.Fatalf("labels.csv rows %v", rows)
	}
	for _, row := range rows[1:] {
		if _, err := os.Stat(filepath.Join(dirA, row[0])); err != nil {
			t.Fatal(err)
		}
		if parts := strings.Split(row[1], "|"); len(parts) != 2 || parts[0] == parts[1] {
			t.Fatalf("two-actor label %q", row[1])
		}
	}

	// boxes.jsonl: one line per frame of every video, in order, with both actors' boxes.
	bf, _ := os.Open(filepath.Join(dirA, BoxesFile))
	defer bf.Close()
	sc := bufio.NewScanner(bf)
	lines := 0
	for vi, v := range p.Videos {
		for i := range v.Frames {
			if !sc.Scan() {
				t.Fatalf("boxes.jsonl ends at video %d frame %d", vi, i)
			}
			var fl FrameLine
			if err := json.Unmarshal(sc.Bytes(), &fl); err != nil {
				t.Fatal(err)
			}
			if fl.Path != v.Path || fl.Frame != i || math.Abs(fl.PTS-float64(i)/float64(v.FPS)) > 1e-5 {
				t.Fatalf("line %d: %+v, want %s frame %d", lines, fl, v.Path, i)
			}
			if len(fl.Actors) != 2 {
				t.Fatalf("line %d: %d actors", lines, len(fl.Actors))
			}
			for _, b := range fl.Actors {
				if !(0 <= b.X1 && b.X1 < b.X2 && b.X2 <= 1 && 0 <= b.Y1 && b.Y1 < b.Y2 && b.Y2 <= 1) {
					t.Fatalf("line %d: bad box %+v", lines, b)
				}
			}
			lines++
		}
	}
	if sc.Scan() {
		t.Fatal("boxes.jsonl has extra lines")
	}

	back, err := ReadPlan(dirA)
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("dataset.json does not read back as the plan (%v)", err)
	}

	for _, v := range p.Videos {
		checkEncoded(t, filepath.Join(dirA, v.Path), v)
	}
}

// checkEncoded probes the MP4 and compares its decoded frames with the rendered ones.
func checkEncoded(t *testing.T, path string, v Video) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=codec_name,width,height,r_frame_rate,nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	want := "h264," + strconv.Itoa(v.Width) + "," + strconv.Itoa(v.Height) + "," + strconv.Itoa(v.FPS) + "/1," + strconv.Itoa(v.Frames)
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("%s: ffprobe %q, want %q", path, got, want)
	}
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	n := v.Width * v.Height * 3
	if len(raw) != n*v.Frames {
		t.Fatalf("%s: decoded %d bytes, want %d frames of %d", path, len(raw), v.Frames, n)
	}
	r := NewRenderer(v)
	rgb := make([]byte, n)
	for _, i := range []int{0, v.Frames / 2, v.Frames - 1} {
		img, _ := r.Frame(i, nil)
		ToRGB24(img, rgb)
		sum := 0.0
		for k := range rgb {
			sum += math.Abs(float64(rgb[k]) - float64(raw[i*n+k]))
		}
		// yuv420p chroma subsampling on sharp synthetic edges plus noise costs a few levels.
		if mae := sum / float64(n); mae > 12 {
			t.Fatalf("%s frame %d: decoded differs from rendered by %.1f levels on average", path, i, mae)
		}
	}
}
