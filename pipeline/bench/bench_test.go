package bench

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := Percentile(d, q); got != want {
			t.Errorf("p%v = %v, want %v", q, got, want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}

// lineClock keeps the clip.scored lines only, split across writes as a sink may write them.
func TestLineClock(t *testing.T) {
	var l lineClock
	line := func(typ string, d events.Data) string {
		b, err := json.Marshal(events.New("actionstream/s", typ, "0abc", time.Now(), d))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	top := []events.LabelScore{{Label: "grow", Score: 0.9}}
	scored := line(events.TypeClipScored, events.Data{Stream: "s", Model: "m", TopK: top, Span: &events.Span{StartWall: time.Now().Add(-time.Second), EndWall: time.Now(), StartPTS: 0.5, EndPTS: 1.5}})
	other := line(events.TypeStreamUp, events.Data{Stream: "s"})
	if _, err := events.ParseJSON([]byte(scored)); err != nil {
		t.Fatalf("fixture is not a valid clip.scored: %v", err)
	}
	all := scored + "\n" + other + "\n" + scored
	l.Write([]byte(all[:20]))
	l.Write([]byte(all[20:] + "\n"))
	c := l.clips()
	if len(c) != 2 || c[0].endPTS != 1.5 || c[1].written.Before(c[0].written) {
		t.Fatalf("clips %+v", c)
	}
}

func TestOptionErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Decode(ctx, DecodeOptions{Input: "x.mp4", Crop: 160, Runs: 0, Pass: []string{"true"}}); !errors.Is(err, ErrOptions) {
		t.Errorf("runs 0: %v", err)
	}
	if _, err := Infer(ctx, InferOptions{Batch: 0}); !errors.Is(err, ErrOptions) {
		t.Errorf("batch 0: %v", err)
	}
	if _, err := Infer(ctx, InferOptions{Batch: 1, Runs: -1}); !errors.Is(err, ErrOptions) {
		t.Errorf("runs -1: %v", err)
	}
	if _, err := Run(ctx, RunOptions{Input: "x.mp4", Runs: 0, Run: []string{"true"}, Raw: []string{"true"}}); !errors.Is(err, ErrOptions) {
		t.Errorf("bench run, runs 0: %v", err)
	}
	if _, err := RawPass(ctx, "m.onnx", 0, 1); !errors.Is(err, ErrOptions) {
		t.Errorf("raw pass, 0 clips: %v", err)
	}
	if _, err := Memory(ctx, MemoryOptions{Streams: 0, Batch: 1}); !errors.Is(err, ErrOptions) {
		t.Errorf("streams 0: %v", err)
	}
	if _, err := WHIP(ctx, WHIPOptions{FPS: 30, Duration: time.Second, Warmup: 2 * time.Second}); !errors.Is(err, ErrOptions) {
		t.Errorf("duration <= warmup: %v", err)
	}
}

func TestWriteText(t *testing.T) {
	var sb strings.Builder
	DecodeResult{Input: "in.mp4", Runs: 3, OursFPS: 900, FFmpegFPS: 1000, Ratio: 0.9}.WriteText(&sb)
	InferResult{Model: "m", RawClipsPerS: 10, PipeClipsPerS: 9.5, Ratio: 0.95}.WriteText(&sb)
	s := sb.String()
	if !strings.Contains(s, "in.mp4") || !strings.Contains(s, "ratio                0.900") || !strings.Contains(s, "0.950 (median batcher / median raw") {
		t.Fatalf("text:\n%s", s)
	}
}

// Both sides are measured in every run, alternating, and reported as min/median/max.
func TestInferAlternates(t *testing.T) {
	r, err := Infer(context.Background(), InferOptions{Model: testkit.TinyModel(t), Batch: 2, Threads: 1, Runs: 3, Duration: 600 * time.Millisecond, Spin: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Spread{"raw": r.RawSpread, "batcher": r.PipeSpread, "ratio": r.RatioSpread} {
		if !(s.Min > 0 && s.Min <= s.Median && s.Median <= s.Max) {
			t.Errorf("%s: %+v", name, s)
		}
	}
	if r.Runs != 3 || r.RawClipsPerS != r.RawSpread.Median || r.Ratio != r.PipeClipsPerS/r.RawClipsPerS || r.LoadBefore == "" {
		t.Errorf("result %+v", r)
	}
}
