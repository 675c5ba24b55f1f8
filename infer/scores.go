package infer

import (
	"math"
	"sort"

	"github.com/actionstream/actionstream/events"
)

// Scores turns one clip's logits (or a batch, row-major [n,C]) into scores per the
// model's metadata: softmax over each row of C = len(meta.Labels), or an independent
// sigmoid per logit. It returns a new slice.
func Scores(meta Metadata, logits []float32) []float32 {
	out := make([]float32, len(logits))
	ScoresInto(meta, logits, out)
	return out
}

// ScoresInto is Scores writing into out (len >= len(logits)).
func ScoresInto(meta Metadata, logits, out []float32) {
	if meta.Score == ScoreSigmoid {
		for i, x := range logits {
			out[i] = float32(1 / (1 + math.Exp(-float64(x))))
		}
		return
	}
	c := len(meta.Labels)
	if c <= 0 {
		c = len(logits)
	}
	for r := 0; r+c <= len(logits); r += c {
		row, dst := logits[r:r+c], out[r:r+c]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = math.Max(mx, float64(x))
		}
		// Subtracting the max keeps exp in range for large logits.
		var sum float64
		for i, x := range row {
			e := math.Exp(float64(x) - mx)
			dst[i] = float32(e)
			sum += e
		}
		for i := range dst {
			dst[i] = float32(float64(dst[i]) / sum)
		}
	}
}

// TopK returns the k highest scores with their labels, best first; ties keep label
// order. k <= 0 or k > len(scores) means all.
func TopK(labels []string, scores []float32, k int) []events.LabelScore {
	n := min(len(labels), len(scores))
	if k <= 0 || k > n {
		k = n
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	// NaN ranks last so one bad logit cannot break the ordering.
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := scores[idx[a]], scores[idx[b]]
		return x > y || (y != y && x == x)
	})
	out := make([]events.LabelScore, k)
	for i := range out {
		out[i] = events.LabelScore{Label: labels[idx[i]], Score: scores[idx[i]]}
	}
	return out
}
