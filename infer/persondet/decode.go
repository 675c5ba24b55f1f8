package persondet

import (
	"fmt"
	"slices"

	"github.com/actionstream/actionstream/infer"
)

// Detection is one detected box.
type Detection struct {
	// Box is [x1, y1, x2, y2] as fractions of the image (x2, y2 exclusive), clamped to [0, 1].
	Box   [4]float32
	Score float32
	Class int
}

// candidate is a box in network-input pixels before the letterbox is undone.
type candidate struct {
	cx, cy, w, h float32
	score        float32
	class        int
}

// decodeOutput reads one image's output rows: YOLOX [boxes][4+1+C] (score = objectness ×
// class score), YOLOv8 [4+C][boxes] (score = class score). As both projects' own
// post-processing does, a box is labelled with its best class; it is kept when that is
// class and the score reaches thr.
func decodeOutput(format string, out []float32, boxes, feats, class int, thr float32) ([]candidate, error) {
	var cands []candidate
	if format == infer.PersonFormatYOLOX {
		for b := 0; b < boxes; b++ {
			row := out[b*feats : (b+1)*feats]
			score := row[4] * row[5+class]
			if score < thr || !best(row[5:], class) {
				continue
			}
			if row[2] < 0 || row[3] < 0 {
				return nil, fmt.Errorf("%w: box %d has size %gx%g (raw head values: export YOLOX with --decode_in_inference)", ErrNotDecoded, b, row[2], row[3])
			}
			cands = append(cands, candidate{row[0], row[1], row[2], row[3], score, class})
		}
		return cands, nil
	}
	at := func(f, b int) float32 { return out[f*boxes+b] }
	for b := 0; b < boxes; b++ {
		score := at(4+class, b)
		if score < thr {
			continue
		}
		if !bestAt(func(f int) float32 { return at(4+f, b) }, feats-4, class) {
			continue
		}
		cands = append(cands, candidate{at(0, b), at(1, b), at(2, b), at(3, b), score, class})
	}
	return cands, nil
}

// best reports whether scores[class] is the highest (the first of equal highs, as argmax).
func best(scores []float32, class int) bool {
	return bestAt(func(i int) float32 { return scores[i] }, len(scores), class)
}

// bestAt is best over n scores read through score(i).
func bestAt(score func(i int) float32, n, class int) bool {
	s := score(class)
	for i := 0; i < n; i++ {
		if v := score(i); v > s || v == s && i < class {
			return false
		}
	}
	return true
}

// toDetections undoes the letterbox: centre-size in input pixels to corner fractions of
// the source image. Boxes left with no area (entirely in the padding) are dropped.
func toDetections(cands []candidate, lb letterbox, srcW, srcH int) []Detection {
	dets := make([]Detection, 0, len(cands))
	for _, c := range cands {
		x1, y1 := lb.toImage(c.cx-c.w/2, c.cy-c.h/2, srcW, srcH)
		x2, y2 := lb.toImage(c.cx+c.w/2, c.cy+c.h/2, srcW, srcH)
		if x2 <= x1 || y2 <= y1 {
			continue
		}
		dets = append(dets, Detection{Box: [4]float32{x1, y1, x2, y2}, Score: c.score, Class: c.class})
	}
	return dets
}

// NMS is class-wise greedy non-maximum suppression: best score first, a box is dropped
// when it overlaps a kept box of its class by IoU > iou. The result is sorted by score.
func NMS(dets []Detection, iou float32) []Detection {
	sorted := slices.Clone(dets)
	slices.SortStableFunc(sorted, func(a, b Detection) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	kept := sorted[:0]
	for _, d := range sorted {
		keep := true
		for _, k := range kept {
			if k.Class == d.Class && IoU(k.Box, d.Box) > iou {
				keep = false
				break
			}
		}
		if keep {
			kept = append(kept, d)
		}
	}
	return kept
}

// IoU is the intersection over union of two [x1, y1, x2, y2] boxes.
func IoU(a, b [4]float32) float32 {
	iw := min(a[2], b[2]) - max(a[0], b[0])
	ih := min(a[3], b[3]) - max(a[1], b[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}
