package clipper

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

func TestSpacing(t *testing.T) {
	d := DefaultSpacing()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	// The zero value means the same default as the section's.
	if got := (Config{Frames: 4, SamplingRate: 6, Size: 8}).WithDefaults().GapTolerance; got != d.GapTolerance.D() {
		t.Fatalf("zero gap tolerance became %v, want %v", got, d.GapTolerance)
	}
	for _, c := range []struct {
		s    Spacing
		want string
	}{
		{Spacing{Hop: -1}, "hop"},
		{Spacing{Hop: confkit.Duration(time.Microsecond)}, "hop"},
		{Spacing{GapTolerance: -1}, "gap_tolerance"},
	} {
		if err := c.s.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.s, err, c.want)
		}
	}
	g := Spacing{Hop: confkit.Duration(time.Second), GapTolerance: confkit.Duration(time.Second)}.Grid(13, 6, 160)
	if g.Frames != 13 || g.SamplingRate != 6 || g.Size != 160 || g.Hop != time.Second || g.GapTolerance != time.Second {
		t.Fatalf("Grid: %+v", g)
	}
}
