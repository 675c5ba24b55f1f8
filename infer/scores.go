package infer

import (
	"math"
	"sort"
	"time"

	"github.com/actionstream/actionstream/infer/detect"
)

// ScoredClip is one clip of a stream with its scores: what inference hands the action
// lifecycle (events), the one type both stages use.
type ScoredClip struct {
	Stream             string
	Seq                uint64
	Start, End         time.Duration // PTS of the clip's first and last samples
	StartWall, EndWall time.Time
	Labels             []string  // the model's labels, shared by every clip: read only
	Scores             []float32 // one per label, per the model's score function; owned by the receiver
	Model              string    // the model's name
	ModelDigest        string    // "sha256:<hex>" of the model file
	// Key is the PTS of the clip's key frame (its middle sample, T/2), where Actors' boxes are.
	Key time.Duration
	// Actors are a detection model's actors, best first: nil for classification, non-nil (maybe
	// empty) for detection. Scores is then each label's best score over them.
	Actors []Actor
}

// Actor is one actor a detection model found in a clip.
type Actor struct {
	Box     detect.Box // [x1, y1, x2, y2], fractions [0,1] of the source frame at the key frame
	Score   float32    // how sure the model (or person detector) is that an actor is there
	Scores  []float32  // one per label
	TrackID int        // the actor's id across clips of its stream (0 until a tracker sets it)
}

// TopK is the clip's k best labels (see TopK).
func (c ScoredClip) TopK(k int) []LabelScore { return TopK(c.Labels, c.Scores, k) }

// LabelScore is one class and its score.
type LabelScore struct {
	Label string  `json:"label"`
	Score float32 `json:"score"`
}

// ClampScore is the one rule for a score that is not a probability: values above 1 count as
// 1, below 0 as 0, and NaN as 0, so one bad logit can neither poison a moving average nor
// outrank a real score, and every score reported is valid JSON in [0, 1].
func ClampScore(v float32) float32 {
	switch {
	case v > 1:
		return 1
	case v >= 0:
		return v
	}
	return 0 // negative or NaN
}

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

// TopK returns the k highest scores with their labels, best first, each score under
// ClampScore's rule (so NaN ranks as 0); ties keep label order. k <= 0 or k > len(scores)
// means all.
func TopK(labels []string, scores []float32, k int) []LabelScore {
	n := min(len(labels), len(scores))
	if k <= 0 || k > n {
		k = n
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ClampScore(scores[idx[a]]) > ClampScore(scores[idx[b]]) })
	out := make([]LabelScore, k)
	for i := range out {
		out[i] = LabelScore{Label: labels[idx[i]], Score: ClampScore(scores[idx[i]])}
	}
	return out
}
