package plot

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	gplot "gonum.org/v1/plot"
)

// near reports whether a is within a few levels of b in each channel (edges are antialiased).
func near(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return math.Abs(float64(x)-float64(y)) <= 8 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

// where counts the pixels of colour c and returns their bounding box.
func where(img *image.RGBA, c color.RGBA) (n int, box image.Rectangle) {
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			if near(img.RGBAAt(x, y), c) {
				n++
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return n, box
}

// darkIn counts near-black pixels (text, axes) in r.
func darkIn(img *image.RGBA, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := img.RGBAAt(x, y); c.R < 80 && c.G < 80 && c.B < 80 {
				n++
			}
		}
	}
	return n
}

// lightIn counts near-white pixels (text on a dark cell) in r.
func lightIn(img *image.RGBA, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := img.RGBAAt(x, y); c.R > 180 && c.G > 180 && c.B > 180 {
				n++
			}
		}
	}
	return n
}

func TestChartRender(t *testing.T) {
	blue := color.RGBA{0, 0, 255, 255}
	c := Chart{Title: "loss", XLabel: "epoch", YLabel: "loss", Width: 400, Height: 300, Series: []Series{
		{Name: "train", X: []float64{1, 2, 3, 4}, Y: []float64{2, 1.2, 0.8, math.NaN()}, Line: true, Points: true, Color: blue},
	}}
	img, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 400 || img.Bounds().Dy() != 300 {
		t.Fatalf("size %v", img.Bounds())
	}
	n, box := where(img, blue)
	if n < 100 {
		t.Fatalf("series drew only %d pixels", n)
	}
	// The falling curve: its leftmost blue pixels are higher (smaller y) than its rightmost.
	leftTop, rightTop := -1, -1
	for y := box.Min.Y; y < box.Max.Y && (leftTop < 0 || rightTop < 0); y++ {
		if leftTop < 0 && near(img.RGBAAt(box.Min.X+2, y), blue) {
			leftTop = y
		}
		if rightTop < 0 && near(img.RGBAAt(box.Max.X-3, y), blue) {
			rightTop = y
		}
	}
	if leftTop < 0 || rightTop <= leftTop {
		t.Fatalf("curve does not fall left to right: left edge at y=%d, right edge at y=%d", leftTop, rightTop)
	}
	// The title is real text in the top band's middle; without a title there is less ink there.
	band := image.Rect(150, 0, 250, 22)
	if darkIn(img, band) < 20 {
		t.Fatalf("no title drawn: %d dark pixels in the top band", darkIn(img, band))
	}
	untitled := c
	untitled.Title = ""
	u, err := untitled.Render()
	if err != nil {
		t.Fatal(err)
	}
	if darkIn(u, band) >= darkIn(img, band) {
		t.Fatal("the top band is as dark without a title")
	}

	c.LogX = true
	if _, err := c.Render(); err != nil {
		t.Fatal(err)
	}
	// Only x ≤ 0 left on a log axis: nothing to draw.
	if _, err := (Chart{LogX: true, Series: []Series{{X: []float64{0, -1}, Y: []float64{1, 2}, Line: true}}}).Render(); !errors.Is(err, ErrNoData) {
		t.Fatalf("log axis without positive x: %v", err)
	}
	if _, err := (Chart{Series: []Series{{X: []float64{math.NaN()}, Y: []float64{1}}}}).Render(); !errors.Is(err, ErrNoData) {
		t.Fatalf("no data: %v", err)
	}
	path := filepath.Join(t.TempDir(), "c.png")
	if err := c.WritePNG(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if dec.Bounds().Dx() != 400 || dec.Bounds().Dy() != 300 {
		t.Fatalf("PNG size %v", dec.Bounds())
	}
}

// A fixed Y range holds even when the data spans less of it.
func TestChartFixedYRange(t *testing.T) {
	red := color.RGBA{255, 0, 0, 255}
	chart := func(ymax float64) *image.RGBA {
		img, err := Chart{Width: 300, Height: 300, YMin: 0, YMax: ymax, Series: []Series{
			{X: []float64{1, 2}, Y: []float64{0.5, 0.5}, Line: true, Color: red}}}.Render()
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	_, half := where(chart(1), red)
	_, low := where(chart(2), red)
	if low.Min.Y <= half.Min.Y {
		t.Fatalf("y=0.5 at pixel row %d on 0..1 and %d on 0..2: want lower on 0..2", half.Min.Y, low.Min.Y)
	}
}

func TestHeatmap(t *testing.T) {
	hm := Heatmap{Title: "confusion", RowLabel: "true", ColLabel: "predicted", Rows: []string{"a", "b"}, Cols: []string{"a", "b"},
		Values: [][]float64{{5, 1}, {0, 6}}, ShowValues: true}
	img, err := hm.Render()
	if err != nil {
		t.Fatal(err)
	}
	// The largest cell (true b, predicted b) is the darkest shade, bottom right.
	n, full := where(img, shade(1))
	if n < 30*30 {
		t.Fatalf("max cell has %d pixels of the full shade", n)
	}
	_, five := where(img, shade(5.0/6))
	if full.Min.X <= five.Min.X || full.Min.Y <= five.Min.Y {
		t.Fatalf("cell 6 at %v is not below and right of cell 5 at %v", full, five)
	}
	if n, _ := where(img, shade(0)); n < 30*30 {
		t.Fatalf("zero cell has %d white pixels", n)
	}
	// White count text on the darkest cell.
	if n := lightIn(img, full.Inset(4)); n < 5 {
		t.Fatalf("no value written in the darkest cell (%d white pixels)", n)
	}
	// More classes, bigger image.
	big := Heatmap{Rows: []string{"a", "b", "c", "d"}, Cols: []string{"a", "b", "c", "d"},
		Values: [][]float64{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}}
	bi, err := big.Render()
	if err != nil {
		t.Fatal(err)
	}
	if bi.Bounds().Dx() < img.Bounds().Dx()+2*cellPx-4 {
		t.Fatalf("4×4 is %v, 2×2 is %v", bi.Bounds(), img.Bounds())
	}
	if _, err := (Heatmap{}).Render(); !errors.Is(err, ErrNoData) {
		t.Fatal(err)
	}
}

func TestTicks(t *testing.T) {
	vals := func(ts []gplot.Tick) []float64 {
		var vs []float64
		for _, tk := range ts {
			vs = append(vs, tk.Value)
		}
		return vs
	}
	ts := vals(niceTicks{N: 5}.Ticks(0, 1))
	if len(ts) < 4 || ts[0] != 0 || ts[len(ts)-1] != 1 {
		t.Fatalf("ticks %v", ts)
	}
	lt := vals(logTicks{}.Ticks(0.015, 0.7))
	want := []float64{0.02, 0.05, 0.1, 0.2, 0.5}
	if len(lt) != len(want) {
		t.Fatalf("log ticks %v", lt)
	}
	for i := range want {
		if math.Abs(lt[i]/want[i]-1) > 1e-9 {
			t.Fatalf("log ticks %v", lt)
		}
	}
	if l := (logTicks{}).Ticks(0.02, 0.03); len(l) < 2 {
		t.Fatalf("a narrow log span got %d ticks", len(l))
	}
}
