// Package detect decodes the outputs of a single-stage detection model (docs/MODEL_CONTRACT.md,
// "Detection models") into actors, maps boxes from crop to source-frame coordinates and measures
// their overlap. Pure Go, no ONNX Runtime: serving (infer) and evaluation (training) share it, so
// a model is scored exactly the way it is served.
package detect

import (
	"cmp"
	"fmt"
	"slices"
)

// Defaults of the decoder's options (config keys detection.min_actor_score and
// detection.max_actors).
const (
	DefaultMinScore  = 0.3
	DefaultMaxActors = 8
)

// Box is [x1, y1, x2, y2] as fractions of a frame (crop or source, as the holder says); x2 and y2
// are exclusive.
type Box [4]float32

// Width and Height are never negative: an inverted box has no extent.
func (b Box) Width() float32  { return max(b[2]-b[0], 0) }
func (b Box) Height() float32 { return max(b[3]-b[1], 0) }

// Area is Width*Height.
func (b Box) Area() float32 { return b.Width() * b.Height() }

// Centre is the box's centre point.
func (b Box) Centre() (x, y float32) { return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2 }

// IoU is the intersection over union of two boxes: 0 for disjoint boxes or when both are empty.
func IoU(a, b Box) float32 {
	inter := Box{max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])}.Area()
	union := a.Area() + b.Area() - inter
	if !(union > 0) { // also NaN
		return 0
	}
	return inter / union
}

// Heads are one clip's single-stage outputs, each already activated by the graph, as the
// contract fixes them: Heatmap [G,G] actor-centre probability; Size [2,G,G] box (w, h) as
// fractions of the crop; Offset [2,G,G] centre (x, y) inside its cell, in cells; Actions [C,G,G]
// per-location action probabilities. Slices are read, never kept or written.
type Heads struct {
	Grid    int // G
	Stride  int // cell size in crop pixels; Grid*Stride is the crop S
	Classes int // C
	Heatmap []float32
	Size    []float32
	Offset  []float32
	Actions []float32
}

// Validate checks the slice lengths against Grid and Classes.
func (h Heads) Validate() error {
	if h.Grid <= 0 || h.Stride <= 0 || h.Classes <= 0 {
		return fmt.Errorf("%w: grid %d, stride %d, classes %d must be positive", ErrBadHeads, h.Grid, h.Stride, h.Classes)
	}
	cells := h.Grid * h.Grid
	for _, c := range []struct {
		name string
		got  int
		want int
	}{
		{"heatmap", len(h.Heatmap), cells},
		{"size", len(h.Size), 2 * cells},
		{"offset", len(h.Offset), 2 * cells},
		{"actions", len(h.Actions), h.Classes * cells},
	} {
		if c.got != c.want {
			return fmt.Errorf("%w: %s has %d values, want %d for a %dx%d grid", ErrBadHeads, c.name, c.got, c.want, h.Grid, h.Grid)
		}
	}
	return nil
}

// SplitBatch cuts a batch's outputs (row-major [N,...]) into one Heads per clip; the Heads are
// views of the given slices.
func SplitBatch(n, grid, stride, classes int, heatmap, size, offset, actions []float32) ([]Heads, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: batch of %d clips", ErrBadHeads, n)
	}
	cells := grid * grid
	per := [4]int{cells, 2 * cells, 2 * cells, classes * cells}
	for i, s := range [4][]float32{heatmap, size, offset, actions} {
		if grid <= 0 || len(s) != n*per[i] {
			return nil, fmt.Errorf("%w: output %d has %d values, want %d clips x %d", ErrBadHeads, i, len(s), n, per[i])
		}
	}
	out := make([]Heads, n)
	for k := range out {
		cut := func(s []float32, m int) []float32 { return s[k*m : (k+1)*m : (k+1)*m] }
		out[k] = Heads{Grid: grid, Stride: stride, Classes: classes,
			Heatmap: cut(heatmap, per[0]), Size: cut(size, per[1]), Offset: cut(offset, per[2]), Actions: cut(actions, per[3])}
	}
	for _, h := range out {
		if err := h.Validate(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Options tune the decoder. A zero field takes its default.
type Options struct {
	MinScore  float32 // a peak's heat must reach it (DefaultMinScore)
	MaxActors int     // the most actors one clip yields, best first (DefaultMaxActors)
}

func (o Options) withDefaults() Options {
	if o.MinScore <= 0 {
		o.MinScore = DefaultMinScore
	}
	if o.MaxActors <= 0 {
		o.MaxActors = DefaultMaxActors
	}
	return o
}

// Detection is one decoded actor, in crop coordinates.
type Detection struct {
	Box    Box       // fractions [0,1] of the crop
	Score  float32   // the peak's heat
	Scores []float32 // one per class, from Actions at the peak; owned by the caller
	CellX  int       // the peak's grid cell
	CellY  int
}

// Decode finds the actors in one clip's outputs: a cell is a peak when its heat is at least each
// of its 8 neighbours' and at least MinScore; the MaxActors best peaks (ties: row-major order)
// become detections with centre ((gx+ox)*stride/S, (gy+oy)*stride/S), box centre ± size/2
// clamped to [0,1], and the action scores at the peak. NaN counts as 0 and probabilities are
// clamped to [0,1], so a broken output yields no actor rather than a NaN box.
func Decode(h Heads, opt Options) ([]Detection, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	opt = opt.withDefaults()
	g, cells := h.Grid, h.Grid*h.Grid
	heat := func(x, y int) float32 { return clamp01(h.Heatmap[y*g+x]) }
	type peak struct {
		x, y  int
		score float32
	}
	var peaks []peak
	for y := range g {
		for x := range g {
			v := heat(x, y)
			if v < opt.MinScore || !isPeak(heat, g, x, y, v) {
				continue
			}
			peaks = append(peaks, peak{x, y, v})
		}
	}
	// Stable: equal scores keep row-major order, so the result is deterministic.
	slices.SortStableFunc(peaks, func(a, b peak) int { return cmp.Compare(b.score, a.score) })
	peaks = peaks[:min(len(peaks), opt.MaxActors)]

	s := float32(g * h.Stride)
	out := make([]Detection, len(peaks))
	for i, p := range peaks {
		at := p.y*g + p.x
		ox, oy := clamp01(h.Offset[at]), clamp01(h.Offset[cells+at])
		w, ht := clamp01(h.Size[at]), clamp01(h.Size[cells+at])
		cx := (float32(p.x) + ox) * float32(h.Stride) / s
		cy := (float32(p.y) + oy) * float32(h.Stride) / s
		scores := make([]float32, h.Classes)
		for c := range scores {
			scores[c] = clamp01(h.Actions[c*cells+at])
		}
		out[i] = Detection{
			Box:   Box{clamp01(cx - w/2), clamp01(cy - ht/2), clamp01(cx + w/2), clamp01(cy + ht/2)},
			Score: p.score, Scores: scores, CellX: p.x, CellY: p.y,
		}
	}
	return out, nil
}

// isPeak: v is at least every in-grid 8-neighbour's heat.
func isPeak(heat func(x, y int) float32, g, x, y int, v float32) bool {
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			nx, ny := x+dx, y+dy
			if (dx == 0 && dy == 0) || nx < 0 || ny < 0 || nx >= g || ny >= g {
				continue
			}
			if heat(nx, ny) > v {
				return false
			}
		}
	}
	return true
}

// clamp01 limits v to [0,1]; NaN is 0.
func clamp01(v float32) float32 {
	switch {
	case v > 1:
		return 1
	case v >= 0:
		return v
	}
	return 0
}
