package eval

import (
	"math"
	"testing"

	"github.com/actionstream/actionstream/infer/detect"
)

// Frame-level AP on hand-made detections with a known answer (VOC all-point interpolation).
func TestFrameAPKnownAnswer(t *testing.T) {
	truths := []Truth{
		{Frame: 0, Class: 0, Box: detect.Box{0, 0, 0.5, 0.5}},
		{Frame: 1, Class: 0, Box: detect.Box{0.5, 0.5, 1, 1}},
		{Frame: 1, Class: 1, Box: detect.Box{0, 0, 0.4, 0.4}},
	}
	dets := []Detection{
		{Frame: 0, Class: 0, Score: 0.9, Box: detect.Box{0, 0, 0.5, 0.5}},    // TP
		{Frame: 1, Class: 0, Score: 0.8, Box: detect.Box{0, 0, 0.3, 0.3}},    // FP: no class-0 truth there
		{Frame: 1, Class: 0, Score: 0.7, Box: detect.Box{0.5, 0.5, 1, 0.95}}, // TP (IoU 0.9)
		{Frame: 1, Class: 1, Score: 0.6, Box: detect.Box{0, 0, 0.4, 0.4}},    // TP
		{Frame: 1, Class: 1, Score: 0.5, Box: detect.Box{0, 0, 0.4, 0.4}},    // FP: the truth is taken
		{Frame: 0, Class: 1, Score: 0.4, Box: detect.Box{0, 0, 0.4, 0.4}},    // FP: wrong frame
	}
	aps := FrameAP(dets, truths, 3, 0.5)
	// class 0: precision 1 at recall 1/2, 2/3 at recall 1.
	if aps[0] == nil || math.Abs(*aps[0]-(0.5+0.5*2.0/3)) > 1e-9 {
		t.Errorf("class 0 AP %v, want %v", deref(aps[0]), 0.5+0.5*2.0/3)
	}
	if aps[1] == nil || *aps[1] != 1 {
		t.Errorf("class 1 AP %v, want 1 (the later false positives come after full recall)", deref(aps[1]))
	}
	if aps[2] != nil {
		t.Errorf("class 2 has no truths: AP %v, want nil", *aps[2])
	}
	// A ranking error costs: the false positive first gives precision 0, 1/2, 2/3, whose
	// envelope is 2/3 at both recalls.
	dets[1].Score = 0.95
	if got := *FrameAP(dets, truths, 3, 0.5)[0]; math.Abs(got-2.0/3) > 1e-9 {
		t.Errorf("class 0 AP with the FP ranked first %v, want 2/3", got)
	}
}

func TestFrameAPThreshold(t *testing.T) {
	truth := []Truth{{Frame: 3, Class: 0, Box: detect.Box{0, 0, 1, 1}}}
	for _, c := range []struct {
		y2   float32
		want float64
	}{{0.49, 0}, {0.51, 1}} {
		got := FrameAP([]Detection{{Frame: 3, Class: 0, Score: 1, Box: detect.Box{0, 0, 1, c.y2}}}, truth, 1, 0.5)
		if *got[0] != c.want {
			t.Errorf("IoU %.2f: AP %v, want %v", c.y2, *got[0], c.want)
		}
	}
	if got := FrameAP(nil, truth, 1, 0.5); *got[0] != 0 {
		t.Errorf("no detections: AP %v, want 0", *got[0])
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
