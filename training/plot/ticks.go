package plot

import (
	"math"
	"strconv"

	gplot "gonum.org/v1/plot"
)

// niceTicks labels about N round values (steps of 1, 2, 2.5 or 5 × 10^k); gonum's default
// labels only about three, too coarse for an accuracy axis.
type niceTicks struct{ N int }

func (nt niceTicks) Ticks(lo, hi float64) []gplot.Tick {
	var ts []gplot.Tick
	for _, v := range niceValues(lo, hi, nt.N) {
		ts = append(ts, gplot.Tick{Value: v, Label: formatTick(v)})
	}
	return ts
}

// logTicks labels 1, 2 and 5 in each decade; gonum's LogTicks labels only powers of ten,
// which leaves a span under one decade (the usual expansion search) with one label or none.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []gplot.Tick {
	var ts []gplot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				ts = append(ts, gplot.Tick{Value: v, Label: formatTick(v)})
			}
		}
	}
	if len(ts) < 2 {
		return niceTicks{N: 5}.Ticks(lo, hi)
	}
	return ts
}

func niceValues(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(n)
	if !(raw > 0) {
		return []float64{lo}
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var vs []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		vs = append(vs, math.Round(v/step)*step)
	}
	return vs
}

func formatTick(v float64) string {
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
