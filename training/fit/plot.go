package fit

import (
	"fmt"
	"image"
	"image/draw"

	"github.com/actionstream/actionstream/training/plot"
)

// WriteCurves draws loss and top-1 per epoch (train and validation) side by side.
func WriteCurves(path, title string, hist []Epoch) error {
	var ep, tl, ta, vx, vl, vt []float64
	for _, e := range hist {
		x := float64(e.Epoch)
		ep = append(ep, x)
		tl = append(tl, e.TrainLoss)
		ta = append(ta, e.TrainAcc)
		switch {
		case e.ValMAP != nil: // detection: the val curve is frame-mAP@0.5
			vx = append(vx, x)
			vl = append(vl, deref(e.ValLoss))
			vt = append(vt, *e.ValMAP)
		case e.ValTop1 != nil:
			vx = append(vx, x)
			vl = append(vl, deref(e.ValLoss))
			vt = append(vt, *e.ValTop1)
		}
	}
	series := func(train, val []float64) []plot.Series {
		s := []plot.Series{{Name: "train", X: ep, Y: train, Line: true}}
		if len(vx) > 0 {
			s = append(s, plot.Series{Name: "val", X: vx, Y: val, Line: true, Points: true})
		}
		return s
	}
	lossName, accTitle, accName := "cross-entropy", ": top-1", "accuracy"
	if len(hist) > 0 && hist[len(hist)-1].ValMAP != nil {
		lossName, accTitle, accName = "detection loss", ": centre acc (train), frame-mAP@0.5 (val)", "accuracy / mAP"
	}
	charts := []plot.Chart{
		{Title: title + ": loss", XLabel: "epoch", YLabel: lossName, Width: 640, Height: 420, Series: series(tl, vl)},
		{Title: title + accTitle, XLabel: "epoch", YLabel: accName, Width: 640, Height: 420, YMin: 0, YMax: 1, Series: series(ta, vt)},
	}
	img := image.NewRGBA(image.Rect(0, 0, 1280, 420))
	for i, c := range charts {
		if len(hist) == 0 {
			return fmt.Errorf("fit: curves: %w", plot.ErrNoData)
		}
		part, err := c.Render()
		if err != nil {
			return fmt.Errorf("fit: curves: %w", err)
		}
		draw.Draw(img, part.Bounds().Add(image.Pt(640*i, 0)), part, part.Bounds().Min, draw.Src)
	}
	if err := plot.WritePNG(path, img); err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	return nil
}

// WriteConfusion draws a confusion matrix (rows: true class, columns: predicted) with
// the counts in the cells.
func WriteConfusion(path, title string, labels []string, conf [][]int) error {
	if len(labels) == 0 || len(conf) != len(labels) {
		return fmt.Errorf("%w: confusion matrix %d rows for %d labels", ErrOptions, len(conf), len(labels))
	}
	vals := make([][]float64, len(conf))
	for i, row := range conf {
		if len(row) != len(labels) {
			return fmt.Errorf("%w: confusion row %d has %d columns", ErrOptions, i, len(row))
		}
		vals[i] = make([]float64, len(row))
		for j, v := range row {
			vals[i][j] = float64(v)
		}
	}
	hm := plot.Heatmap{Title: title, RowLabel: "true", ColLabel: "predicted", Rows: labels, Cols: labels,
		Values: vals, ShowValues: true}
	if err := hm.WritePNG(path); err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	return nil
}
