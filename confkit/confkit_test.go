package confkit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurationNeedsUnit(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 250ms"), &v); err != nil || v.D.D() != 250*time.Millisecond {
		t.Fatalf("250ms: %v %v", v.D, err)
	}
	for _, bad := range []string{"d: 40", "d: 1.5", "d: soon", "d: [1s]"} {
		if err := yaml.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := yaml.Unmarshal([]byte("d: 40"), &v); err == nil || !strings.Contains(err.Error(), "duration needs a unit") {
		t.Errorf("bare number: %v", err)
	}
	out, err := yaml.Marshal(struct {
		D Duration `yaml:"d"`
	}{Duration(1500 * time.Millisecond)})
	if err != nil || strings.TrimSpace(string(out)) != "d: 1.5s" {
		t.Errorf("marshal: %q %v", out, err)
	}
}

func TestProblemsNestPaths(t *testing.T) {
	sentinel := errors.New("stage config")
	inner := Problems{Sentinel: sentinel}
	inner.Add("max_wait", "must be > 0")
	inner.Add("[1].url", "is required")
	var outer Problems
	outer.Nest("batcher", inner.Err())
	outer.Nest("streams", func() error { var p Problems; p.Add("[0].id", "is required"); return p.Err() }())
	outer.Nest("sinks.jsonl.path", errors.New("open x: permission denied"))
	outer.Nest("events", nil)
	err := outer.Err()
	for _, want := range []string{"config: batcher.max_wait must be > 0", "batcher[1].url", "config: streams[0].id is required", "config: sinks.jsonl.path open x"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
	if !errors.Is(err, sentinel) {
		t.Error("the stage's sentinel is lost when nested")
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "batcher.max_wait" {
		t.Errorf("first field error: %+v", fe)
	}
	if (&Problems{}).Err() != nil {
		t.Error("no problems must be a nil error")
	}
}
