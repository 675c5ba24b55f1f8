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
)

func count(img *image.RGBA, c color.RGBA) int {
	n := 0
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			if img.RGBAAt(x, y) == c {
				n++
			}
		}
	}
	return n
}

func TestDrawText(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 40, 10))
	red := color.RGBA{255, 0, 0, 255}
	DrawText(img, 0, 0, "1", red, 1)
	// "1" has 10 lit cells in the 5x7 glyph.
	if n := count(img, red); n != 10 {
		t.Fatalf("'1' lit %d pixels, want 10", n)
	}
	if TextWidth("ab", 2) != 22 || TextHeight(2) != 14 {
		t.Fatalf("text metrics %d %d", TextWidth("ab", 2), TextHeight(2))
	}
	// Lower case draws as upper case; unknown runes as a box.
	a, b := image.NewRGBA(img.Rect), image.NewRGBA(img.Rect)
	DrawText(a, 0, 0, "gflops", red, 1)
	DrawText(b, 0, 0, "GFLOPS", red, 1)
	if string(a.Pix) != string(b.Pix) {
		t.Fatal("lower case differs from upper case")
	}
	up := image.NewRGBA(image.Rect(0, 0, 10, 40))
	DrawTextUp(up, 0, 39, "1", red, 1)
	if n := count(up, red); n != 10 {
		t.Fatalf("rotated '1' lit %d pixels", n)
	}
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
	if n := count(img, blue); n < 100 {
		t.Fatalf("series drew only %d pixels", n)
	}
	// The first point is left of and above the third (y grows downwards in the image).
	c.LogX = true
	if _, err := c.Render(); err != nil {
		t.Fatal(err)
	}
	if _, err := (Chart{Series: []Series{{X: []float64{math.NaN()}, Y: []float64{1}}}}).Render(); !errors.Is(err, ErrNoData) {
		t.Fatalf("no data: %v", err)
	}
	path := filepath.Join(t.TempDir(), "c.png")
	if err := c.WritePNG(path); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatal(err)
	}
}

func TestHeatmap(t *testing.T) {
	hm := Heatmap{Title: "confusion", RowLabel: "true", ColLabel: "predicted", Rows: []string{"a", "b"}, Cols: []string{"a", "b"},
		Values: [][]float64{{5, 1}, {0, 6}}, ShowValues: true}
	img, err := hm.Render()
	if err != nil {
		t.Fatal(err)
	}
	// The largest cell is the darkest shade.
	if n := count(img, shade(1)); n < 30*30 {
		t.Fatalf("max cell has %d pixels of the full shade", n)
	}
	if n := count(img, shade(0)); n < 30*30 {
		t.Fatalf("zero cell has %d white pixels", n)
	}
	if _, err := (Heatmap{}).Render(); !errors.Is(err, ErrNoData) {
		t.Fatal(err)
	}
}

func TestTicks(t *testing.T) {
	ts := niceTicks(0, 1, 5)
	if len(ts) < 4 || ts[0] != 0 || ts[len(ts)-1] != 1 {
		t.Fatalf("ticks %v", ts)
	}
	lt := logTicks(0.015, 0.7)
	want := []float64{0.02, 0.05, 0.1, 0.2, 0.5}
	if len(lt) != len(want) {
		t.Fatalf("log ticks %v", lt)
	}
	for i := range want {
		if math.Abs(lt[i]/want[i]-1) > 1e-9 {
			t.Fatalf("log ticks %v", lt)
		}
	}
}
