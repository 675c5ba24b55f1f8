package infer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/infer/detect"
	"github.com/actionstream/actionstream/internal/testkit"
)

// square is a solid square of the detection fixture's colours, in pixels of the S×S crop.
type square struct {
	x, y, side int
	rgb        [3]float32 // 0..1
}

var (
	red  = [3]float32{1, 0, 0}
	blue = [3]float32{0, 0, 1}
)

// detectionClip is a clip of meta's shape whose frames are grey with the squares drawn, normalised.
func detectionClip(meta Metadata, squares ...square) []float32 {
	t, s := meta.Frames, meta.CropSize
	clip := make([]float32, 3*t*s*s)
	for ch := range 3 {
		for f := range t {
			plane := clip[(ch*t+f)*s*s : (ch*t+f+1)*s*s]
			for p := range plane {
				v := float32(0.5)
				x, y := p%s, p/s
				for _, q := range squares {
					if x >= q.x && x < q.x+q.side && y >= q.y && y < q.y+q.side {
						v = q.rgb[ch]
					}
				}
				plane[p] = (v - meta.Mean[ch]) / meta.Std[ch]
			}
		}
	}
	return clip
}

func (q square) box(s int) detect.Box {
	f := float32(s)
	return detect.Box{float32(q.x) / f, float32(q.y) / f, float32(q.x+q.side) / f, float32(q.y+q.side) / f}
}

func TestReadDetectionMetadata(t *testing.T) {
	m, err := ReadMetadata(testkit.DetectionModel(t, testkit.DetectionSingleStage))
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsDetection() || m.Mode != ModeSingleStage || m.Stride != 8 || m.Grid() != 8 || m.Score != ScoreSigmoid || len(m.Labels) != 2 {
		t.Errorf("single-stage metadata = %+v", m)
	}
	r, err := ReadMetadata(testkit.DetectionModel(t, testkit.DetectionRoI))
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsDetection() || r.Mode != ModeRoI || r.Grid() != 0 {
		t.Errorf("RoI metadata = %+v", r)
	}
}

func TestDetectionMetadataRejects(t *testing.T) {
	testkit.NeedsPython(t)
	for _, c := range []struct {
		args  []string
		want  error
		about []string
	}{
		{[]string{"--set", KeyDetectionMode + "=boxes"}, ErrBadMetadata, []string{KeyDetectionMode, "boxes"}},
		{[]string{"--set", KeyDetectionStride + "=7"}, ErrBadMetadata, []string{KeyDetectionStride, "divisor"}},
		{[]string{"--omit", KeyDetectionStride}, ErrNoMetadata, []string{KeyDetectionStride}},
		{[]string{"--set", KeyScore + "=softmax"}, ErrBadMetadata, []string{KeyScore, "sigmoid"}},
		{[]string{"--set", KeyDetectionStride + "=16"}, ErrBadOutput, []string{`"heatmap"`, "grid side 4"}},
		{[]string{"--set", KeyLabels + `=["a","b","c"]`}, ErrBadOutput, []string{`"actions"`, "2 classes", "3 labels"}},
		{[]string{"--mode", "roi", "--set", KeyDetectionMode + "=single_stage", "--set", KeyDetectionStride + "=8"}, ErrBadInput, []string{"rois"}},
		{[]string{"--set", KeyDetectionMode + "=roi"}, ErrBadInput, []string{"rois"}},
	} {
		path := writeDetectionModel(t, c.args...)
		_, err := ReadMetadata(path)
		if !errors.Is(err, c.want) {
			t.Errorf("%v: err = %v, want %v", c.args, err, c.want)
			continue
		}
		for _, s := range c.about {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%v: message %q does not mention %q", c.args, err, s)
			}
		}
	}
}

func writeDetectionModel(t *testing.T, args ...string) string {
	t.Helper()
	out := t.TempDir() + "/model.onnx"
	cmd := execPython(t, append([]string{testkit.DetectionScript(), "--out", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_detect.py %v: %v\n%s", args, err, b)
	}
	return out
}

// The single-stage fixture run in ONNX Runtime through the batcher: two actors, right boxes and
// actions, mapped to the source frame of a wide camera.
func TestSingleStageThroughBatcher(t *testing.T) {
	r := newRuntime(t, Options{})
	m := openModel(t, r, testkit.DetectionModel(t, testkit.DetectionSingleStage))
	s := m.Meta.CropSize
	wave := square{x: 8, y: 12, side: 16, rgb: red}
	walk := square{x: 40, y: 36, side: 12, rgb: blue}

	var mu sync.Mutex
	var got []Result
	b, err := NewBatcher(m, BatcherConfig{MaxBatch: 2}, func(res Result) {
		mu.Lock()
		got = append(got, res)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	// Stream "square" has a crop-sized frame; stream "wide" a 160x90 frame (resized to 114x64, crop
	// at x 25), with only the red actor.
	mk := func(stream string, w, h int, sq ...square) *clipper.Clip {
		return &clipper.Clip{Stream: stream, Frames: m.Meta.Frames, Size: s, Tensor: detectionClip(m.Meta, sq...),
			Key: 1234, SourceWidth: w, SourceHeight: h}
	}
	b.SetStreams(2)
	if err := b.Submit(mk("square", s, s, wave, walk)); err != nil {
		t.Fatal(err)
	}
	if err := b.Submit(mk("wide", 160, 90, wave)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d results, want 2", len(got))
	}
	for _, res := range got {
		if res.Err != nil {
			t.Fatalf("%s: %v", res.Stream, res.Err)
		}
		if res.Key != 1234 {
			t.Errorf("%s: key frame PTS %v, want the clip's 1234ns", res.Stream, res.Key)
		}
		switch res.Stream {
		case "square":
			if len(res.Actors) != 2 {
				t.Fatalf("square: %d actors, want 2: %+v", len(res.Actors), res.Actors)
			}
			checkActor(t, "square wave", res.Actors, wave.box(s), 0)
			checkActor(t, "square walk", res.Actors, walk.box(s), 1)
			if res.Scores[0] < 0.9 || res.Scores[1] < 0.9 {
				t.Errorf("clip scores %v: want each label's best actor score", res.Scores)
			}
		case "wide":
			if len(res.Actors) != 1 {
				t.Fatalf("wide: %d actors, want 1: %+v", len(res.Actors), res.Actors)
			}
			crop, _ := detect.CropOf(160, 90, m.Meta.ResizeShortSide, s)
			want := crop.ToSource(wave.box(s))
			// 8 px into a crop starting 25 px into a 114 px wide frame.
			if want[0] < 0.28 || want[0] > 0.3 {
				t.Fatalf("test arithmetic: mapped x1 %v", want[0])
			}
			checkActor(t, "wide wave", res.Actors, want, 0)
		}
	}
}

// checkActor: some actor's box overlaps want by IoU >= 0.9 and label has its best score.
func checkActor(t *testing.T, name string, actors []Actor, want detect.Box, label int) {
	t.Helper()
	for _, a := range actors {
		if detect.IoU(a.Box, want) < 0.9 {
			continue
		}
		if a.Scores[label] < 0.9 || a.Scores[1-label] > 0.1 || a.Score < 0.3 {
			t.Errorf("%s: actor %+v: scores do not name label %d", name, a, label)
		}
		return
	}
	t.Errorf("%s: no actor box near %v in %+v", name, want, actors)
}

// The RoI fixture classifies the boxes a single-stage model finds (BoxSource), and refuses to run
// without a box source.
func TestRoIWithSingleStageBoxes(t *testing.T) {
	r := newRuntime(t, Options{})
	single := openModel(t, r, testkit.DetectionModel(t, testkit.DetectionSingleStage))
	roi := openModel(t, r, testkit.DetectionModel(t, testkit.DetectionRoI))
	s := roi.Meta.CropSize
	wave := square{x: 4, y: 40, side: 14, rgb: red}
	walk := square{x: 36, y: 6, side: 20, rgb: blue}
	input := append(detectionClip(roi.Meta, wave, walk), detectionClip(roi.Meta)...) // the second clip is empty

	if !roi.NeedsBoxSource() {
		t.Fatal("an RoI model without a box source says it needs none")
	}
	o := roi.NewOutputs(2)
	if err := roi.RunOutputs(input, 2, o); !errors.Is(err, ErrNoBoxSource) {
		t.Fatalf("RunOutputs without boxes: err = %v, want ErrNoBoxSource", err)
	}
	roi.SetBoxSource(single)
	if err := roi.RunOutputs(input, 2, o); err != nil {
		t.Fatal(err)
	}
	var sc ScoredClip
	if err := roi.ScoreClip(o, 0, &clipper.Clip{}, &sc); err != nil {
		t.Fatal(err)
	}
	if len(sc.Actors) != 2 {
		t.Fatalf("%d actors, want 2: %+v", len(sc.Actors), sc.Actors)
	}
	checkActor(t, "roi wave", sc.Actors, wave.box(s), 0)
	checkActor(t, "roi walk", sc.Actors, walk.box(s), 1)
	var empty ScoredClip
	if err := roi.ScoreClip(o, 1, &clipper.Clip{}, &empty); err != nil || len(empty.Actors) != 0 || empty.Scores[0] != 0 {
		t.Errorf("empty clip: %+v, %v; want no actor and zero scores", empty, err)
	}
	// RunInto (bench, warm-up) serves detection models too: each clip's best score per label.
	out := make([]float32, 4)
	if err := roi.RunInto(input, 2, out); err != nil || out[0] < 0.9 || out[1] < 0.9 || out[2] != 0 || out[3] != 0 {
		t.Errorf("RunInto = %v, %v; want [~1 ~1 0 0]", out, err)
	}
	// The cap on actors per clip holds in RoI mode too.
	if err := roi.SetDetection(DetectionConfig{MinActorScore: 0.3, MaxActors: 1}); err != nil {
		t.Fatal(err)
	}
	if err := roi.RunOutputs(input, 2, o); err != nil {
		t.Fatal(err)
	}
	if err := roi.ScoreClip(o, 0, &clipper.Clip{}, &sc); err != nil || len(sc.Actors) != 1 {
		t.Errorf("max_actors 1: %d actors, %v", len(sc.Actors), err)
	}
	if err := roi.SetDetection(DetectionConfig{MinActorScore: 2, MaxActors: -1}); !errors.Is(err, ErrBadOptions) ||
		!strings.Contains(err.Error(), "min_actor_score") || !strings.Contains(err.Error(), "max_actors") {
		t.Errorf("bad detection config: %v", err)
	}
}

func TestKeyFrameRGBA(t *testing.T) {
	meta, err := ReadMetadata(testkit.DetectionModel(t, testkit.DetectionSingleStage))
	if err != nil {
		t.Fatal(err)
	}
	clip := detectionClip(meta, square{x: 10, y: 20, side: 4, rgb: red})
	img, err := KeyFrameRGBA(clip, meta)
	if err != nil {
		t.Fatal(err)
	}
	if c := img.RGBAAt(11, 21); c.R != 255 || c.G != 0 || c.B != 0 {
		t.Errorf("inside the square: %v, want red", c)
	}
	if c := img.RGBAAt(0, 0); c.R != 128 || c.G != 128 {
		t.Errorf("background: %v, want grey", c)
	}
	if _, err := KeyFrameRGBA(clip[:10], meta); !errors.Is(err, ErrClipShape) {
		t.Errorf("short clip: err = %v", err)
	}
}
