// Package plot draws small PNG charts for training reports (learning curves, the expansion
// trajectory, confusion matrices) with only the standard library: its own line rasteriser
// and a built-in 5×7 bitmap font, so reports render the same on any machine.
package plot

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// ErrNoData is returned when a chart has nothing finite to draw.
var ErrNoData = errors.New("plot: no data")

// Series is one set of points. Line joins them in order; Points marks each.
type Series struct {
	Name   string
	X, Y   []float64
	Line   bool
	Points bool
	Labels []string   // optional text beside each point ("" = none)
	Color  color.RGBA // zero = the palette colour for the series' index
	Faint  bool       // drawn lighter and left out of the legend when unnamed
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

var palette = []color.RGBA{
	{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {23, 190, 207, 255},
}

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{200, 200, 200, 255}
	dark  = color.RGBA{90, 90, 90, 255}
)

const fs = 2 // font scale: 10×14-pixel characters

// Render draws the chart.
func (c Chart) Render() (*image.RGBA, error) {
	w, h := c.Width, c.Height
	if w == 0 || h == 0 {
		w, h = 900, 600
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for i := range min(len(s.X), len(s.Y)) {
			x, y := s.X[i], s.Y[i]
			if !finite(x) || !finite(y) || (c.LogX && x <= 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	if math.IsInf(xmin, 1) {
		return nil, ErrNoData
	}
	if c.YMax > c.YMin {
		ymin, ymax = c.YMin, c.YMax
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fillRect(img, 0, 0, w, h, white)

	var xt []float64
	tx := func(v float64) float64 { return v }
	if c.LogX {
		tx = math.Log10
		xmin, xmax = xmin/1.25, xmax*1.25
		xt = logTicks(xmin, xmax)
	} else {
		xmin, xmax = pad(xmin, xmax)
		xt = niceTicks(xmin, xmax, 8)
	}
	if !(c.YMax > c.YMin) {
		ymin, ymax = pad(ymin, ymax)
	}
	yt := niceTicks(ymin, ymax, 6)

	// Plot area.
	left, right, top, bottom := 12*(glyphW+1)*fs/2+40, w-20, 20, h-50
	if c.Title != "" {
		top += TextHeight(fs) + 10
	}
	if c.YLabel != "" {
		left += TextHeight(fs) + 6
	}
	if c.XLabel != "" {
		bottom -= TextHeight(fs) + 6
	}
	px := func(x float64) int {
		return left + int(math.Round((tx(x)-tx(xmin))/(tx(xmax)-tx(xmin))*float64(right-left)))
	}
	py := func(y float64) int {
		return bottom - int(math.Round((y-ymin)/(ymax-ymin)*float64(bottom-top)))
	}

	// Grid, ticks, tick labels.
	for _, v := range xt {
		if v < xmin || v > xmax {
			continue
		}
		x := px(v)
		vline(img, x, top, bottom, grey)
		s := formatTick(v)
		DrawText(img, x-TextWidth(s, fs)/2, bottom+6, s, dark, fs)
	}
	for _, v := range yt {
		if v < ymin-1e-12 || v > ymax+1e-12 {
			continue
		}
		y := py(v)
		hline(img, left, right, y, grey)
		s := formatTick(v)
		DrawText(img, left-8-TextWidth(s, fs), y-TextHeight(fs)/2, s, dark, fs)
	}
	rect(img, left, top, right, bottom, black)
	if c.Title != "" {
		DrawText(img, (w-TextWidth(c.Title, fs))/2, 10, c.Title, black, fs)
	}
	if c.XLabel != "" {
		DrawText(img, (left+right-TextWidth(c.XLabel, fs))/2, h-TextHeight(fs)-8, c.XLabel, black, fs)
	}
	if c.YLabel != "" {
		DrawTextUp(img, 8, (top+bottom+TextWidth(c.YLabel, fs))/2, c.YLabel, black, fs)
	}

	// Series: faint ones first so highlighted ones draw over them.
	clip := image.Rect(left, top, right+1, bottom+1)
	legend := 0
	for pass := range 2 {
		for i, s := range c.Series {
			if s.Faint != (pass == 0) {
				continue
			}
			col := s.Color
			if col == (color.RGBA{}) {
				col = palette[i%len(palette)]
			}
			if s.Faint {
				col = lighten(col)
			}
			var prev image.Point
			havePrev := false
			for k := range min(len(s.X), len(s.Y)) {
				x, y := s.X[k], s.Y[k]
				if !finite(x) || !finite(y) || (c.LogX && x <= 0) {
					havePrev = false
					continue
				}
				p := image.Pt(px(x), py(y))
				if s.Line && havePrev {
					line(img, prev, p, col, clip)
				}
				prev, havePrev = p, true
			}
			for k := range min(len(s.X), len(s.Y)) {
				x, y := s.X[k], s.Y[k]
				if !finite(x) || !finite(y) || (c.LogX && x <= 0) {
					continue
				}
				p := image.Pt(px(x), py(y))
				if s.Points {
					disc(img, p, 4, col, clip)
				}
				if k < len(s.Labels) && s.Labels[k] != "" {
					ly := p.Y - TextHeight(fs) - 3
					if s.LabelsBelow {
						ly = p.Y + 5
					}
					DrawText(img, p.X+7, ly, s.Labels[k], darken(col), fs)
				}
			}
			if s.Name != "" {
				ly := top + 8 + legend*(TextHeight(fs)+6)
				fillRect(img, left+10, ly+TextHeight(fs)/2-2, 18, 4, col)
				DrawText(img, left+34, ly, s.Name, black, fs)
				legend++
			}
		}
	}
	return img, nil
}

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

func pad(lo, hi float64) (float64, float64) {
	if hi == lo {
		d := math.Max(math.Abs(lo)*0.1, 1)
		return lo - d, hi + d
	}
	d := (hi - lo) * 0.06
	return lo - d, hi + d
}

// niceTicks returns about n round values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	span := hi - lo
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ts []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ts = append(ts, math.Round(v/step)*step)
	}
	return ts
}

// logTicks returns 1-2-5 ticks per decade within [lo, hi].
func logTicks(lo, hi float64) []float64 {
	var ts []float64
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				ts = append(ts, v)
			}
		}
	}
	if len(ts) < 2 {
		return niceTicks(lo, hi, 5)
	}
	return ts
}

func formatTick(v float64) string {
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func lighten(c color.RGBA) color.RGBA {
	f := func(v uint8) uint8 { return uint8(int(v) + (255-int(v))*3/5) }
	return color.RGBA{f(c.R), f(c.G), f(c.B), 255}
}

func darken(c color.RGBA) color.RGBA {
	return color.RGBA{c.R * 3 / 4, c.G * 3 / 4, c.B * 3 / 4, 255}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) { fillRect(img, x0, y, x1-x0+1, 1, c) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) { fillRect(img, x, y0, 1, y1-y0+1, c) }

func rect(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	hline(img, x0, x1, y0, c)
	hline(img, x0, x1, y1, c)
	vline(img, x0, y0, y1, c)
	vline(img, x1, y0, y1, c)
}

// line draws a 2-pixel-wide segment (Bresenham) inside clip.
func line(img *image.RGBA, a, b image.Point, c color.RGBA, clip image.Rectangle) {
	dx, dy := abs(b.X-a.X), -abs(b.Y-a.Y)
	sx, sy := sign(b.X-a.X), sign(b.Y-a.Y)
	e := dx + dy
	x, y := a.X, a.Y
	for {
		for _, o := range [4]image.Point{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
			if p := image.Pt(x+o.X, y+o.Y); p.In(clip) {
				img.SetRGBA(p.X, p.Y, c)
			}
		}
		if x == b.X && y == b.Y {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x += sx
		}
		if e2 <= dx {
			e += dx
			y += sy
		}
	}
}

func disc(img *image.RGBA, p image.Point, r int, c color.RGBA, clip image.Rectangle) {
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			if q := p.Add(image.Pt(x, y)); x*x+y*y <= r*r && q.In(clip) {
				img.SetRGBA(q.X, q.Y, c)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
