package sinktest

import (
	"testing"

	"github.com/actionstream/actionstream/events"
)

func TestGeneratedEventsPassValidate(t *testing.T) {
	ids := map[string]bool{}
	for _, ev := range Interleave(Stream("a", 50), Stream("b", 50)) {
		if err := events.Validate(ev); err != nil {
			t.Fatal(err)
		}
		if ids[ev.ID] {
			t.Fatalf("duplicate id %s", ev.ID)
		}
		ids[ev.ID] = true
	}
	if len(ids) != 100 {
		t.Fatalf("%d events", len(ids))
	}
}
