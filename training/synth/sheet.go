package synth

import (
	"image"
	"image/draw"
)

// ContactSheet renders the first, middle and last frame (plus the boxes' outlines) of up to
// rows videos, cols frames each, into one image: a quick look at what a plan draws.
func ContactSheet(p Plan, rows, cols int) *image.RGBA {
	rows = min(rows, len(p.Videos))
	if rows == 0 || cols < 1 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	w, h := p.Config.Width, p.Config.Height
	const gap = 2
	sheet := image.NewRGBA(image.Rect(0, 0, cols*(w+gap), rows*(h+gap)))
	for r := range rows {
		v := p.Videos[r]
		rend := NewRenderer(v)
		for c := range cols {
			i := 0
			if cols > 1 {
				i = c * (v.Frames - 1) / (cols - 1)
			}
			img, boxes := rend.Frame(i, nil)
			for _, b := range boxes {
				outline(img, b)
			}
			at := image.Pt(c*(w+gap), r*(h+gap))
			draw.Draw(sheet, image.Rectangle{Min: at, Max: at.Add(image.Pt(w, h))}, img, image.Point{}, draw.Src)
		}
	}
	return sheet
}

func outline(img *image.RGBA, b Box) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	x0, y0 := int(b.X1*float64(w)), int(b.Y1*float64(h))
	x1, y1 := int(b.X2*float64(w))-1, int(b.Y2*float64(h))-1
	set := func(x, y int) {
		if x >= 0 && y >= 0 && x < w && y < h {
			o := y*img.Stride + x*4
			img.Pix[o], img.Pix[o+1], img.Pix[o+2] = 255, 255, 0
		}
	}
	for x := x0; x <= x1; x++ {
		set(x, y0)
		set(x, y1)
	}
	for y := y0; y <= y1; y++ {
		set(x0, y)
		set(x1, y)
	}
}
