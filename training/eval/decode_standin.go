package eval

import "sort"

// decoded is one actor of a single-stage model's outputs, in crop fractions.
type decoded struct {
	box    [4]float32
	score  float32
	scores []float32
}

// decodeStandIn is the contract's single-stage decoding (docs/MODEL_CONTRACT.md), a
// stand-in for infer/detect.Decode until that package is on this branch: a cell is a peak
// when its heat is >= its 8 neighbours and >= minScore (0 = 0.3); the maxActors (0 = 8)
// best peaks; centre ((gx+ox)*stride/S, (gy+oy)*stride/S), box centre ± size/2 clamped to
// [0,1]; scores = actions at the peak.
func decodeStandIn(g, stride, classes int, heat, size, off, act []float32, minScore float32, maxActors int) []decoded {
	if minScore <= 0 {
		minScore = 0.3
	}
	if maxActors <= 0 {
		maxActors = 8
	}
	cells := g * g
	type peak struct {
		x, y int
		v    float32
	}
	var peaks []peak
	for y := range g {
		for x := range g {
			v := heat[y*g+x]
			if v < minScore {
				continue
			}
			ok := true
			for dy := -1; dy <= 1 && ok; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if (dx != 0 || dy != 0) && nx >= 0 && ny >= 0 && nx < g && ny < g && heat[ny*g+nx] > v {
						ok = false
						break
					}
				}
			}
			if ok {
				peaks = append(peaks, peak{x, y, v})
			}
		}
	}
	sort.SliceStable(peaks, func(a, b int) bool { return peaks[a].v > peaks[b].v })
	if len(peaks) > maxActors {
		peaks = peaks[:maxActors]
	}
	s := float32(g * stride)
	clamp := func(v float32) float32 { return min(max(v, 0), 1) }
	out := make([]decoded, len(peaks))
	for i, p := range peaks {
		at := p.y*g + p.x
		cx := (float32(p.x) + off[at]) * float32(stride) / s
		cy := (float32(p.y) + off[cells+at]) * float32(stride) / s
		w, h := size[at], size[cells+at]
		sc := make([]float32, classes)
		for c := range classes {
			sc[c] = act[c*cells+at]
		}
		out[i] = decoded{box: [4]float32{clamp(cx - w/2), clamp(cy - h/2), clamp(cx + w/2), clamp(cy + h/2)}, score: p.v, scores: sc}
	}
	return out
}
