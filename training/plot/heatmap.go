package plot

import (
	"image"
	"image/color"
	"math"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Heatmap is a labelled matrix, e.g. a confusion matrix (rows: true class, columns:
// predicted class).
type Heatmap struct {
	Title      string
	RowLabel   string // axis title of the rows, e.g. "true"
	ColLabel   string // axis title of the columns, e.g. "predicted"
	Rows, Cols []string
	Values     [][]float64 // Values[row][col]; a missing or non-finite cell is drawn empty
	// ShowValues writes each cell's value (integers as such, others with 2 decimals).
	ShowValues bool
}

// cellPx is the side of one cell: room for a 4-digit count.
const cellPx = 44

// Render draws the heatmap. Cell shade is the value over the matrix maximum, white to dark
// blue; the first row is at the top.
func (hm Heatmap) Render() (*image.RGBA, error) {
	nr, nc := len(hm.Rows), len(hm.Cols)
	if nr == 0 || nc == 0 || len(hm.Values) < nr {
		return nil, ErrNoData
	}
	g := grid{hm: hm}
	maxV := 0.0
	for r := range nr {
		for c := range nc {
			if v := g.value(r, c); finite(v) {
				maxV = math.Max(maxV, v)
			}
		}
	}

	p := newPlot(hm.Title, hm.ColLabel, hm.RowLabel)
	heat := plotter.NewHeatMap(g, shades{})
	heat.Min, heat.Max = 0, math.Max(maxV, 1e-12)
	heat.NaN, heat.Underflow = color.White, color.White
	p.Add(heat)

	// Class names as ticks: rows down the left, columns along the bottom, turned upright.
	rowTicks := make([]gplot.Tick, nr)
	for r, s := range hm.Rows {
		rowTicks[r] = gplot.Tick{Value: g.rowY(r), Label: s}
	}
	colTicks := make([]gplot.Tick, nc)
	for c, s := range hm.Cols {
		colTicks[c] = gplot.Tick{Value: g.X(c), Label: s}
	}
	p.Y.Tick.Marker, p.X.Tick.Marker = gplot.ConstantTicks(rowTicks), gplot.ConstantTicks(colTicks)
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter

	if hm.ShowValues {
		var dark, light plotter.XYLabels
		for r := range nr {
			for c := range nc {
				v := g.value(r, c)
				if !finite(v) {
					continue
				}
				s := strconv.FormatFloat(v, 'f', 2, 64)
				if v == math.Trunc(v) {
					s = strconv.FormatFloat(v, 'f', 0, 64)
				}
				set := &dark
				if maxV > 0 && v/maxV > 0.55 {
					set = &light // white text on the darkest cells
				}
				set.XYs = append(set.XYs, plotter.XY{X: g.X(c), Y: g.rowY(r)})
				set.Labels = append(set.Labels, s)
			}
		}
		for _, set := range []struct {
			xy  plotter.XYLabels
			col color.Color
		}{{dark, color.Black}, {light, color.White}} {
			if len(set.xy.XYs) == 0 {
				continue
			}
			lb, err := plotter.NewLabels(set.xy)
			if err != nil {
				return nil, err
			}
			for i := range lb.TextStyle {
				lb.TextStyle[i].Color = set.col
				lb.TextStyle[i].Font.Variant = "Sans"
				lb.TextStyle[i].XAlign, lb.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
			}
			p.Add(lb)
		}
	}

	// Size the image so each cell is cellPx square whatever the label lengths.
	w := cellPx*nc + marginPx(p.Y.Tick.Label, hm.Rows) + 60
	h := cellPx*nr + marginPx(p.X.Tick.Label, hm.Cols) + 70
	return render(p, w, h), nil
}

// marginPx is the pixels the longest of labels takes in style.
func marginPx(style text.Style, labels []string) int {
	var longest vg.Length
	for _, s := range labels {
		longest = max(longest, style.Width(s))
	}
	return pixels(longest)
}

// WritePNG renders the heatmap into a PNG file.
func (hm Heatmap) WritePNG(path string) error {
	img, err := hm.Render()
	if err != nil {
		return err
	}
	return WritePNG(path, img)
}

// grid is a Heatmap as gonum's GridXYZ, whose y grows upwards: column c at x = c, Heatmap
// row r at y = rowY(r).
type grid struct{ hm Heatmap }

func (g grid) Dims() (c, r int)   { return len(g.hm.Cols), len(g.hm.Rows) }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(y int) float64    { return float64(y) }
func (g grid) Z(c, y int) float64 { return g.value(len(g.hm.Rows)-1-y, c) }

// rowY is where Heatmap row r is drawn: the first row at the top.
func (g grid) rowY(r int) float64 { return float64(len(g.hm.Rows) - 1 - r) }

func (g grid) value(row, col int) float64 {
	if col >= len(g.hm.Values[row]) {
		return math.NaN()
	}
	return g.hm.Values[row][col]
}

// shades is a palette.Palette from white to dark blue.
type shades struct{}

func (shades) Colors() []color.Color {
	cs := make([]color.Color, 64)
	for i := range cs {
		cs[i] = shade(float64(i) / float64(len(cs)-1))
	}
	return cs
}

var _ palette.Palette = shades{}

// shade maps 0..1 to white..dark blue.
func shade(t float64) color.RGBA {
	lerp := func(a, b float64) uint8 { return uint8(math.Round(a + (b-a)*t)) }
	return color.RGBA{lerp(255, 8), lerp(255, 48), lerp(255, 107), 255}
}
