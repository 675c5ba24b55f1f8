package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/internal/testkit"
)

// One measured run serves the streams through the real pipeline: every stream decodes at the
// source's rate, clips are scored, and the process's CPU is counted.
func TestStreamsPass(t *testing.T) {
	if testing.Short() {
		t.Skip("serves for 4 s")
	}
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "30", Seconds: 2})
	r, err := StreamsPass(context.Background(), StreamsOptions{Model: model, Input: video, Warmup: time.Second, Duration: 3 * time.Second, Threads: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.FPS) != 2 || r.Scored == 0 || r.CPUSeconds <= 0 || r.SourceFPS < 29 || r.SourceFPS > 31 || r.WindowS < 2.9 {
		t.Fatalf("result %+v", r)
	}
	for i, f := range r.FPS {
		if f < 20 || f > 40 { // paced at 30 fps; a loaded CI machine may lag a little
			t.Fatalf("stream %d decoded %.1f frames/s of a 30 fps file", i, f)
		}
	}
}

// The comparison alternates the counts run by run, reports each count's spread, calls a count
// real time only when no run lagged or dropped a stale clip, and derives cameras per core from
// the largest such count. The measuring processes are stand-ins printing fixed results.
func TestStreamsAggregates(t *testing.T) {
	dir := t.TempDir()
	// The stand-in prints a result for "--streams N" (its last two arguments): 2 streams run in
	// real time at 0.05 CPU-s per stream-second, 4 streams lag in the second run.
	script := `n=$2; c=$(cat ` + dir + `/calls 2>/dev/null || echo 0); c=$((c+1)); echo $c > ` + dir + `/calls; echo "$n" >> ` + dir + `/order
if [ "$n" = 2 ]; then echo '{"streams":2,"window_s":10,"source_fps":30,"fps":[30,29.9],"cpu_seconds":1,"clips":20,"scored":20,"stale":0}'
elif [ "$c" -le 2 ]; then echo '{"streams":4,"window_s":10,"source_fps":30,"fps":[30,30,30,30],"cpu_seconds":2.4,"clips":40,"scored":40,"stale":0}'
else echo '{"streams":4,"window_s":10,"source_fps":30,"fps":[30,30,21,30],"cpu_seconds":2.8,"clips":40,"scored":37,"stale":3}'; fi`
	r, err := Streams(context.Background(), StreamsOptions{Counts: []int{2, 4}, Runs: 2, Pass: []string{"sh", "-c", script, "sh"}})
	if err != nil {
		t.Fatal(err)
	}
	order, _ := readFile(dir + "/order")
	if order != "2\n4\n4\n2\n" {
		t.Fatalf("runs went %q, want the counts alternated (2 4, then 4 2)", order)
	}
	two, four := r.Counts[0], r.Counts[1]
	if !two.RealTime || two.CPUPerStream[1] != 0.05 || two.MinFPS != [3]float64{29.9, 29.9, 29.9} {
		t.Fatalf("2 streams %+v", two)
	}
	if four.RealTime || four.Stale != [3]uint64{0, 3, 3} || four.MinFPS[0] != 21 || four.CPUPerStream[0] != 0.06 {
		t.Fatalf("4 streams %+v", four)
	}
	if r.CamerasPerCore != 20 {
		t.Fatalf("cameras per core %v, want 20 (from the 2-stream count)", r.CamerasPerCore)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  2 streams (2 runs): slowest stream fps min/median/max 29.9/29.9/29.9", "stale 0/3/3", "real time: no", "cameras per core at real time: 20.0"} {
		if !strings.Contains(text.String(), want) {
			t.Fatalf("text lacks %q:\n%s", want, text.String())
		}
	}

	// A measuring process that fails names the count and the run, with its stderr.
	_, err = Streams(context.Background(), StreamsOptions{Counts: []int{3}, Runs: 1, Pass: []string{"sh", "-c", "echo 'model.path: no such file' >&2; exit 1", "sh"}})
	if err == nil || !strings.Contains(err.Error(), "3 streams, run 1: measurement process: exit status 1: model.path: no such file") {
		t.Fatalf("failing pass: %v", err)
	}
	if _, err := Streams(context.Background(), StreamsOptions{Counts: []int{0}, Runs: 1, Pass: []string{"true"}}); !errors.Is(err, ErrOptions) {
		t.Fatalf("count 0: %v", err)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
