package decode

import (
	"strings"
	"testing"
)

func TestLimits(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Limits{MaxWidth: 0, MaxHeight: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "max_width") || !strings.Contains(err.Error(), "max_height") {
		t.Fatalf("zero limits: %v", err)
	}
	if err := (Limits{MaxWidth: 1, MaxHeight: 1, HWAccel: "nvdec"}).Validate(); err == nil || !strings.Contains(err.Error(), `hwaccel must be none or cuda, not "nvdec"`) {
		t.Fatalf("bad hwaccel: %v", err)
	}
	if c := (Limits{HWAccel: HWAccelCUDA, HWDevice: "1"}).Apply(Config{}); c.HWAccel != HWAccelCUDA || c.HWDevice != "1" {
		t.Fatalf("Apply hwaccel: %+v", c)
	}
	if c := (Limits{MaxWidth: 640, MaxHeight: 480}).Apply(Config{Stream: "cam", Size: 32}); c.MaxWidth != 640 || c.MaxHeight != 480 || c.Size != 32 || c.Stream != "cam" {
		t.Fatalf("Apply: %+v", c)
	}
}
