package main

import (
	"strings"
	"testing"
)

func TestBenchOutbox(t *testing.T) {
	code, stdout, stderr := runCLI(t, "bench", "outbox", "--events", "128", "--runs", "2", "--fsync", "always,64", "--dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"128 events of 700 B, 1 per call, 2 runs per policy", "\nalways ", "\n64 ", "median ev/s"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	code, _, stderr = runCLI(t, "bench", "outbox", "--fsync", "always,sometimes")
	if code == 0 || !strings.Contains(stderr, `--fsync: outbox: invalid options: fsync policy "sometimes"`) {
		t.Errorf("bad policy: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "bench", "outbox", "--dir", t.TempDir()+"/missing")
	if code == 0 || !strings.Contains(stderr, "outbox bench:") || !strings.Contains(stderr, "missing") {
		t.Errorf("missing dir: exit %d, stderr %q", code, stderr)
	}
}
