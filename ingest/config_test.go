package ingest

import (
	"strings"
	"testing"
)

func TestStreamConfigValidation(t *testing.T) {
	ok := []StreamConfig{{ID: "cam-1", URL: "rtsp://cam/s", Transport: "udp"}, {ID: "f.1", URL: "videos/a.mp4", Loop: true}}
	if err := ValidateStreams(ok); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ss   []StreamConfig
		want string
	}{
		{[]StreamConfig{{URL: "a.mp4"}}, "[0].id is required"},
		{[]StreamConfig{{ID: "a b", URL: "a.mp4"}}, "[0].id"},
		{[]StreamConfig{{ID: "a", URL: "a.mp4"}, {ID: "a", URL: "b.mp4"}}, `[1].id "a" is used twice`},
		{[]StreamConfig{{ID: "a", URL: "http://x/y"}}, "[0].url scheme"},
		{[]StreamConfig{{ID: "a", URL: "a.mp4", Transport: "udp"}}, "[0].transport applies to rtsp"},
		{[]StreamConfig{{ID: "a", URL: "rtsp://x/y", Transport: "sctp"}}, "[0].transport must be"},
		{[]StreamConfig{{ID: "a", URL: "rtsp://x/y", StallTimeout: -1}}, "[0].stall_timeout"},
	} {
		if err := ValidateStreams(c.ss); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.ss, err, c.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	d := DefaultBackoff()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Backoff{Initial: d.Max, Max: d.Initial}).Validate(); err == nil || !strings.Contains(err.Error(), "backoff_max") {
		t.Fatalf("max < initial: %v", err)
	}
	if err := (Backoff{}).Validate(); err == nil || !strings.Contains(err.Error(), "backoff_initial") {
		t.Fatalf("zero: %v", err)
	}
	sc := d.SupervisorConfig("cam")
	if sc.Stream != "cam" || sc.MinBackoff != d.Initial.D() || sc.MaxBackoff != d.Max.D() {
		t.Fatalf("%+v", sc)
	}
	// The supervisor's zero values are the same defaults.
	if s := NewSupervisor(SupervisorConfig{}); s.cfg.MinBackoff != d.Initial.D() || s.cfg.MaxBackoff != d.Max.D() {
		t.Fatalf("supervisor defaults %v..%v", s.cfg.MinBackoff, s.cfg.MaxBackoff)
	}
}
