package x3d

import (
	"errors"
	"testing"
)

func TestDetectionHeadCost(t *testing.T) {
	a, err := Build(Factors{Frames: 4, SamplingRate: 12, Crop: 64, Width: 2, Bottleneck: 2.25, Depth: 2.2}, "xs64", 9)
	if err != nil {
		t.Fatal(err)
	}
	cls := a.Cost()
	for _, c := range []struct {
		mode   string
		stride int
		lat    int // lateral convs: one per fused stage
	}{{ModeSingleStage, 4, 4}, {ModeSingleStage, 8, 3}, {ModeSingleStage, 16, 2}, {ModeRoI, 8, 3}} {
		d, err := a.WithDetectionStride(c.mode, 64, c.stride)
		if err != nil {
			t.Fatalf("%s/%d: %v", c.mode, c.stride, err)
		}
		cost := d.Cost()
		lat, head := 0, false
		for _, l := range cost.Layers {
			switch l.Name {
			case "neck.lat0", "neck.lat1", "neck.lat2", "neck.lat3":
				lat++
			case "neck.fuse":
				if g := 64 / c.stride; l.Output[2] != g || l.Output[3] != g {
					t.Errorf("%s/%d: fuse output %v, want %dx%d", c.mode, c.stride, l.Output, g, g)
				}
			case "head.conv_5", "head.lin_5":
				t.Errorf("%s/%d: the classification head is counted", c.mode, c.stride)
			case "head.actions.out", "head.proj":
				head = true
			}
		}
		if lat != c.lat || !head {
			t.Errorf("%s/%d: %d lateral convs (want %d), head counted %v", c.mode, c.stride, lat, c.lat, head)
		}
		// The backbone is the classification twin's; the heads replace lin_5's 2048-wide layer.
		if cost.Params >= cls.Params || cost.MACs <= 0 {
			t.Errorf("%s/%d: %d params (classification %d), %d MACs", c.mode, c.stride, cost.Params, cls.Params, cost.MACs)
		}
	}
	for _, bad := range []struct {
		mode   string
		stride int
		crop   int
	}{{"boxes", 8, 64}, {ModeSingleStage, 2, 64}, {ModeSingleStage, 32, 64}, {ModeSingleStage, 8, 48}} {
		b := a
		if bad.crop != 64 {
			if b, err = Build(Factors{Frames: 4, SamplingRate: 12, Crop: bad.crop, Width: 2, Bottleneck: 2.25, Depth: 2.2}, "x", 9); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.WithDetectionStride(bad.mode, 64, bad.stride); !errors.Is(err, ErrBadArch) {
			t.Errorf("%+v: err %v, want ErrBadArch", bad, err)
		}
	}
}
