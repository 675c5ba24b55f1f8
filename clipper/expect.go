package clipper

import (
	"sort"
	"time"
)

// ExpectedClip is one clip the sampling rule produces.
type ExpectedClip struct {
	Start, End time.Duration // PTS of the first and last sample frames
	Samples    []int         // index into the PTS list of the frame filling each sample
}

// Expectation is what a Clipper fed the same frames must produce.
type Expectation struct {
	Clips           []ExpectedClip // completed clips, in Seq order
	Dropped         int            // clips started and then broken by a gap or a backwards PTS
	Pending         int            // clips started but unfinished when the input ended
	Gaps            int
	Discontinuities int
	Converted       int // distinct frames that fill at least one sample (Want returns true for exactly these)
}

// Expect computes, from the PTS of every frame of a stream in decoding order, the clips the
// sampling rule yields. It is written independently of Clipper (whole segments at a time rather
// than frame by frame) so that tests elsewhere can check a pipeline's clip count and spans against
// the timestamp arithmetic, and so Clipper's own tests can check it against this.
func Expect(pts []time.Duration, cfg Config) (Expectation, error) {
	if err := cfg.Validate(); err != nil {
		return Expectation{}, err
	}
	cfg = cfg.WithDefaults()
	var e Expectation
	converted := make(map[int]bool)
	for a := 0; a < len(pts); {
		// The segment [a, b) runs until a gap or a backwards step.
		b, broken := a+1, false
		for ; b < len(pts); b++ {
			if pts[b] < pts[b-1] {
				e.Discontinuities++
				broken = true
				break
			}
			if pts[b]-pts[b-1] > cfg.GapTolerance {
				e.Gaps++
				broken = true
				break
			}
		}
		seg := pts[a:b]
		last := seg[len(seg)-1]
		for k := 0; ; k++ {
			start := seg[0] + time.Duration(k)*cfg.Hop
			if start > last {
				break
			}
			samples := make([]int, 0, cfg.Frames)
			for i := 0; i < cfg.Frames; i++ {
				target := start + time.Duration(i)*cfg.Interval()
				j := sort.Search(len(seg), func(j int) bool { return seg[j] >= target })
				if j == len(seg) {
					break
				}
				samples = append(samples, a+j)
				converted[a+j] = true
			}
			switch {
			case len(samples) == cfg.Frames:
				e.Clips = append(e.Clips, ExpectedClip{Start: pts[samples[0]], End: pts[samples[len(samples)-1]], Samples: samples})
			case broken:
				e.Dropped++
			default:
				e.Pending++
			}
		}
		a = b
	}
	e.Converted = len(converted)
	return e, nil
}
