package person

import (
	"context"
	"fmt"

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
}

func (m Metrics) String() string {
	return fmt.Sprintf("%d images, %d true boxes, %d detections: precision %.3f, recall %.3f at IoU %.1f",
		m.Images, m.Truth, m.Detections, m.Precision, m.Recall, MatchIoU)
}

// Evaluate runs det on every image of s whose split is split ("" = all) and matches its
// detections, best score first, each to the unmatched true box it overlaps most (IoU >= 0.5).
func Evaluate(ctx context.Context, det *persondet.Detector, s *Set, split string) (Metrics, error) {
	var m Metrics
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
			m.Matched += match(dets[j], truth)
		}
	}
	if m.Detections > 0 {
		m.Precision = float64(m.Matched) / float64(m.Detections)
	}
	if m.Truth > 0 {
		m.Recall = float64(m.Matched) / float64(m.Truth)
	}
	return m, nil
}

// match counts the detections (sorted best first) matched one-to-one to true boxes.
func match(dets []persondet.Detection, truth [][4]float32) int {
	used := make([]bool, len(truth))
	n := 0
	for _, d := range dets {
		best, bestIoU := -1, float32(MatchIoU)
		for t, box := range truth {
			if iou := persondet.IoU(d.Box, box); !used[t] && iou >= bestIoU {
				best, bestIoU = t, iou
			}
		}
		if best >= 0 {
			used[best] = true
			n++
		}
	}
	return n
}
