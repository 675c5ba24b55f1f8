// Package plot holds the chart types of training reports (learning curves, the expansion
// trajectory, confusion matrices), drawn by gonum.org/v1/plot with its bundled Liberation
// fonts so reports render the same on any machine.
package plot

import (
	"fmt"
	"image"
	"image/color"
	stddraw "image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one set of points. Line joins them in order (broken at non-finite points);
// Points marks each.
type Series struct {
	Name   string
	X, Y   []float64
	Line   bool
	Points bool
	Labels []string   // optional text beside each point ("" = none)
	Color  color.RGBA // zero = the palette colour for the series' index
	Faint  bool       // drawn lighter, under the others, and left out of the legend when unnamed
	// LabelsBelow puts point labels under the points (to keep them off another series').
	LabelsBelow bool
}

// Chart is an x–y chart.
type Chart struct {
	Title, XLabel, YLabel string
	LogX                  bool
	Width, Height         int // pixels; 0 = 900×600
	// Fixed Y range when YMax > YMin (e.g. 0..1 for accuracy); else automatic.
	YMin, YMax float64
	Series     []Series
}

// dpi is the screen resolution charts are drawn at: a 10 pt label is about 13 pixels.
const dpi = 96

var seriesColors = []color.RGBA{
	{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {23, 190, 207, 255},
}

// Render draws the chart.
func (c Chart) Render() (*image.RGBA, error) {
	w, h := c.Width, c.Height
	if w == 0 || h == 0 {
		w, h = 900, 600
	}
	p := newPlot(c.Title, c.XLabel, c.YLabel)
	if c.LogX {
		p.X.Scale = gplot.LogScale{}
		p.X.Tick.Marker = logTicks{}
	} else {
		p.X.Tick.Marker = niceTicks{N: 8}
	}
	p.Y.Tick.Marker = niceTicks{N: 6}
	p.Add(plotter.NewGrid())

	drawn := false
	// Faint series first so the highlighted ones draw over them.
	for pass := range 2 {
		for i, s := range c.Series {
			if s.Faint != (pass == 0) {
				continue
			}
			col := s.Color
			if col == (color.RGBA{}) {
				col = seriesColors[i%len(seriesColors)]
			}
			if s.Faint {
				col = lighten(col)
			}
			ok, err := addSeries(p, s, col, c.LogX)
			if err != nil {
				return nil, err
			}
			drawn = drawn || ok
		}
	}
	if !drawn {
		return nil, ErrNoData
	}
	// Room around the outermost points, so none sits on the frame.
	if c.LogX {
		p.X.Min, p.X.Max = p.X.Min/1.25, p.X.Max*1.25
	} else {
		p.X.Min, p.X.Max = pad(p.X.Min, p.X.Max)
	}
	if c.YMax > c.YMin {
		p.Y.Min, p.Y.Max = c.YMin, c.YMax
	} else {
		p.Y.Min, p.Y.Max = pad(p.Y.Min, p.Y.Max)
	}
	placeLegend(p, c)
	return render(p, w, h), nil
}

// newPlot is a gonum plot with our titles, in Liberation Sans (gonum's default is the serif).
func newPlot(title, xLabel, yLabel string) *gplot.Plot {
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		st.Font.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(6)
	return p
}

// placeLegend puts the legend in the top corner with fewer points under it.
func placeLegend(p *gplot.Plot, c Chart) {
	left, right := 0, 0
	xMid := (p.X.Min + p.X.Max) / 2
	if c.LogX {
		xMid = math.Sqrt(p.X.Min * p.X.Max)
	}
	yMid := (p.Y.Min + p.Y.Max) / 2
	for _, s := range c.Series {
		for i := range min(len(s.X), len(s.Y)) {
			if !finite(s.X[i]) || !finite(s.Y[i]) || s.Y[i] < yMid {
				continue
			}
			if s.X[i] < xMid {
				left++
			} else {
				right++
			}
		}
	}
	p.Legend.Top, p.Legend.Left = true, left <= right
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(8)
	if !p.Legend.Left {
		p.Legend.XOffs = -vg.Points(8)
	}
}

func pad(lo, hi float64) (float64, float64) {
	if hi == lo {
		d := math.Max(math.Abs(lo)*0.1, 1)
		return lo - d, hi + d
	}
	d := (hi - lo) * 0.06
	return lo - d, hi + d
}

// addSeries adds s's lines, points and labels to p; ok is false when s has no point to draw.
func addSeries(p *gplot.Plot, s Series, col color.RGBA, logX bool) (ok bool, err error) {
	var runs []plotter.XYs // finite stretches, for the line
	var pts plotter.XYs
	var labels []string
	prevOK := false
	for i := range min(len(s.X), len(s.Y)) {
		x, y := s.X[i], s.Y[i]
		if !finite(x) || !finite(y) || (logX && x <= 0) {
			prevOK = false
			continue
		}
		if !prevOK {
			runs = append(runs, nil)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], plotter.XY{X: x, Y: y})
		prevOK = true
		pts = append(pts, plotter.XY{X: x, Y: y})
		label := ""
		if i < len(s.Labels) {
			label = s.Labels[i]
		}
		labels = append(labels, label)
	}
	if len(pts) == 0 {
		return false, nil
	}
	var thumbs []gplot.Thumbnailer
	if s.Line {
		for _, run := range runs {
			l, err := plotter.NewLine(run)
			if err != nil {
				return false, fmt.Errorf("plot: %s: %w", s.Name, err)
			}
			l.Color, l.Width = col, vg.Points(1.5)
			p.Add(l)
			if len(thumbs) == 0 {
				thumbs = append(thumbs, l)
			}
		}
	}
	if s.Points {
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return false, fmt.Errorf("plot: %s: %w", s.Name, err)
		}
		sc.Color, sc.Shape, sc.Radius = col, draw.CircleGlyph{}, vg.Points(3)
		p.Add(sc)
		thumbs = append(thumbs, sc)
	}
	if hasText(labels) {
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
		if err != nil {
			return false, fmt.Errorf("plot: %s: %w", s.Name, err)
		}
		lb.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(4)}
		if s.LabelsBelow {
			lb.Offset.Y = -vg.Points(14)
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Color = darken(col)
			lb.TextStyle[i].Font.Variant = "Sans"
		}
		p.Add(lb)
	}
	if s.Name != "" && len(thumbs) > 0 {
		p.Legend.Add(s.Name, thumbs...)
	}
	return true, nil
}

// render draws p on a white w×h-pixel image.
func render(p *gplot.Plot, w, h int) *image.RGBA {
	c := vgimg.NewWith(vgimg.UseWH(px(w), px(h)), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	img := c.Image()
	if rgba, ok := img.(*image.RGBA); ok && rgba.Rect.Dx() == w && rgba.Rect.Dy() == h {
		return rgba
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	stddraw.Draw(out, out.Rect, img, img.Bounds().Min, stddraw.Src)
	return out
}

// px is n pixels as a length at the charts' resolution.
func px(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }

// pixels is l in pixels at the charts' resolution.
func pixels(l vg.Length) int { return int(math.Ceil(float64(l / vg.Inch * dpi))) }

// WritePNG renders the chart into a PNG file (written atomically).
func (c Chart) WritePNG(path string) error {
	img, err := c.Render()
	if err != nil {
		return err
	}
	return WritePNG(path, img)
}

// WritePNG encodes img to path through a temporary file.
func WritePNG(path string, img image.Image) error {
	return writeAtomic(path, func(w io.Writer) error { return png.Encode(w, img) })
}

func writeAtomic(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("plot: writing %s: %w", path, err)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func hasText(labels []string) bool {
	for _, l := range labels {
		if l != "" {
			return true
		}
	}
	return false
}

func lighten(c color.RGBA) color.RGBA {
	f := func(v uint8) uint8 { return uint8(int(v) + (255-int(v))*3/5) }
	return color.RGBA{f(c.R), f(c.G), f(c.B), 255}
}

func darken(c color.RGBA) color.RGBA {
	return color.RGBA{c.R * 3 / 4, c.G * 3 / 4, c.B * 3 / 4, 255}
}
