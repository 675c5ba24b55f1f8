package detect

import (
	"errors"
	"testing"
)

func TestCropOf(t *testing.T) {
	for _, c := range []struct {
		w, h, short, size int
		want              Crop
	}{
		{112, 112, 0, 112, Crop{112, 112, 112}},
		{640, 360, 32, 32, Crop{57, 32, 32}}, // 640*32/360 = 56.9 -> 57
		{360, 640, 40, 32, Crop{40, 71, 32}}, // 640*40/360 = 71.1 -> 71
		{320, 240, 182, 160, Crop{243, 182, 160}},
	} {
		got, err := CropOf(c.w, c.h, c.short, c.size)
		if err != nil || got != c.want {
			t.Errorf("CropOf(%d,%d,%d,%d) = %+v, %v; want %+v", c.w, c.h, c.short, c.size, got, err, c.want)
		}
	}
	for _, bad := range [][4]int{{0, 10, 8, 8}, {10, 10, 4, 8}, {10, 10, 8, 0}} {
		if _, err := CropOf(bad[0], bad[1], bad[2], bad[3]); !errors.Is(err, ErrBadGeometry) {
			t.Errorf("CropOf%v: err = %v, want ErrBadGeometry", bad, err)
		}
	}
}

func TestCropToSource(t *testing.T) {
	// A square frame resized to the crop: crop = frame.
	sq := Crop{112, 112, 112}
	b := Box{0.1, 0.2, 0.6, 0.9}
	if got := sq.ToSource(b); !nearBox(got, b) {
		t.Errorf("square frame: %v, want %v", got, b)
	}
	// 640x360 -> 57x32, crop 32 at x0 = 12: crop x in [0,1] spans resized [12,44] of 57.
	wide := Crop{57, 32, 32}
	if got, want := wide.ToSource(Box{0, 0, 1, 1}), (Box{12.0 / 57, 0, 44.0 / 57, 1}); !nearBox(got, want) {
		t.Errorf("whole crop: %v, want %v", got, want)
	}
	if got, want := wide.ToSource(Box{0.5, 0.25, 0.75, 0.5}), (Box{28.0 / 57, 0.25, 36.0 / 57, 0.5}); !nearBox(got, want) {
		t.Errorf("part of crop: %v, want %v", got, want)
	}
	// Portrait: the crop window moves down.
	tall := Crop{40, 71, 32}
	if got, want := tall.ToSource(Box{0, 0, 1, 1}), (Box{4.0 / 40, 19.0 / 71, 36.0 / 40, 51.0 / 71}); !nearBox(got, want) {
		t.Errorf("portrait whole crop: %v, want %v", got, want)
	}
	// ToCrop inverts ToSource inside the crop, and cuts what lies outside it.
	for _, c := range []Crop{sq, wide, tall, {243, 182, 160}} {
		for _, b := range []Box{{0, 0, 1, 1}, {0.1, 0.2, 0.3, 0.4}, {0.5, 0.5, 0.9, 0.95}} {
			if got := c.ToCrop(c.ToSource(b)); !nearBox(got, b) {
				t.Errorf("%+v: ToCrop(ToSource(%v)) = %v", c, b, got)
			}
		}
	}
	if got := wide.ToCrop(Box{0, 0, 0.1, 1}); got.Area() != 0 {
		t.Errorf("a box left of the crop keeps area: %v", got)
	}
	if got := wide.ToCrop(Box{0, 0, 1, 1}); !nearBox(got, Box{0, 0, 1, 1}) {
		t.Errorf("whole frame in crop coordinates: %v, want the whole crop", got)
	}
	if bad := (Crop{10, 10, 20}); bad.ToSource(b) != b || bad.ToCrop(b) != b {
		t.Error("an invalid crop changed the box")
	}
}
