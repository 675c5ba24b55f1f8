package sinktest

import (
	"fmt"
	"strings"
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

// cleanupT runs its cleanups on demand and records errors instead of failing the test.
type cleanupT struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (c *cleanupT) Helper()                   {}
func (c *cleanupT) Cleanup(f func())          { c.cleanups = append(c.cleanups, f) }
func (c *cleanupT) Error(args ...any)         { c.errs = append(c.errs, fmt.Sprint(args...)) }
func (c *cleanupT) Errorf(f string, a ...any) { c.errs = append(c.errs, fmt.Sprintf(f, a...)) }
func (c *cleanupT) finish() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

// leakyWorker stands for a sink goroutine that Close forgot to stop.
func leakyWorker(stop <-chan struct{}) { <-stop }

func TestCheckGoroutinesReportsALeak(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	ct := &cleanupT{TB: t}
	CheckGoroutines(ct)
	go leakyWorker(stop)
	ct.finish()
	if len(ct.errs) != 1 || !strings.Contains(ct.errs[0], "leakyWorker") {
		t.Fatalf("want one error naming leakyWorker, got %q", ct.errs)
	}

	// A goroutine that ends before the cleanups is no leak.
	ct = &cleanupT{TB: t}
	CheckGoroutines(ct)
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	ct.finish()
	if len(ct.errs) != 0 {
		t.Fatalf("a finished goroutine reported: %q", ct.errs)
	}
}
