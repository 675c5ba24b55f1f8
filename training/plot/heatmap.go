package plot

import (
	"image"
	"image/color"
	"math"
	"strconv"
)

// Heatmap is a labelled matrix, e.g. a confusion matrix (rows: true class, columns:
// predicted class).
type Heatmap struct {
	Title      string
	RowLabel   string // axis title of the rows, e.g. "true"
	ColLabel   string // axis title of the columns, e.g. "predicted"
	Rows, Cols []string
	Values     [][]float64 // Values[row][col]
	// ShowValues writes each cell's value (integers as such, others with 2 decimals).
	ShowValues bool
}

// Render draws the heatmap. Cell shade is the value over the matrix maximum.
func (hm Heatmap) Render() (*image.RGBA, error) {
	nr, nc := len(hm.Rows), len(hm.Cols)
	if nr == 0 || nc == 0 || len(hm.Values) < nr {
		return nil, ErrNoData
	}
	maxV := 0.0
	for r := range nr {
		for c := range min(nc, len(hm.Values[r])) {
			if v := hm.Values[r][c]; finite(v) {
				maxV = math.Max(maxV, v)
			}
		}
	}
	labelW := 0
	for _, s := range hm.Rows {
		labelW = max(labelW, TextWidth(s, fs))
	}
	colLabelH := 0
	for _, s := range hm.Cols {
		colLabelH = max(colLabelH, TextWidth(s, fs))
	}
	cell := 44
	left := labelW + 20 + TextHeight(fs) + 10
	top := 20 + colLabelH + 10
	if hm.Title != "" {
		top += TextHeight(fs) + 10
	}
	if hm.ColLabel != "" {
		top += TextHeight(fs) + 8
	}
	w := left + nc*cell + 20
	h := top + nr*cell + 20
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fillRect(img, 0, 0, w, h, white)
	y := 10
	if hm.Title != "" {
		DrawText(img, (w-TextWidth(hm.Title, fs))/2, y, hm.Title, black, fs)
		y += TextHeight(fs) + 10
	}
	if hm.ColLabel != "" {
		DrawText(img, left+(nc*cell-TextWidth(hm.ColLabel, fs))/2, y, hm.ColLabel, black, fs)
	}
	if hm.RowLabel != "" {
		DrawTextUp(img, 8, top+(nr*cell+TextWidth(hm.RowLabel, fs))/2, hm.RowLabel, black, fs)
	}
	for c, s := range hm.Cols {
		DrawTextUp(img, left+c*cell+(cell-TextHeight(fs))/2, top-8, s, black, fs)
	}
	for r, s := range hm.Rows {
		DrawText(img, left-10-TextWidth(s, fs), top+r*cell+(cell-TextHeight(fs))/2, s, black, fs)
		for c := range nc {
			v := math.NaN()
			if c < len(hm.Values[r]) {
				v = hm.Values[r][c]
			}
			t := 0.0
			if maxV > 0 && finite(v) {
				t = math.Max(0, v/maxV)
			}
			bg := shade(t)
			x0, y0 := left+c*cell, top+r*cell
			fillRect(img, x0, y0, cell, cell, bg)
			rect(img, x0, y0, x0+cell, y0+cell, grey)
			if hm.ShowValues && finite(v) {
				s := strconv.FormatFloat(v, 'f', 2, 64)
				if v == math.Trunc(v) {
					s = strconv.FormatFloat(v, 'f', 0, 64)
				}
				fg := black
				if t > 0.55 {
					fg = white
				}
				sc := fs
				if TextWidth(s, sc) > cell-4 {
					sc = 1
				}
				DrawText(img, x0+(cell-TextWidth(s, sc))/2, y0+(cell-TextHeight(sc))/2, s, fg, sc)
			}
		}
	}
	return img, nil
}

// WritePNG renders the heatmap into a PNG file.
func (hm Heatmap) WritePNG(path string) error {
	img, err := hm.Render()
	if err != nil {
		return err
	}
	return WritePNG(path, img)
}

// shade maps 0..1 to white..dark blue.
func shade(t float64) color.RGBA {
	lerp := func(a, b float64) uint8 { return uint8(math.Round(a + (b-a)*t)) }
	return color.RGBA{lerp(255, 8), lerp(255, 48), lerp(255, 107), 255}
}
