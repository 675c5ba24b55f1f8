package pipeline

import (
	"fmt"
	"testing"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
)

// `run` with three model calls at once gives the events of one call at a time, in the same
// order: every clip scored, the same actor ids (the tracker sees the clips in order), the same
// per-actor action events.
func TestOneShotWorkersKeepTheEvents(t *testing.T) {
	video := testkit.TwoActors{}
	path := video.Make(t, t.TempDir(), 6)
	model := testkit.DetectionModel(t, testkit.DetectionSingleStage)
	run := func(workers int) []string {
		cfg := oneShotConfig(model, path)
		cfg.Batcher.Workers = workers
		out := runDetection(t, cfg)
		var seq []string
		for _, e := range out.all() {
			if e.Type == events.TypeStreamUp || e.Type == events.TypeStreamDown {
				continue
			}
			// Not the ids: they hash the wall clock at the clip's start.
			line := fmt.Sprintf("%s %s %s", e.Type, e.Data.Label, e.Data.ActorID)
			if e.Data.KeyPTS != nil {
				line += fmt.Sprintf(" %.3f", *e.Data.KeyPTS)
			}
			for _, a := range e.Data.Actors {
				line += fmt.Sprintf(" [%s %s %.4f]", a.ActorID, a.Label, a.Score)
			}
			seq = append(seq, line)
		}
		return seq
	}
	one, three := run(1), run(3)
	if len(one) < 10 {
		t.Fatalf("%d events with one worker", len(one))
	}
	if len(three) != len(one) {
		t.Fatalf("%d events with three workers, %d with one", len(three), len(one))
	}
	for i := range one {
		if three[i] != one[i] {
			t.Fatalf("event %d with three workers:\n%s\nwith one:\n%s", i, three[i], one[i])
		}
	}
}
