// Package synth makes a synthetic action-recognition dataset whose labels can only be read
// from motion over time: every actor's shape, colour, texture, size, orientation, position,
// speed, the background and the noise are drawn independently of its action, and the
// single-frame distribution of position, size and angle is the same for every class (a
// still actor sits at a point drawn from the same path a moving one travels), so one frame
// says nothing about the label while two frames a fraction of a second apart do.
//
// A dataset is a Plan (a pure function of Config, seed included), frames rendered from the
// plan in pure Go (Render), and MP4 files encoded by the ffmpeg CLI (Generate). The files
// it writes are described in docs/DATASETS.md.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// The action classes. Directions are in image coordinates as a viewer sees them
// (up = towards the top edge; clockwise as on a clock face on screen).
const (
	ClassLeft      = "move_left"
	ClassRight     = "move_right"
	ClassUp        = "move_up"
	ClassDown      = "move_down"
	ClassRotateCW  = "rotate_cw"
	ClassRotateCCW = "rotate_ccw"
	ClassGrow      = "grow"
	ClassShrink    = "shrink"
	ClassStatic    = "static"
)

// Classes lists every class in a fixed order (the default label order).
func Classes() []string {
	return []string{ClassLeft, ClassRight, ClassUp, ClassDown, ClassRotateCW, ClassRotateCCW,
		ClassGrow, ClassShrink, ClassStatic}
}

// Split names.
const (
	SplitTrain = "train"
	SplitVal   = "val"
	SplitTest  = "test"
)

// FPSWeight is one frame rate and its share of the videos.
type FPSWeight struct {
	FPS    int     `json:"fps"`
	Weight float64 `json:"weight"`
}

// Config describes a dataset. The zero value of a field means its default (see Defaults).
type Config struct {
	Videos       int         `json:"videos"`
	Seed         uint64      `json:"seed"`
	Actors       int         `json:"actors"`        // actors per video, each with a different class
	Width        int         `json:"width"`         // frame size in pixels (even)
	Height       int         `json:"height"`        //
	Classes      []string    `json:"classes"`       // subset of Classes(), in label order
	FPS          []FPSWeight `json:"fps"`           // frame rates and their weights
	MinSeconds   float64     `json:"min_seconds"`   // video duration range
	MaxSeconds   float64     `json:"max_seconds"`   //
	ValFraction  float64     `json:"val_fraction"`  // per class, by a seeded hash order; < 0 = none
	TestFraction float64     `json:"test_fraction"` // (both 0 = the defaults)
}

// Default values of Config fields.
const (
	DefaultWidth        = 224
	DefaultHeight       = 168
	DefaultMinSeconds   = 3
	DefaultMaxSeconds   = 8
	DefaultValFraction  = 0.1
	DefaultTestFraction = 0.1
)

// DefaultFPS is the default frame-rate mix: mostly 30 fps, some 25 and 15 fps so that
// consumers exercise timestamp-based sampling.
func DefaultFPS() []FPSWeight {
	return []FPSWeight{{30, 0.7}, {25, 0.15}, {15, 0.15}}
}

// Defaults returns c with every zero field set to its default. Seed 0 is a valid seed.
func (c Config) Defaults() Config {
	if c.Actors == 0 {
		c.Actors = 1
	}
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = DefaultWidth, DefaultHeight
	}
	if len(c.Classes) == 0 {
		c.Classes = Classes()
	}
	if len(c.FPS) == 0 {
		c.FPS = DefaultFPS()
	}
	if c.MinSeconds == 0 && c.MaxSeconds == 0 {
		c.MinSeconds, c.MaxSeconds = DefaultMinSeconds, DefaultMaxSeconds
	}
	if c.ValFraction == 0 && c.TestFraction == 0 {
		c.ValFraction, c.TestFraction = DefaultValFraction, DefaultTestFraction
	}
	// A negative fraction asks for none (zero would mean "default").
	c.ValFraction, c.TestFraction = max(0, c.ValFraction), max(0, c.TestFraction)
	return c
}

// Validate reports whether c (after Defaults) can make a dataset.
func (c Config) Validate() error {
	known := map[string]bool{}
	for _, k := range Classes() {
		known[k] = true
	}
	seen := map[string]bool{}
	for _, k := range c.Classes {
		if !known[k] {
			return fmt.Errorf("%w: unknown class %q (known: %s)", ErrBadConfig, k, strings.Join(Classes(), ", "))
		}
		if seen[k] {
			return fmt.Errorf("%w: class %q listed twice", ErrBadConfig, k)
		}
		seen[k] = true
	}
	switch {
	case c.Videos < 1:
		return fmt.Errorf("%w: videos must be at least 1", ErrBadConfig)
	case len(c.Classes) < 1:
		return fmt.Errorf("%w: no classes", ErrBadConfig)
	case c.Actors < 1 || c.Actors > len(c.Classes):
		return fmt.Errorf("%w: actors must be 1..%d (each actor has a different class)", ErrBadConfig, len(c.Classes))
	case c.Width < 32 || c.Height < 32 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("%w: size %dx%d must be even and at least 32x32", ErrBadConfig, c.Width, c.Height)
	case c.Width > 4096 || c.Height > 4096:
		return fmt.Errorf("%w: size %dx%d too large", ErrBadConfig, c.Width, c.Height)
	case c.MinSeconds <= 0 || c.MaxSeconds < c.MinSeconds || c.MaxSeconds > 600:
		return fmt.Errorf("%w: duration range %g..%g s", ErrBadConfig, c.MinSeconds, c.MaxSeconds)
	case c.ValFraction < 0 || c.TestFraction < 0 || c.ValFraction+c.TestFraction >= 1:
		return fmt.Errorf("%w: val %g + test %g fractions must be in [0,1)", ErrBadConfig, c.ValFraction, c.TestFraction)
	case len(c.FPS) == 0:
		return fmt.Errorf("%w: no frame rates", ErrBadConfig)
	}
	for _, f := range c.FPS {
		if f.FPS < 1 || f.FPS > 120 || f.Weight <= 0 {
			return fmt.Errorf("%w: frame rate %d with weight %g", ErrBadConfig, f.FPS, f.Weight)
		}
	}
	return nil
}

// ParseFPS parses "30=0.7,25=0.15,15=0.15" (a bare "30" has weight 1).
func ParseFPS(s string) ([]FPSWeight, error) {
	var out []FPSWeight
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fpsText, wText, hasW := strings.Cut(part, "=")
		fps, err := strconv.Atoi(fpsText)
		if err != nil {
			return nil, fmt.Errorf("%w: frame rate %q", ErrBadConfig, part)
		}
		w := 1.0
		if hasW {
			if w, err = strconv.ParseFloat(wText, 64); err != nil {
				return nil, fmt.Errorf("%w: frame rate weight %q", ErrBadConfig, part)
			}
		}
		out = append(out, FPSWeight{FPS: fps, Weight: w})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty frame rate list", ErrBadConfig)
	}
	return out, nil
}

// Plan is a whole dataset, decided before any pixel is drawn.
type Plan struct {
	Config Config  `json:"config"`
	Videos []Video `json:"videos"`
}

// Video is one file: its timing, background, noise and actors. Everything Render needs.
type Video struct {
	Index  int    `json:"index"`
	Path   string `json:"path"`  // relative to the dataset directory
	Label  string `json:"label"` // actor labels joined by "|" (one label with one actor)
	Split  string `json:"split"`
	FPS    int    `json:"fps"`
	Frames int    `json:"frames"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Seed drives the per-frame randomness (pixel noise, jitter): frame i uses PCG(Seed, i).
	Seed       uint64     `json:"seed"`
	Background Background `json:"background"`
	Noise      float64    `json:"noise"`  // std-dev of per-pixel noise, in 0..255 levels
	Jitter     float64    `json:"jitter"` // max per-frame camera shake, pixels
	Actors     []Actor    `json:"actors"`
}

// Background is a static backdrop.
type Background struct {
	Kind   string   `json:"kind"` // "solid" | "gradient" | "blobs"
	Color  [3]uint8 `json:"color"`
	Color2 [3]uint8 `json:"color2"` // gradient end / blob colour base
	Angle  float64  `json:"angle"`  // gradient direction, radians
	Blobs  []Blob   `json:"blobs,omitempty"`
}

// Blob is a static disc of the "blobs" background (normalized centre, radius in min-side units).
type Blob struct {
	X, Y, R float64
	Color   [3]uint8
}

// Actor is one moving shape. Its centre, size and angle change linearly from the first
// frame (…0) to the last (…1); X/Y are fractions of the width/height, Size is the shape's
// half-extent as a fraction of the shorter side, angles are radians (clockwise on screen).
type Actor struct {
	ID      int      `json:"id"`
	Label   string   `json:"label"`
	Shape   string   `json:"shape"`  // "rect" | "ellipse" | "triangle" | "cross" | "lshape"
	Aspect  float64  `json:"aspect"` // local y half-extent relative to x
	Texture string   `json:"texture"`
	Period  float64  `json:"period"` // texture period in local units
	Color   [3]uint8 `json:"color"`
	Color2  [3]uint8 `json:"color2"`
	X0      float64  `json:"x0"`
	Y0      float64  `json:"y0"`
	X1      float64  `json:"x1"`
	Y1      float64  `json:"y1"`
	Size0   float64  `json:"size0"`
	Size1   float64  `json:"size1"`
	Angle0  float64  `json:"angle0"`
	Angle1  float64  `json:"angle1"`
}

// Shapes and textures the renderer knows.
var (
	shapes   = []string{"rect", "ellipse", "triangle", "cross", "lshape"}
	textures = []string{"solid", "stripes", "checker", "rings"}
	bgKinds  = []string{"solid", "gradient", "blobs"}
)

// NewPlan decides a dataset from c. The same Config (seed included) gives the same Plan.
func NewPlan(c Config) (Plan, error) {
	c = c.Defaults()
	if err := c.Validate(); err != nil {
		return Plan{}, err
	}
	// Labels: a seeded shuffle of a balanced assignment, so class counts differ by at most one.
	lr := rand.New(rand.NewPCG(c.Seed, 0x6c6162656c73)) // "labels"
	perm := lr.Perm(c.Videos)
	p := Plan{Config: c, Videos: make([]Video, c.Videos)}
	for i := range p.Videos {
		first := perm[i] % len(c.Classes)
		p.Videos[i] = planVideo(c, i, first)
	}
	assignSplits(&p)
	return p, nil
}

// planVideo draws video i; first is the index of its first actor's class.
func planVideo(c Config, i, first int) Video {
	r := rand.New(rand.NewPCG(c.Seed, uint64(i)+1))
	v := Video{
		Index:  i,
		Path:   fmt.Sprintf("videos/%06d.mp4", i),
		FPS:    pickFPS(r, c.FPS),
		Width:  c.Width,
		Height: c.Height,
		Seed:   r.Uint64(),
	}
	secs := c.MinSeconds + r.Float64()*(c.MaxSeconds-c.MinSeconds)
	v.Frames = max(2, int(math.Round(secs*float64(v.FPS))))
	v.Background = planBackground(r)
	v.Noise = r.Float64() * 8
	v.Jitter = r.Float64() * 0.6

	// Actor classes: the first is fixed by the balanced assignment, the others are distinct.
	labels := []string{c.Classes[first]}
	if c.Actors > 1 {
		rest := make([]string, 0, len(c.Classes)-1)
		for k, name := range c.Classes {
			if k != first {
				rest = append(rest, name)
			}
		}
		r.Shuffle(len(rest), func(a, b int) { rest[a], rest[b] = rest[b], rest[a] })
		labels = append(labels, rest[:c.Actors-1]...)
	}
	bgMean := v.Background.mean()
	dur := float64(v.Frames-1) / float64(v.FPS)
	for id, label := range labels {
		v.Actors = append(v.Actors, planActor(r, c, id, label, bgMean, len(labels), dur))
	}
	v.Label = strings.Join(labels, "|")
	return v
}

func pickFPS(r *rand.Rand, fs []FPSWeight) int {
	total := 0.0
	for _, f := range fs {
		total += f.Weight
	}
	x := r.Float64() * total
	for _, f := range fs {
		if x < f.Weight {
			return f.FPS
		}
		x -= f.Weight
	}
	return fs[len(fs)-1].FPS
}

func randColor(r *rand.Rand) [3]uint8 {
	return [3]uint8{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256))}
}

func planBackground(r *rand.Rand) Background {
	b := Background{
		Kind:   bgKinds[r.IntN(len(bgKinds))],
		Color:  randColor(r),
		Color2: randColor(r),
		Angle:  r.Float64() * 2 * math.Pi,
	}
	if b.Kind == "blobs" {
		n := 3 + r.IntN(6)
		for range n {
			b.Blobs = append(b.Blobs, Blob{X: r.Float64(), Y: r.Float64(), R: 0.05 + 0.2*r.Float64(), Color: randColor(r)})
		}
	}
	return b
}

func (b Background) mean() [3]float64 {
	var m [3]float64
	for k := range 3 {
		m[k] = float64(b.Color[k])
		if b.Kind != "solid" {
			m[k] = (m[k] + float64(b.Color2[k])) / 2
		}
	}
	return m
}

// contrastColor draws a colour at least a minimum distance from ref (a few tries, then the
// farthest seen), so actors stay visible on any background.
func contrastColor(r *rand.Rand, ref [3]float64) [3]uint8 {
	var best [3]uint8
	bestD := -1.0
	for range 8 {
		c := randColor(r)
		d := 0.0
		for k := range 3 {
			x := float64(c[k]) - ref[k]
			d += x * x
		}
		if d > bestD {
			best, bestD = c, d
		}
		if d >= 90*90 {
			break
		}
	}
	return best
}

// path draws a 1-D segment [lo, lo+d] inside [margin, 1-margin] the way every class does,
// and returns the start and end for a moving actor (dir = +1 / -1) or a point on the
// segment for a still one (dir = 0). Because the still point is uniform on the segment,
// a still actor's position has the same distribution as a moving actor's at a random frame.
func path(r *rand.Rand, margin float64, dir int) (start, end float64) {
	travel := 1 - 2*margin
	if travel <= 0 {
		return 0.5, 0.5
	}
	d := (0.6 + 0.4*r.Float64()) * travel
	lo := margin + r.Float64()*(travel-d)
	u := r.Float64()
	switch {
	case dir > 0:
		return lo, lo + d
	case dir < 0:
		return lo + d, lo
	default:
		p := lo + u*d
		return p, p
	}
}

func planActor(r *rand.Rand, c Config, id int, label string, bg [3]float64, actors int, dur float64) Actor {
	a := Actor{
		ID:      id,
		Label:   label,
		Shape:   shapes[r.IntN(len(shapes))],
		Aspect:  0.45 + 0.4*r.Float64(),
		Texture: textures[r.IntN(len(textures))],
		Period:  0.3 + 0.5*r.Float64(),
	}
	a.Color = contrastColor(r, bg)
	a.Color2 = randColor(r)

	// Size: the same segment rule as position; grow/shrink travel it, others sit on it.
	// The size ratio follows a per-second rate (capped), so short and long videos both
	// change visibly within a clip's span.
	small := 0.045 + 0.04*r.Float64()
	if actors > 2 {
		small *= 0.8 // room for several actors
	}
	ratio := math.Min(2.2, math.Max(1.4, math.Exp((0.12+0.18*r.Float64())*dur)))
	big := small * ratio
	u := r.Float64()
	switch label {
	case ClassGrow:
		a.Size0, a.Size1 = small, big
	case ClassShrink:
		a.Size0, a.Size1 = big, small
	default:
		s := small + u*(big-small)
		a.Size0, a.Size1 = s, s
	}

	// Position: actors stay inside the centred square of side min(W,H) (what a centre crop
	// sees), with margins that keep the largest size (corner reach ~1.3×half-extent) inside.
	minSide := float64(min(c.Width, c.Height))
	reach := 1.3 * big * minSide
	mx := (float64(c.Width)-minSide)/2 + reach
	my := (float64(c.Height)-minSide)/2 + reach
	mx /= float64(c.Width)
	my /= float64(c.Height)
	dx, dy := 0, 0
	switch label {
	case ClassLeft:
		dx = -1
	case ClassRight:
		dx = 1
	case ClassUp:
		dy = -1
	case ClassDown:
		dy = 1
	}
	a.X0, a.X1 = path(r, mx, dx)
	a.Y0, a.Y1 = path(r, my, dy)

	// Angle: uniform start; rotation classes turn 30–90°/s (under 45° between samples
	// 0.4 s apart, so even a 4-fold symmetric shape's direction is unambiguous).
	a.Angle0 = r.Float64() * 2 * math.Pi
	speed := (30 + 60*r.Float64()) * math.Pi / 180
	switch label {
	case ClassRotateCW:
		a.Angle1 = a.Angle0 + speed*dur
	case ClassRotateCCW:
		a.Angle1 = a.Angle0 - speed*dur
	default:
		a.Angle1 = a.Angle0
	}
	return a
}

// assignSplits orders each class's videos (by first label) by a seeded hash of their path
// and gives the first round(n·test) to test, the next round(n·val) to val, the rest to train.
func assignSplits(p *Plan) {
	c := p.Config
	byClass := map[string][]int{}
	for i := range p.Videos {
		v := &p.Videos[i]
		first := v.Actors[0].Label
		byClass[first] = append(byClass[first], i)
	}
	for _, idx := range byClass {
		sort.Slice(idx, func(a, b int) bool {
			ha, hb := splitHash(c.Seed, p.Videos[idx[a]].Path), splitHash(c.Seed, p.Videos[idx[b]].Path)
			if ha != hb {
				return ha < hb
			}
			return idx[a] < idx[b]
		})
		n := float64(len(idx))
		nTest := int(math.Round(n * c.TestFraction))
		nVal := int(math.Round(n * c.ValFraction))
		for rank, i := range idx {
			switch {
			case rank < nTest:
				p.Videos[i].Split = SplitTest
			case rank < nTest+nVal:
				p.Videos[i].Split = SplitVal
			default:
				p.Videos[i].Split = SplitTrain
			}
		}
	}
}

// splitHash is FNV-1a over the seed and the path: stable across Go versions and platforms.
func splitHash(seed uint64, s string) uint64 {
	h := uint64(14695981039346656037)
	for i := range 8 {
		h ^= (seed >> (8 * i)) & 0xff
		h *= 1099511628211
	}
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// State is an actor's pose at one frame, in pixels and radians.
type State struct {
	CX, CY float64 // centre
	R      float64 // half-extent
	Angle  float64
}

// StateAt returns actor a's pose at frame i of v (camera shake excluded).
func (v Video) StateAt(a Actor, i int) State {
	u := 0.0
	if v.Frames > 1 {
		u = float64(i) / float64(v.Frames-1)
	}
	lerp := func(x0, x1 float64) float64 { return x0 + (x1-x0)*u }
	minSide := float64(min(v.Width, v.Height))
	return State{
		CX:    lerp(a.X0, a.X1) * float64(v.Width),
		CY:    lerp(a.Y0, a.Y1) * float64(v.Height),
		R:     lerp(a.Size0, a.Size1) * minSide,
		Angle: lerp(a.Angle0, a.Angle1),
	}
}
