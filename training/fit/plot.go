package fit

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strconv"
	"strings"
)

// A minimal PNG chart renderer (axes, ticks, lines, legend, a 3×5 pixel font), enough
// for training curves and confusion matrices without a plotting dependency.

// Series is one line of a chart.
type Series struct {
	Name  string
	X, Y  []float64
	Color color.RGBA
}

// Chart is one panel.
type Chart struct {
	Title, XLabel string
	Series        []Series
	// YMin/YMax fix the y range when YFixed; otherwise it follows the data.
	YMin, YMax float64
	YFixed     bool
	// LegendLow puts the legend in the lower right (for curves that rise).
	LegendLow bool
}

// Palette holds distinct line colours.
var Palette = []color.RGBA{
	{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {23, 190, 207, 255}, {127, 127, 127, 255},
}

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{220, 220, 220, 255}
)

// WriteCharts draws the panels side by side, each w×h pixels, into a PNG file.
func WriteCharts(path string, charts []Chart, w, h int) error {
	img := image.NewRGBA(image.Rect(0, 0, w*len(charts), h))
	fillRect(img, img.Rect, white)
	for i, c := range charts {
		drawChart(img, image.Rect(i*w, 0, (i+1)*w, h), c)
	}
	return savePNG(path, img)
}

// WriteCurves draws loss and accuracy per epoch (train and val) of a run.
func WriteCurves(path, title string, hist []Epoch) error {
	var ep, tl, ta, vl, vt, vx []float64
	for _, e := range hist {
		x := float64(e.Epoch)
		ep = append(ep, x)
		tl = append(tl, e.TrainLoss)
		ta = append(ta, e.TrainAcc)
		if e.ValTop1 != nil {
			vx = append(vx, x)
			vl = append(vl, deref(e.ValLoss))
			vt = append(vt, *e.ValTop1)
		}
	}
	loss := Chart{Title: title + " loss", XLabel: "epoch", Series: []Series{
		{Name: "train", X: ep, Y: tl, Color: Palette[0]}, {Name: "val", X: vx, Y: vl, Color: Palette[1]}}}
	acc := Chart{Title: title + " top-1", XLabel: "epoch", YMin: 0, YMax: 1, YFixed: true, LegendLow: true, Series: []Series{
		{Name: "train", X: ep, Y: ta, Color: Palette[0]}, {Name: "val", X: vx, Y: vt, Color: Palette[1]}}}
	return WriteCharts(path, []Chart{loss, acc}, 480, 320)
}

// WriteConfusion draws a confusion matrix (rows = true class, columns = predicted),
// each row shaded by its share, with counts in the cells.
func WriteConfusion(path, title string, labels []string, conf [][]int) error {
	n := len(labels)
	if n == 0 || len(conf) != n {
		return fmt.Errorf("%w: confusion matrix %d rows for %d labels", ErrOptions, len(conf), n)
	}
	const scale = 2
	cell := 36
	labelW, labelH := 0, 0
	for _, l := range labels {
		labelW = max(labelW, textWidth(l, scale))
		labelH = max(labelH, len([]rune(l))*6*scale)
	}
	left, top := labelW+16, 36
	size := image.Rect(0, 0, left+n*cell+16, top+n*cell+labelH+24)
	img := image.NewRGBA(size)
	fillRect(img, size, white)
	drawText(img, 8, 8, title, scale, black)
	drawText(img, left, 22, "PREDICTED ->", 1, black)
	for i := 0; i < n; i++ {
		tot := 0
		for _, v := range conf[i] {
			tot += v
		}
		drawText(img, left-8-textWidth(labels[i], scale), top+i*cell+cell/2-5, labels[i], scale, black)
		for j := 0; j < n; j++ {
			v := 0
			if j < len(conf[i]) {
				v = conf[i][j]
			}
			share := 0.0
			if tot > 0 {
				share = float64(v) / float64(tot)
			}
			c := color.RGBA{uint8(255 - 225*share), uint8(255 - 160*share), 255, 255}
			if i != j && v > 0 {
				c = color.RGBA{255, uint8(255 - 200*share), uint8(255 - 200*share), 255}
			}
			r := image.Rect(left+j*cell+1, top+i*cell+1, left+(j+1)*cell, top+(i+1)*cell)
			fillRect(img, r, c)
			s := strconv.Itoa(v)
			tc := black
			if share > 0.6 {
				tc = white
			}
			drawText(img, r.Min.X+(cell-textWidth(s, scale))/2, r.Min.Y+cell/2-6, s, scale, tc)
		}
		// Column labels, written vertically below the matrix.
		drawTextVertical(img, left+i*cell+cell/2-3, top+n*cell+8, labels[i], scale, black)
	}
	return savePNG(path, img)
}

func savePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("fit: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	return nil
}

func drawChart(img *image.RGBA, r image.Rectangle, c Chart) {
	const scale = 2
	plot := image.Rect(r.Min.X+64, r.Min.Y+32, r.Max.X-16, r.Max.Y-44)
	drawText(img, r.Min.X+64, r.Min.Y+10, c.Title, scale, black)
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for i := range s.X {
			if i >= len(s.Y) || math.IsNaN(s.Y[i]) || math.IsInf(s.Y[i], 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
		}
	}
	if c.YFixed {
		ymin, ymax = c.YMin, c.YMax
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax, ymin, ymax = 0, 1, 0, 1
	}
	if xmax == xmin {
		xmin, xmax = xmin-1, xmax+1
	}
	if ymax == ymin {
		ymin, ymax = ymin-1, ymax+1
	}
	if !c.YFixed {
		pad := 0.05 * (ymax - ymin)
		ymin, ymax = ymin-pad, ymax+pad
		if ymin < 0 && ymin > -pad*2 {
			ymin = 0
		}
	}
	px := func(x float64) int {
		return plot.Min.X + int(math.Round((x-xmin)/(xmax-xmin)*float64(plot.Dx()-1)))
	}
	py := func(y float64) int {
		return plot.Max.Y - 1 - int(math.Round((y-ymin)/(ymax-ymin)*float64(plot.Dy()-1)))
	}
	for _, t := range ticks(ymin, ymax, 5) {
		y := py(t)
		line(img, plot.Min.X, y, plot.Max.X-1, y, grey)
		s := fmtTick(t)
		drawText(img, plot.Min.X-6-textWidth(s, scale), y-5, s, scale, black)
	}
	for _, t := range ticks(xmin, xmax, 6) {
		x := px(t)
		line(img, x, plot.Max.Y, x, plot.Max.Y+4, black)
		s := fmtTick(t)
		drawText(img, x-textWidth(s, scale)/2, plot.Max.Y+8, s, scale, black)
	}
	line(img, plot.Min.X, plot.Min.Y, plot.Min.X, plot.Max.Y, black)
	line(img, plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y, black)
	drawText(img, plot.Min.X+plot.Dx()/2-textWidth(c.XLabel, scale)/2, plot.Max.Y+24, c.XLabel, scale, black)
	ly := plot.Min.Y + 6
	if c.LegendLow {
		ly = plot.Max.Y - 6 - 16*len(c.Series)
	}
	for _, s := range c.Series {
		n := min(len(s.X), len(s.Y))
		for i := 0; i < n; i++ {
			x, y := px(s.X[i]), py(s.Y[i])
			if i > 0 {
				x0, y0 := px(s.X[i-1]), py(s.Y[i-1])
				line(img, x0, y0, x, y, s.Color)
				line(img, x0, y0+1, x, y+1, s.Color)
			}
			fillRect(img, image.Rect(x-2, y-2, x+3, y+3), s.Color)
		}
		if s.Name != "" && n > 0 {
			lx := plot.Max.X - 110
			fillRect(img, image.Rect(lx, ly+2, lx+16, ly+6), s.Color)
			drawText(img, lx+22, ly, s.Name, scale, black)
			ly += 16
		}
	}
}

// ticks returns about n round values covering [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	span := hi - lo
	if span <= 0 || n < 2 {
		return []float64{lo}
	}
	raw := span / float64(n-1)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

func fmtTick(v float64) string {
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func fillRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		if (image.Point{x0, y0}).In(img.Rect) {
			img.SetRGBA(x0, y0, c)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
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

// glyphs is a 3×5 pixel font: five rows of three cells separated by "|", '#' = ink.
var glyphs = map[rune]string{
	'0': "###|# #|# #|# #|###", '1': " # |## | # | # |###", '2': "###|  #|###|#  |###", '3': "###|  #| ##|  #|###",
	'4': "# #|# #|###|  #|  #", '5': "###|#  |###|  #|###", '6': "###|#  |###|# #|###", '7': "###|  #| # | # | # ",
	'8': "###|# #|###|# #|###", '9': "###|# #|###|  #|###", '.': "   |   |   |   | # ", '-': "   |   |###|   |   ",
	'%': "# #|  #| # |#  |# #", ':': "   | # |   | # |   ", '/': "  #|  #| # |#  |#  ", '_': "   |   |   |   |###",
	'>': "#  | # |  #| # |#  ", '(': " # |#  |#  |#  | # ", ')': " # |  #|  #|  #| # ", '=': "   |###|   |###|   ",
	'+': "   | # |###| # |   ", ',': "   |   |   | # |#  ", ' ': "   |   |   |   |   ", 'A': " # |# #|###|# #|# #",
	'B': "## |# #|## |# #|## ", 'C': " ##|#  |#  |#  | ##", 'D': "## |# #|# #|# #|## ", 'E': "###|#  |## |#  |###",
	'F': "###|#  |## |#  |#  ", 'G': " ##|#  |# #|# #| ##", 'H': "# #|# #|###|# #|# #", 'I': "###| # | # | # |###",
	'J': "  #|  #|  #|# #| # ", 'K': "# #|## |#  |## |# #", 'L': "#  |#  |#  |#  |###", 'M': "# #|###|###|# #|# #",
	'N': "## |# #|# #|# #|# #", 'O': " # |# #|# #|# #| # ", 'P': "## |# #|## |#  |#  ", 'Q': " # |# #|# #|## | ##",
	'R': "## |# #|## |# #|# #", 'S': " ##|#  | # |  #|## ", 'T': "###| # | # | # | # ", 'U': "# #|# #|# #|# #|###",
	'V': "# #|# #|# #|# #| # ", 'W': "# #|# #|###|###|# #", 'X': "# #|# #| # |# #|# #", 'Y': "# #|# #| # | # | # ",
	'Z': "###|  #| # |#  |###",
}

func glyph(r rune) string {
	return strings.ReplaceAll(glyphs[r], "|", "")
}

func textWidth(s string, scale int) int { return len([]rune(s)) * 4 * scale }

func drawText(img *image.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for i, r := range strings.ToUpper(s) {
		g := glyph(r)
		for k := 0; k < 15 && k < len(g); k++ {
			if g[k] != '#' {
				continue
			}
			gx, gy := x+(i*4+k%3)*scale, y+(k/3)*scale
			fillRect(img, image.Rect(gx, gy, gx+scale, gy+scale), c)
		}
	}
}

func drawTextVertical(img *image.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for i, r := range strings.ToUpper(s) {
		drawText(img, x, y+i*6*scale, string(r), scale, c)
	}
}
