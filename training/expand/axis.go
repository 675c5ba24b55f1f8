package expand

import (
	"math"

	"github.com/actionstream/actionstream/training/x3d"
)

// Granularity of the axes: frames step by one (the frame-rate axis adjusts τ to keep the
// duration); the crop steps by CropStep pixels; the multipliers γw, γb, γd take values on a
// grid of MultStep, the precision of the paper's published factors (2.25, 2.2, 2.9). x3d
// rounds widths to multiples of 8 and depths up to whole blocks, so several grid values can
// build the same network; the smallest such value represents it.
const (
	CropStep = 8    // training crops are multiples of 8
	MultStep = 0.01 // grid of the width, bottleneck and depth multipliers
	maxScan  = 6000 // values tried along one axis, a guard against endless scans
	minMult  = 0.05 // smallest multiplier a contraction may reach
)

// costFunc counts a network's multiply-adds (MACs); ok=false for factors x3d refuses.
type costFunc func(f x3d.Factors) (macs int64, ok bool)

// macsOf counts f with x3d's counter.
func macsOf(numClasses int) costFunc {
	return func(f x3d.Factors) (int64, bool) {
		if f.Validate() != nil {
			return 0, false
		}
		a, err := x3d.Build(f, "candidate", numClasses)
		if err != nil {
			return 0, false
		}
		return a.Cost().MACs, true
	}
}

// step moves f one granule along axis a, up (dir=+1) or down (dir=-1). duration is the clip
// length T·τ the frame-rate axis keeps. ok=false when the axis has no further value.
func step(f x3d.Factors, a x3d.Axis, dir int, duration int) (x3d.Factors, bool) {
	switch a {
	case x3d.AxisFrames:
		f.Frames += dir
		return f, f.Frames >= 1
	case x3d.AxisFrameRate:
		// Keep the clip's duration T·τ: τ = duration/T, rounded half down (of two equally
		// close frame rates, the faster is what this axis is after). Below one frame at
		// 30 fps the source has no more frames to give: the axis is exhausted.
		f.Frames += dir
		if f.Frames < 1 {
			return f, false
		}
		exact := float64(duration) / float64(f.Frames)
		if exact < 1 {
			return f, false
		}
		f.SamplingRate = max(1, int(math.Ceil(exact-0.5)))
		return f, true
	case x3d.AxisSpatial:
		// A crop off the grid moves to the nearest grid value in the direction of travel.
		if dir > 0 {
			f.Crop = (f.Crop/CropStep + 1) * CropStep
		} else {
			f.Crop = ((f.Crop+CropStep-1)/CropStep - 1) * CropStep
		}
		f.PoolCrop = 0
		return f, f.Crop >= 32
	case x3d.AxisWidth:
		f.Width = stepMult(f.Width, dir)
		return f, f.Width >= minMult
	case x3d.AxisBottleneck:
		f.Bottleneck = stepMult(f.Bottleneck, dir)
		return f, f.Bottleneck >= minMult
	case x3d.AxisDepth:
		f.Depth = stepMult(f.Depth, dir)
		return f, f.Depth >= minMult
	}
	return f, false
}

// stepMult moves a multiplier one MultStep along the grid of MultStep multiples (a value
// off the grid first moves to the nearest grid value in the direction of travel).
func stepMult(v float64, dir int) float64 {
	k := v / MultStep
	if dir > 0 {
		k = math.Floor(k+1e-9) + 1
	} else {
		k = math.Ceil(k-1e-9) - 1
	}
	return math.Round(k*MultStep*1e6) / 1e6
}

// pick is the value chosen along one axis.
type pick struct {
	f    x3d.Factors
	macs int64
}

// expandAxis finds the value of axis a above cur whose MACs are closest (in log ratio) to
// c × curMACs. Ties go to the smaller network. ok=false when the axis cannot grow.
func expandAxis(cur x3d.Factors, curMACs int64, a x3d.Axis, c float64, cost costFunc) (pick, bool) {
	return scan(cur, a, +1, float64(curMACs)*c, cost, func(m int64) bool { return m > curMACs })
}

// contractAxis finds the value of axis a at or below cur whose MACs are closest to target.
func contractAxis(cur x3d.Factors, curMACs int64, a x3d.Axis, target float64, cost costFunc) (pick, bool) {
	best := pick{cur, curMACs}
	p, ok := scan(cur, a, -1, target, cost, func(int64) bool { return true })
	if ok && logDist(float64(p.macs), target) < logDist(float64(curMACs), target) {
		best = p
	}
	return best, true
}

// scan walks axis a from cur in direction dir and returns the accepted value whose MACs are
// closest to want. It stops once the MACs are past want by more than the best distance found.
func scan(cur x3d.Factors, a x3d.Axis, dir int, want float64, cost costFunc, accept func(int64) bool) (pick, bool) {
	duration := cur.Frames * cur.SamplingRate
	var best pick
	bestD := math.Inf(1)
	found := false
	lastMACs := int64(-1)
	f := cur
	for range maxScan {
		var ok bool
		if f, ok = step(f, a, dir, duration); !ok {
			break
		}
		m, ok := cost(f)
		if !ok {
			break
		}
		if m == lastMACs {
			continue // the same network as the previous grid value: keep the smaller value
		}
		lastMACs = m
		if !accept(m) {
			continue
		}
		d := logDist(float64(m), want)
		if d < bestD {
			best, bestD, found = pick{f, m}, d, true
		}
		past := (dir > 0 && float64(m) > want) || (dir < 0 && float64(m) < want)
		if past && d > bestD {
			break // MACs only move away from want from here on
		}
	}
	return best, found
}

func logDist(a, b float64) float64 { return math.Abs(math.Log(a / b)) }
