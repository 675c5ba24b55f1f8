package person

import (
	"context"
	"fmt"
	"sort"

	"github.com/actionstream/actionstream/infer/persondet"
)

// MatchIoU is the overlap a detection needs with a true box to count (the AVA protocol's 0.5).
const MatchIoU = 0.5

// Metrics are box-level counts at the detector's score threshold.
type Metrics struct {
	Images     int     `json:"images"`
	Truth      int     `json:"true_boxes"`
	Detections int     `json:"detections"`
	Matched    int     `json:"matched"` // detections matched one-to-one to a true box at IoU >= 0.5
	Precision  float64 `json:"precision"`
	Recall     float64 `json:"recall"`
	// AP is the area under the precision-recall curve of the detections ranked by score
	// (all-point interpolation), down to the detector's score threshold.
	AP float64 `json:"ap"`
}

func (m Metrics) String() string {
	return fmt.Sprintf("%d images, %d true boxes, %d detections: precision %.3f, recall %.3f, AP %.3f at IoU %.1f",
		m.Images, m.Truth, m.Detections, m.Precision, m.Recall, m.AP, MatchIoU)
}

// Evaluate runs det on every image of s whose split is split ("" = all) and matches its
// detections, best score first, each to the unmatched true box it overlaps most (IoU >= 0.5).
func Evaluate(ctx context.Context, det *persondet.Detector, s *Set, split string) (Metrics, error) {
	var m Metrics
	var ranked []scored
	var idx []int
	for i, im := range s.Images {
		if split == "" || im.Split == split {
			idx = append(idx, i)
		}
	}
	const chunk = 16
	for start := 0; start < len(idx); start += chunk {
		part := idx[start:min(start+chunk, len(idx))]
		ims := make([]persondet.Image, len(part))
		for j, i := range part {
			ims[j] = s.Image(i)
		}
		dets, err := det.DetectBatch(ctx, ims)
		if err != nil {
			return m, err
		}
		for j, i := range part {
			truth := s.Images[i].Boxes
			m.Images++
			m.Truth += len(truth)
			m.Detections += len(dets[j])
			hits := match(dets[j], truth)
			for k, d := range dets[j] {
				ranked = append(ranked, scored{d.Score, hits[k]})
				if hits[k] {
					m.Matched++
				}
			}
		}
	}
	if m.Detections > 0 {
		m.Precision = float64(m.Matched) / float64(m.Detections)
	}
	if m.Truth > 0 {
		m.Recall = float64(m.Matched) / float64(m.Truth)
	}
	m.AP = averagePrecision(ranked, m.Truth)
	return m, nil
}

type scored struct {
	score float32
	hit   bool
}

// averagePrecision is the all-point interpolated area under the precision-recall curve.
func averagePrecision(ranked []scored, truth int) float64 {
	if truth == 0 {
		return 0
	}
	sort.SliceStable(ranked, func(i, j int) bool { return ranked[i].score > ranked[j].score })
	prec := make([]float64, len(ranked))
	rec := make([]float64, len(ranked))
	tp := 0
	for i, r := range ranked {
		if r.hit {
			tp++
		}
		prec[i], rec[i] = float64(tp)/float64(i+1), float64(tp)/float64(truth)
	}
	for i := len(prec) - 2; i >= 0; i-- { // the highest precision at this recall or beyond
		prec[i] = max(prec[i], prec[i+1])
	}
	ap, prevRec := 0.0, 0.0
	for i := range ranked {
		ap += (rec[i] - prevRec) * prec[i]
		prevRec = rec[i]
	}
	return ap
}

// match says which detections (sorted best first) match a true box one-to-one.
func match(dets []persondet.Detection, truth [][4]float32) []bool {
	used := make([]bool, len(truth))
	hits := make([]bool, len(dets))
	for i, d := range dets {
		best, bestIoU := -1, float32(MatchIoU)
		for t, box := range truth {
			if iou := persondet.IoU(d.Box, box); !used[t] && iou >= bestIoU {
				best, bestIoU = t, iou
			}
		}
		if best >= 0 {
			used[best], hits[i] = true, true
		}
	}
	return hits
}
