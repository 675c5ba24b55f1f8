package motion

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
)

const testSize = 64

var testGeo = Geometry{Size: testSize, ResizeShortSide: testSize, Mean: [3]float32{0.45, 0.45, 0.45},
	Std: [3]float32{0.225, 0.225, 0.225}, Interval: 400 * time.Millisecond, GapTolerance: 500 * time.Millisecond}

// scene draws a textured still picture with per-pixel noise of ±noise levels (at the crop: a
// camera's ±20 shrinks to about ±4 through a 4× downscale) and, when box >= 0,
// a bright 8×8 square at column box, row 40 (crop pixels), normalized as the decoder does.
func scene(rng *rand.Rand, pts time.Duration, noise float64, box int) *clipper.Frame {
	f := &clipper.Frame{PTS: pts, Pixels: make([]float32, 3*testSize*testSize)}
	for c := 0; c < 3; c++ {
		for y := 0; y < testSize; y++ {
			for x := 0; x < testSize; x++ {
				v := float64((x*7+y*13+c*50)%200) + 20 + (rng.Float64()*2-1)*noise
				if box >= 0 && x >= box && x < box+8 && y >= 40 && y < 48 {
					v = 250
				}
				f.Pixels[(c*testSize+y)*testSize+x] = float32((v/255 - 0.45) / 0.225)
			}
		}
	}
	return f
}

func TestStillNoisySceneHasNoMotion(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := NewMeter(Settings{Enabled: true, Threshold: 0.003, NoiseFloor: 4}, testGeo)
	for i := range 20 {
		m.Observe(scene(rng, time.Duration(i)*400*time.Millisecond, 4, -1), 640, 480)
	}
	level, measured := m.Clip(4*time.Second, 5200*time.Millisecond)
	if !measured || level != 0 {
		t.Fatalf("still scene with ±4 noise: level %v measured %v, want 0 and true", level, measured)
	}
	if !m.Gate(level, measured) {
		t.Error("a still clip is not gated")
	}
	// The stream's first clip holds its first sample, which has nothing to compare with.
	if _, measured := m.Clip(0, 1200*time.Millisecond); measured {
		t.Error("the first clip is measured: it must be scored")
	}
	// The same noise without the floor is motion everywhere: the floor is what makes it still.
	m0 := NewMeter(Settings{Enabled: true, Threshold: 0.003, NoiseFloor: 0}, testGeo)
	for i := range 3 {
		m0.Observe(scene(rng, time.Duration(i)*400*time.Millisecond, 4, -1), 640, 480)
	}
	if level, _ := m0.Clip(400*time.Millisecond, 800*time.Millisecond); level < 0.5 {
		t.Errorf("noise floor 0: level %v, want most cells moving", level)
	}
}

func TestMovingBoxIsMotionUnlessMasked(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	run := func(masks []Rect) (float64, *Meter) {
		m := NewMeter(Settings{Enabled: true, Threshold: 0.003, NoiseFloor: 4, Masks: masks}, testGeo)
		for i := range 6 {
			m.Observe(scene(rng, time.Duration(i)*400*time.Millisecond, 4, 4+i*6), 640, 480)
		}
		level, measured := m.Clip(400*time.Millisecond, 2*time.Second)
		if !measured {
			t.Fatal("not measured")
		}
		return level, m
	}
	level, m := run(nil)
	if level < 0.01 || m.Gate(level, true) {
		t.Fatalf("a moving 8x8 box: level %v (gated %v), want >= 0.01 and scored", level, m.Gate(level, true))
	}
	// 640x480 resized to 85x64, crop columns 10..74 of 85: the box (crop x 4..42, y 40..48)
	// lies in source x 0.16..0.65, y 0.62..0.75.
	level, m = run([]Rect{{X: 0.1, Y: 0.55, W: 0.6, H: 0.25}})
	if level != 0 || !m.Gate(level, true) {
		t.Errorf("the box moves inside a mask: level %v, want 0 and gated", level)
	}
	if c := m.MaskedCells(); c == 0 || c > 80 {
		t.Errorf("masked cells %d", c)
	}
	// A mask elsewhere changes nothing.
	if level, _ := run([]Rect{{X: 0, Y: 0, W: 0.2, H: 0.2}}); level < 0.01 {
		t.Errorf("a mask away from the box: level %v", level)
	}
}

func TestGapsAndResetsAreUnmeasured(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m := NewMeter(Settings{Enabled: true, Threshold: 0.003, NoiseFloor: 4}, testGeo)
	for _, ms := range []int{0, 400, 800, 3000, 3400} { // a 2.2 s gap before 3000
		m.Observe(scene(rng, time.Duration(ms)*time.Millisecond, 5, -1), 640, 480)
	}
	if _, ok := m.Clip(3000*time.Millisecond, 3400*time.Millisecond); ok {
		t.Error("the sample after a gap is measured")
	}
	if _, ok := m.Clip(3400*time.Millisecond, 3400*time.Millisecond); !ok {
		t.Error("the sample after that is not measured")
	}
	m.Reset()
	m.Observe(scene(rng, 3800*time.Millisecond, 5, -1), 640, 480)
	if _, ok := m.Clip(3800*time.Millisecond, 3800*time.Millisecond); ok {
		t.Error("the sample after a reset is measured")
	}
	m.Observe(scene(rng, 4200*time.Millisecond, 5, -1), 1280, 720) // another resolution
	if _, ok := m.Clip(4200*time.Millisecond, 4200*time.Millisecond); ok {
		t.Error("the sample after a resolution change is measured")
	}
	if _, ok := m.Clip(9*time.Second, 10*time.Second); ok {
		t.Error("a span without samples is measured")
	}
	off := NewMeter(Settings{Threshold: 0.5}, testGeo)
	if off.Gate(0, true) {
		t.Error("gating off gates a clip")
	}
}

func TestCropWindowIsTheDecoders(t *testing.T) {
	for _, c := range []struct{ w, h, size, resize, rw, rh, x0, y0 int }{
		{640, 480, 64, 64, 85, 64, 10, 0},
		{1280, 720, 160, 182, 324, 182, 82, 11},
		{480, 640, 64, 0, 64, 85, 0, 10},
	} {
		rw, rh, x0, y0 := CropWindow(c.w, c.h, c.size, c.resize)
		if rw != c.rw || rh != c.rh || x0 != c.x0 || y0 != c.y0 {
			t.Errorf("%dx%d at %d/%d: %d %d %d %d, want %d %d %d %d", c.w, c.h, c.size, c.resize, rw, rh, x0, y0, c.rw, c.rh, c.x0, c.y0)
		}
	}
}

func TestConfig(t *testing.T) {
	on, th := true, 0.02
	c := DefaultConfig()
	c.Masks = []Rect{{X: 0, Y: 0, W: 0.3, H: 0.1}}
	c.Streams = map[string]Override{"cam-1": {Enabled: &on, Threshold: &th, Masks: []Rect{{X: 0.5, Y: 0.5, W: 0.5, H: 0.5}}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := c.For("cam-1")
	if !s.Enabled || s.Threshold != 0.02 || s.NoiseFloor != 4 || len(s.Masks) != 2 {
		t.Errorf("cam-1 settings %+v", s)
	}
	if s := c.For("cam-2"); s.Enabled || s.Threshold != 0.003 || len(s.Masks) != 1 {
		t.Errorf("cam-2 settings %+v", s)
	}
	bad, nf := 1.5, -1.0
	for _, b := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Threshold = 0 }, "threshold must be in (0, 1]"},
		{func(c *Config) { c.NoiseFloor = 300 }, "noise_floor must be in [0, 255)"},
		{func(c *Config) { c.Masks = []Rect{{X: 0.8, Y: 0, W: 0.5, H: 0.1}} }, "masks[0] must lie inside the frame"},
		{func(c *Config) { c.Masks = []Rect{{X: 0, Y: 0, W: 0, H: 0.1}} }, "masks[0] w and h must be > 0"},
		{func(c *Config) { c.Streams = map[string]Override{"cam 1": {}} }, "streams.cam 1 is no stream id"},
		{func(c *Config) { c.Streams = map[string]Override{"c": {Threshold: &bad}} }, "streams.c.threshold"},
		{func(c *Config) { c.Streams = map[string]Override{"c": {NoiseFloor: &nf}} }, "streams.c.noise_floor"},
		{func(c *Config) { c.Streams = map[string]Override{"c": {Masks: []Rect{{X: -1, W: 1, H: 1}}}} }, "streams.c.masks[0] x and y must be >= 0"},
	} {
		c := DefaultConfig()
		b.mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("want an error with %q, got %v", b.want, err)
		}
	}
}
