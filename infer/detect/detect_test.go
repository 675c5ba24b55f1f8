package detect

import (
	"errors"
	"math"
	"testing"
)

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

func nearBox(a, b Box) bool {
	for i := range a {
		if !near(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestIoU(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		name string
		a, b Box
		want float32
	}{
		{"same", Box{0.1, 0.1, 0.5, 0.5}, Box{0.1, 0.1, 0.5, 0.5}, 1},
		{"disjoint", Box{0, 0, 0.2, 0.2}, Box{0.5, 0.5, 0.7, 0.7}, 0},
		{"touching edges share nothing", Box{0, 0, 0.5, 1}, Box{0.5, 0, 1, 1}, 0},
		{"half shifted", Box{0, 0, 0.4, 0.4}, Box{0.2, 0, 0.6, 0.4}, 1.0 / 3},
		{"inside", Box{0, 0, 1, 1}, Box{0.25, 0.25, 0.75, 0.75}, 0.25},
		{"both empty", Box{0.3, 0.3, 0.3, 0.3}, Box{0.3, 0.3, 0.3, 0.3}, 0},
		{"inverted has no area", Box{0.5, 0.5, 0.1, 0.1}, Box{0.1, 0.1, 0.5, 0.5}, 0},
		{"NaN", Box{nan, 0, 1, 1}, Box{0, 0, 1, 1}, 0},
	} {
		if got := IoU(c.a, c.b); !near(got, c.want) {
			t.Errorf("%s: IoU = %v, want %v", c.name, got, c.want)
		}
		if got := IoU(c.b, c.a); !near(got, c.want) {
			t.Errorf("%s: IoU not symmetric: %v, want %v", c.name, got, c.want)
		}
	}
}

// grid builds Heads for a G x G grid with stride and C classes, all zero.
func grid(g, stride, classes int) Heads {
	cells := g * g
	return Heads{Grid: g, Stride: stride, Classes: classes,
		Heatmap: make([]float32, cells), Size: make([]float32, 2*cells),
		Offset: make([]float32, 2*cells), Actions: make([]float32, classes*cells)}
}

// put sets one cell's outputs.
func (h Heads) put(x, y int, heat, w, ht, ox, oy float32, actions ...float32) {
	cells, at := h.Grid*h.Grid, y*h.Grid+x
	h.Heatmap[at] = heat
	h.Size[at], h.Size[cells+at] = w, ht
	h.Offset[at], h.Offset[cells+at] = ox, oy
	for c, a := range actions {
		h.Actions[c*cells+at] = a
	}
}

func TestDecodeTwoActors(t *testing.T) {
	h := grid(8, 4, 2) // S = 32
	h.put(2, 3, 0.9, 0.25, 0.5, 0.5, 0.25, 0.8, 0.1)
	h.put(6, 1, 0.6, 0.125, 0.25, 0, 0.75, 0.2, 0.7)
	// A weaker neighbour of the first actor is not a peak of its own.
	h.put(3, 3, 0.5, 0.9, 0.9, 0, 0, 1, 1)
	got, err := Decode(h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d detections, want 2: %+v", len(got), got)
	}
	// centre x = (2+0.5)*4/32 = 0.3125, y = (3+0.25)*4/32 = 0.40625
	want0 := Box{0.3125 - 0.125, 0.40625 - 0.25, 0.3125 + 0.125, 0.40625 + 0.25}
	if d := got[0]; !nearBox(d.Box, want0) || d.Score != 0.9 || d.CellX != 2 || d.CellY != 3 ||
		d.Scores[0] != 0.8 || d.Scores[1] != 0.1 {
		t.Errorf("first = %+v, want box %v score 0.9 at (2,3) scores [0.8 0.1]", d, want0)
	}
	// centre x = 6*4/32 = 0.75, y = 1.75*4/32 = 0.21875
	want1 := Box{0.75 - 0.0625, 0.21875 - 0.125, 0.75 + 0.0625, 0.21875 + 0.125}
	if d := got[1]; !nearBox(d.Box, want1) || d.Score != 0.6 || d.Scores[1] != 0.7 {
		t.Errorf("second = %+v, want box %v score 0.6 scores[1] 0.7", d, want1)
	}
	// Scores are the caller's: writing them must not change the model's outputs.
	got[0].Scores[0] = -1
	if h.Actions[3*8+2] != 0.8 {
		t.Error("Detection.Scores aliases the actions output")
	}
}

func TestDecodeOptions(t *testing.T) {
	h := grid(6, 8, 1)
	h.put(0, 0, 0.95, 0.1, 0.1, 0, 0)
	h.put(3, 0, 0.5, 0.1, 0.1, 0, 0)
	h.put(0, 3, 0.7, 0.1, 0.1, 0, 0)
	h.put(5, 5, 0.29, 0.1, 0.1, 0, 0) // below the default 0.3
	for _, c := range []struct {
		opt   Options
		cells [][2]int
	}{
		{Options{}, [][2]int{{0, 0}, {0, 3}, {3, 0}}},
		{Options{MaxActors: 2}, [][2]int{{0, 0}, {0, 3}}},
		{Options{MinScore: 0.6}, [][2]int{{0, 0}, {0, 3}}},
		{Options{MinScore: 0.2, MaxActors: 10}, [][2]int{{0, 0}, {0, 3}, {3, 0}, {5, 5}}},
		{Options{MinScore: 0.99}, nil},
	} {
		got, err := Decode(h, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		var cells [][2]int
		for _, d := range got {
			cells = append(cells, [2]int{d.CellX, d.CellY})
		}
		if len(cells) != len(c.cells) {
			t.Errorf("%+v: cells %v, want %v", c.opt, cells, c.cells)
			continue
		}
		for i := range cells {
			if cells[i] != c.cells[i] {
				t.Errorf("%+v: cells %v, want %v", c.opt, cells, c.cells)
				break
			}
		}
	}
}

// Equal neighbours are both peaks (heat >= each neighbour), in row-major order.
func TestDecodePlateauKeepsBoth(t *testing.T) {
	h := grid(4, 8, 1)
	h.put(1, 1, 0.8, 0.2, 0.2, 0, 0)
	h.put(2, 1, 0.8, 0.2, 0.2, 0, 0)
	got, err := Decode(h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].CellX != 1 || got[1].CellX != 2 {
		t.Fatalf("plateau: %+v, want cells x=1 then x=2", got)
	}
}

// The box is clamped to the crop, and out-of-range or NaN outputs cannot make a NaN box.
func TestDecodeClampsAndNaN(t *testing.T) {
	nan := float32(math.NaN())
	h := grid(4, 8, 2)
	h.put(0, 0, 0.9, 0.8, 0.8, 0, 0, 1.5, nan)
	h.put(3, 3, 1.7, nan, 2, 5, -1, -0.5, 0.5)
	h.put(3, 0, nan, 0.2, 0.2, 0, 0)
	got, err := Decode(h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d detections, want 2 (a NaN heat is no peak): %+v", len(got), got)
	}
	// First: heat 1.7 clamps to 1; offset clamps to (1, 0): centre (1, 0.75); w NaN -> 0; h 2 -> 1.
	if d := got[0]; d.Score != 1 || !nearBox(d.Box, Box{1, 0.25, 1, 1}) || d.Scores[0] != 0 || d.Scores[1] != 0.5 {
		t.Errorf("clamped detection = %+v", d)
	}
	if d := got[1]; !nearBox(d.Box, Box{0, 0, 0.4, 0.4}) || d.Scores[0] != 1 || d.Scores[1] != 0 {
		t.Errorf("corner detection = %+v, want box [0 0 0.4 0.4] scores [1 0]", d)
	}
	for _, d := range got {
		for _, v := range d.Box {
			if v != v || v < 0 || v > 1 {
				t.Errorf("box %v leaves [0,1]", d.Box)
			}
		}
	}
}

func TestDecodeRejectsBadShapes(t *testing.T) {
	good := grid(4, 8, 3)
	for name, h := range map[string]Heads{
		"zero grid":     {Stride: 8, Classes: 1},
		"short heatmap": func() Heads { h := good; h.Heatmap = h.Heatmap[:15]; return h }(),
		"short size":    func() Heads { h := good; h.Size = h.Size[:16]; return h }(),
		"short offset":  func() Heads { h := good; h.Offset = nil; return h }(),
		"actions for 2": func() Heads { h := good; h.Actions = h.Actions[:32]; return h }(),
		"zero stride":   func() Heads { h := good; h.Stride = 0; return h }(),
	} {
		if _, err := Decode(h, Options{}); !errors.Is(err, ErrBadHeads) {
			t.Errorf("%s: err = %v, want ErrBadHeads", name, err)
		}
	}
}

func TestSplitBatch(t *testing.T) {
	const n, g, c = 3, 2, 2
	cells := g * g
	heat, size, off, act := make([]float32, n*cells), make([]float32, n*2*cells), make([]float32, n*2*cells), make([]float32, n*c*cells)
	for k := range n {
		heat[k*cells+k] = 0.5 + 0.1*float32(k) // clip k's actor at cell k
		act[k*c*cells+cells+k] = float32(k+1) / 4
	}
	heads, err := SplitBatch(n, g, 16, c, heat, size, off, act)
	if err != nil {
		t.Fatal(err)
	}
	for k, h := range heads {
		d, err := Decode(h, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != 1 || d[0].CellY*g+d[0].CellX != k || !near(d[0].Score, 0.5+0.1*float32(k)) || !near(d[0].Scores[1], float32(k+1)/4) {
			t.Errorf("clip %d: %+v", k, d)
		}
	}
	if _, err := SplitBatch(n, g, 16, c, heat, size, off, act[:len(act)-1]); !errors.Is(err, ErrBadHeads) {
		t.Errorf("short actions: err = %v, want ErrBadHeads", err)
	}
	if _, err := SplitBatch(0, g, 16, c, nil, nil, nil, nil); !errors.Is(err, ErrBadHeads) {
		t.Errorf("empty batch: err = %v, want ErrBadHeads", err)
	}
}
