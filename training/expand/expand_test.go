package expand

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actionstream/actionstream/training/x3d"
)

const classes = 10

// smooth is a deterministic stand-in for training: accuracy rises with every axis, with
// diminishing returns, temporal axes mattering most (as on a motion dataset).
func smooth(f x3d.Factors) float64 {
	z := 0.5*math.Log(float64(f.Frames)) + 0.3*math.Log(float64(f.Crop)/112) + 0.2*math.Log(f.Width/2) +
		0.1*math.Log(f.Bottleneck) + 0.25*math.Log(f.Depth) + 0.1*math.Log(12/float64(f.SamplingRate))
	return math.Max(0, math.Min(1, 1-0.9*math.Exp(-z)))
}

// counter is a Trainer that scores with a function and counts calls per key.
type counter struct {
	score func(Candidate) float64
	mu    sync.Mutex
	calls map[string]int
	seen  []Candidate
	total atomic.Int64
}

func newCounter(score func(Candidate) float64) *counter {
	return &counter{score: score, calls: map[string]int{}}
}

func (c *counter) Train(ctx context.Context, cand Candidate) (Result, error) {
	c.total.Add(1)
	c.mu.Lock()
	c.calls[cand.Key]++
	c.seen = append(c.seen, cand)
	c.mu.Unlock()
	if _, err := os.Stat(cand.Dir); err != nil {
		return Result{}, err // the search must create the candidate's directory first
	}
	return Result{Accuracy: c.score(cand)}, nil
}

func smoothCounter() *counter {
	return newCounter(func(c Candidate) float64 { return smooth(c.Factors) })
}

func macs(t *testing.T, f x3d.Factors) int64 {
	t.Helper()
	m, ok := macsOf(classes)(f)
	if !ok {
		t.Fatalf("factors %+v do not build", f)
	}
	return m
}

func presetMACs(t *testing.T, name string) int64 {
	t.Helper()
	f, err := x3d.PresetFactors(name)
	if err != nil {
		t.Fatal(err)
	}
	return macs(t, f)
}

// TestCandidateRatioClosestToFactor: along every axis, no value the axis's granularity
// allows comes closer to c× the MACs than the chosen one (checked by brute force), and the
// chosen value respects the granularity.
func TestCandidateRatioClosestToFactor(t *testing.T) {
	cost := macsOf(classes)
	for _, baseName := range []string{"x2d", "x3d-xs"} {
		base, _ := x3d.PresetFactors(baseName)
		baseM := macs(t, base)
		for _, c := range []float64{2, 1.5} {
			for _, a := range x3d.Axes() {
				p, ok := expandAxis(base, baseM, a, c, cost)
				if !ok {
					t.Fatalf("%s %s c=%g: no candidate", baseName, a, c)
				}
				ratio := float64(p.macs) / float64(baseM)
				d := logDist(ratio, c)
				// Only the expanded axis changed.
				if changed := changedAxes(base, p.f); len(changed) != 1 || (changed[0] != a && !(a == x3d.AxisFrameRate && changed[0] == x3d.AxisFrames)) {
					t.Fatalf("%s %s: changed %v", baseName, a, changed)
				}
				for _, alt := range bruteValues(base, a, c) {
					m, ok := cost(alt)
					if !ok || m <= baseM {
						continue
					}
					if logDist(float64(m)/float64(baseM), c) < d-1e-12 {
						t.Errorf("%s %s c=%g: chose ratio %.4f (%+v) but %+v gives %.4f", baseName, a, c, ratio, p.f, alt, float64(m)/float64(baseM))
						break
					}
				}
				switch a {
				case x3d.AxisSpatial:
					if p.f.Crop%CropStep != 0 {
						t.Errorf("crop %d not a multiple of %d", p.f.Crop, CropStep)
					}
				case x3d.AxisFrameRate:
					dur := float64(base.Frames * base.SamplingRate)
					got := float64(p.f.Frames * p.f.SamplingRate)
					if p.f.SamplingRate < 1 || p.f.SamplingRate >= base.SamplingRate || math.Abs(got/dur-1) > 0.5 {
						t.Errorf("frame rate: %dx%d does not keep the duration %v", p.f.Frames, p.f.SamplingRate, dur)
					}
				}
				if c == 2 && d > math.Log(1.1) {
					t.Errorf("%s %s: ratio %.3f is far from 2", baseName, a, ratio)
				}
				t.Logf("%s c=%g %-10s ratio %.4f", baseName, c, a, ratio)
			}
		}
	}
}

func changedAxes(a, b x3d.Factors) []x3d.Axis {
	var out []x3d.Axis
	if a.Frames != b.Frames {
		out = append(out, x3d.AxisFrames)
	}
	if a.Crop != b.Crop {
		out = append(out, x3d.AxisSpatial)
	}
	if a.Width != b.Width {
		out = append(out, x3d.AxisWidth)
	}
	if a.Bottleneck != b.Bottleneck {
		out = append(out, x3d.AxisBottleneck)
	}
	if a.Depth != b.Depth {
		out = append(out, x3d.AxisDepth)
	}
	if len(out) == 0 && a.SamplingRate != b.SamplingRate {
		out = append(out, x3d.AxisFrameRate)
	}
	return out
}

// bruteValues lists every value of the axis (at its granularity) up to 3c× the base.
func bruteValues(f x3d.Factors, a x3d.Axis, c float64) []x3d.Factors {
	var out []x3d.Factors
	switch a {
	case x3d.AxisFrames, x3d.AxisFrameRate:
		dur := f.Frames * f.SamplingRate
		for t := f.Frames + 1; t <= int(float64(f.Frames)*3*c)+1; t++ {
			g := f
			g.Frames = t
			if a == x3d.AxisFrameRate {
				if float64(dur)/float64(t) < 1 {
					break
				}
				// both roundings of the duration-keeping τ have the same MACs; one suffices
				g.SamplingRate = max(1, int(math.Round(float64(dur)/float64(t))))
			}
			out = append(out, g)
		}
	case x3d.AxisSpatial:
		for s := (f.Crop/CropStep + 1) * CropStep; s <= int(float64(f.Crop)*3*c); s += CropStep {
			g := f
			g.Crop, g.PoolCrop = s, 0
			out = append(out, g)
		}
	default:
		// Every multiple of MultStep above the base value, up to 3c×.
		v0 := map[x3d.Axis]float64{x3d.AxisWidth: f.Width, x3d.AxisBottleneck: f.Bottleneck, x3d.AxisDepth: f.Depth}[a]
		for k := int(math.Floor(v0/MultStep+1e-9)) + 1; float64(k)*MultStep <= v0*3*c; k++ {
			g := f
			v := float64(k) * MultStep
			switch a {
			case x3d.AxisWidth:
				g.Width = v
			case x3d.AxisBottleneck:
				g.Bottleneck = v
			case x3d.AxisDepth:
				g.Depth = v
			}
			out = append(out, g)
		}
	}
	return out
}

// TestSelectionIsGainPerLogComplexity: the candidate with the best accuracy gain per
// log-MACs increase wins even when another candidate has the higher accuracy.
func TestSelectionIsGainPerLogComplexity(t *testing.T) {
	base, _ := x3d.PresetFactors("x2d")
	baseM := macs(t, base)
	cost := macsOf(classes)
	pw, _ := expandAxis(base, baseM, x3d.AxisWidth, 2, cost)
	pd, _ := expandAxis(base, baseM, x3d.AxisDepth, 2, cost)
	rw, rd := float64(pw.macs)/float64(baseM), float64(pd.macs)/float64(baseM)
	if !(rd > rw) {
		t.Fatalf("test premise: depth ratio %.3f should exceed width ratio %.3f", rd, rw)
	}
	const acc0, accW = 0.1, 0.4
	// Depth: higher accuracy, but 2% less gain per log-complexity.
	accD := acc0 + (accW-acc0)*math.Log(rd)/math.Log(rw)*0.98
	if !(accD > accW) {
		t.Fatalf("test premise: depth accuracy %.4f should exceed width's %.4f", accD, accW)
	}
	tr := newCounter(func(c Candidate) float64 {
		switch c.Axis {
		case x3d.AxisWidth:
			return accW
		case x3d.AxisDepth:
			return accD
		}
		return acc0
	})
	out := t.TempDir()
	tj, err := Run(context.Background(), Config{Out: out, NumClasses: classes, TargetMACs: baseM * 3 / 2,
		Axes: []x3d.Axis{x3d.AxisDepth, x3d.AxisWidth}}, tr)
	if err != nil {
		t.Fatal(err)
	}
	st := tj.Steps[0]
	if st.Chosen != x3d.AxisWidth {
		t.Fatalf("chose %s, want width (scores: %+v)", st.Chosen, st.Candidates)
	}
	for _, p := range st.Candidates {
		want := (p.Result.Accuracy - acc0) / math.Log(p.MACsRatio)
		if math.Abs(p.Score-want) > 1e-12 {
			t.Errorf("%s score %v, want %v", p.Axis, p.Score, want)
		}
		if p.Chosen != (p.Axis == x3d.AxisWidth) {
			t.Errorf("%s chosen=%v", p.Axis, p.Chosen)
		}
	}
}

// TestSearchStopsAtTargetAndContracts runs the whole search with a deterministic scorer.
func TestSearchStopsAtTargetAndContracts(t *testing.T) {
	target := presetMACs(t, "x3d-xs")
	tr := smoothCounter()
	out := t.TempDir()
	tj, err := Run(context.Background(), Config{Out: out, NumClasses: classes, TargetMACs: target, Epochs: 2, FinalEpochs: 5}, tr)
	if err != nil {
		t.Fatal(err)
	}
	if !tj.Done || tj.Contraction == nil {
		t.Fatal("search not marked done")
	}
	if len(tj.Path) != len(tj.Steps)+1 || len(tj.Steps) < 2 {
		t.Fatalf("path %d points, %d steps", len(tj.Path), len(tj.Steps))
	}
	for i, p := range tj.Path {
		last := i == len(tj.Path)-1
		if !last && p.MACs >= target {
			t.Errorf("step %d already passed the target but the search went on", i)
		}
		if last && p.MACs < target {
			t.Errorf("search stopped below the target: %d < %d", p.MACs, target)
		}
		if i > 0 && tj.Steps[i-1].From != tj.Path[i-1].Key {
			t.Errorf("step %d did not start from the previous choice", i)
		}
	}
	trained := 0
	for i, st := range tj.Steps {
		trained += len(st.Candidates)
		// Every axis makes a candidate, except frame rate once τ is 1 (30 fps reached).
		want := 6
		if tj.Path[i].Factors.SamplingRate == 1 {
			want = 5
		}
		if len(st.Candidates) != want || len(st.Candidates)+len(st.Skipped) != 6 {
			t.Errorf("step %d: %d candidates (skipped %v)", st.Step, len(st.Candidates), st.Skipped)
		}
		chosen := 0
		for _, p := range st.Candidates {
			if p.Chosen {
				chosen++
			}
			if p.Epochs != 2 {
				t.Errorf("candidate trained with %d epochs", p.Epochs)
			}
		}
		if chosen != 1 {
			t.Errorf("step %d: %d chosen", st.Step, chosen)
		}
	}
	con := tj.Contraction
	final := con.Final
	if !con.WithinTolerance || math.Abs(float64(final.MACs)/float64(target)-1) > 0.05 {
		t.Fatalf("final %.4g GFLOPs is not within 5%% of %.4g", final.GFLOPs, float64(target)/1e9)
	}
	if last := tj.Path[len(tj.Path)-1]; con.Axis != last.Axis {
		t.Errorf("contracted %s, want the last expanded axis %s", con.Axis, last.Axis)
	}
	if final.Epochs != 5 || final.Phase != PhaseContract {
		t.Errorf("final trained as %+v", final)
	}
	if tr.calls[final.Key] != 1 {
		t.Errorf("final model trained %d times", tr.calls[final.Key])
	}
	if want := smooth(final.Factors); final.Result.Accuracy != want {
		t.Errorf("final accuracy %v, want %v", final.Result.Accuracy, want)
	}

	// Outputs: JSON reads back, CSV has a row per trained network, PNG decodes.
	back, err := ReadTrajectory(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, tj) {
		t.Error("trajectory.json does not read back as the returned trajectory")
	}
	f, _ := os.Open(filepath.Join(out, TrajectoryCSV))
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 1 + trained + 1; len(rows) != want || !reflect.DeepEqual(rows[0], CSVHeader) {
		t.Errorf("csv has %d rows, want %d", len(rows), want)
	}
	pngBytes, err := os.ReadFile(filepath.Join(out, TrajectoryPNG))
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(pngBytes)); err != nil || img.Bounds().Dx() < 400 {
		t.Fatalf("trajectory.png: %v", err)
	}
}

// TestContractionFallsBackToAnotherAxis: when the last axis's granularity cannot meet the
// target within 5%, another axis does; with no such axis the closest is kept and flagged.
func TestContractionFallsBackToAnotherAxis(t *testing.T) {
	base, _ := x3d.PresetFactors("x2d")
	baseM := macs(t, base)
	// Frames go 1 -> 2 -> 4 (MACs ~linear in T); 2.5x the base sits between T=2 and T=3.
	target := baseM * 5 / 2
	onlyFrames := Config{Out: t.TempDir(), NumClasses: classes, TargetMACs: target, Axes: []x3d.Axis{x3d.AxisFrames}}
	tj, err := Run(context.Background(), onlyFrames, smoothCounter())
	if err != nil {
		t.Fatal(err)
	}
	if tj.Contraction.WithinTolerance {
		t.Fatalf("frames alone cannot hit 2.5x within 5%%, got %+v", tj.Contraction)
	}
	d := float64(tj.Contraction.Final.MACs)/float64(target) - 1
	if math.Abs(d) > 0.25 {
		t.Fatalf("closest frames contraction is %.1f%% off", 100*d)
	}

	// With other axes available (frames still winning every expansion step), contraction
	// falls back to one of them and meets the target.
	cfg := onlyFrames
	cfg.Out = t.TempDir()
	cfg.Axes = []x3d.Axis{x3d.AxisFrames, x3d.AxisWidth, x3d.AxisBottleneck, x3d.AxisDepth}
	tr := newCounter(func(c Candidate) float64 { return math.Min(1, 0.1*float64(c.Factors.Frames)) })
	tj, err = Run(context.Background(), cfg, tr)
	if err != nil {
		t.Fatal(err)
	}
	con := tj.Contraction
	for _, p := range tj.Path[1:] {
		if p.Axis != x3d.AxisFrames {
			t.Fatalf("expansion chose %s; the scorer favours frames", p.Axis)
		}
	}
	if con.Axis == x3d.AxisFrames || !con.WithinTolerance || !strings.HasPrefix(con.Tried[0], "frames:") {
		t.Fatalf("contraction %+v, want another axis within tolerance after trying frames", con)
	}
	if d := float64(con.Final.MACs)/float64(target) - 1; math.Abs(d) > 0.05 {
		t.Fatalf("final is %.1f%% off the target", 100*d)
	}
}

// TestResumeSkipsFinishedCandidates: a failed run leaves its finished candidates; the rerun
// trains only the rest, and a third run trains nothing.
func TestResumeSkipsFinishedCandidates(t *testing.T) {
	target := presetMACs(t, "x3d-xs")
	out := t.TempDir()
	cfg := Config{Out: out, NumClasses: classes, TargetMACs: target, Workers: 2}

	// Reference: a clean run's set of trained keys.
	ref := smoothCounter()
	refTJ, err := Run(context.Background(), Config{Out: t.TempDir(), NumClasses: classes, TargetMACs: target}, ref)
	if err != nil {
		t.Fatal(err)
	}

	// Run 1 fails on its 10th training.
	errBoom := errors.New("boom")
	var n atomic.Int64
	first := smoothCounter()
	failing := TrainerFunc(func(ctx context.Context, c Candidate) (Result, error) {
		if n.Add(1) == 10 {
			return Result{}, errBoom
		}
		return first.Train(ctx, c)
	})
	if _, err := Run(context.Background(), cfg, failing); !errors.Is(err, errBoom) {
		t.Fatalf("run 1: %v, want the trainer's error", err)
	}
	// Run 2 completes, never retraining what run 1 finished.
	second := smoothCounter()
	tj, err := Run(context.Background(), cfg, second)
	if err != nil {
		t.Fatal(err)
	}
	for k := range second.calls {
		if first.calls[k] > 0 {
			t.Errorf("candidate %s trained again after resume", k)
		}
	}
	for k := range ref.calls {
		if first.calls[k]+second.calls[k] != 1 {
			t.Errorf("candidate %s trained %d+%d times over the two runs", k, first.calls[k], second.calls[k])
		}
	}
	if len(first.calls)+len(second.calls) != len(ref.calls) {
		t.Errorf("trained %d+%d candidates, a clean run trains %d", len(first.calls), len(second.calls), len(ref.calls))
	}
	if !reflect.DeepEqual(tj.Contraction.Final.Factors, refTJ.Contraction.Final.Factors) {
		t.Error("resumed search ended elsewhere than a clean one")
	}
	// Run 3: everything is recorded.
	third := smoothCounter()
	if _, err := Run(context.Background(), cfg, third); err != nil {
		t.Fatal(err)
	}
	if third.total.Load() != 0 {
		t.Errorf("a finished search trained %d candidates again", third.total.Load())
	}
	// Another task in the same directory is refused.
	other := cfg
	other.NumClasses = classes + 1
	if _, err := Run(context.Background(), other, smoothCounter()); !errors.Is(err, ErrBadConfig) {
		t.Errorf("search over another class count in the same directory: %v", err)
	}
	// A different schedule is a different candidate.
	cfg.Epochs = 3
	fourth := smoothCounter()
	if _, err := Run(context.Background(), cfg, fourth); err != nil {
		t.Fatal(err)
	}
	if fourth.total.Load() == 0 {
		t.Error("changing the schedule reused results trained with another schedule")
	}
}

// TestWorkersBound: at most Workers trainings run at once, and that many do.
func TestWorkersBound(t *testing.T) {
	target := presetMACs(t, "x2d") * 3
	for _, workers := range []int{1, 3} {
		var cur, peak atomic.Int64
		tr := TrainerFunc(func(ctx context.Context, c Candidate) (Result, error) {
			v := cur.Add(1)
			for {
				p := peak.Load()
				if v <= p || peak.CompareAndSwap(p, v) {
					break
				}
			}
			select {
			case <-time.After(15 * time.Millisecond):
			case <-ctx.Done():
			}
			cur.Add(-1)
			return Result{Accuracy: smooth(c.Factors)}, nil
		})
		if _, err := Run(context.Background(), Config{Out: t.TempDir(), NumClasses: classes, TargetMACs: target, Workers: workers}, tr); err != nil {
			t.Fatal(err)
		}
		if peak.Load() != int64(workers) {
			t.Errorf("workers=%d: peak concurrency %d", workers, peak.Load())
		}
	}
}

// TestCancelStopsTraining: cancelling the context ends the search with its error.
func TestCancelStopsTraining(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tr := TrainerFunc(func(ctx context.Context, c Candidate) (Result, error) {
		if c.Phase == PhaseExpand {
			cancel()
			<-ctx.Done()
			return Result{}, ctx.Err()
		}
		return Result{Accuracy: 0.1}, nil
	})
	_, err := Run(ctx, Config{Out: t.TempDir(), NumClasses: classes, TargetMACs: presetMACs(t, "x3d-xs"), Workers: 3}, tr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestBadConfigAndResults(t *testing.T) {
	base := presetMACs(t, "x2d")
	bad := []Config{
		{NumClasses: classes, TargetMACs: base * 4},                                               // no Out
		{Out: t.TempDir(), TargetMACs: base * 4},                                                  // no classes
		{Out: t.TempDir(), NumClasses: classes, TargetMACs: base / 2},                             // target below the base
		{Out: t.TempDir(), NumClasses: classes, TargetMACs: base * 4, Factor: 1},                  // no growth
		{Out: t.TempDir(), NumClasses: classes, TargetMACs: base * 4, Axes: []x3d.Axis{"height"}}, // unknown axis
	}
	for i, c := range bad {
		if _, err := Run(context.Background(), c, smoothCounter()); !errors.Is(err, ErrBadConfig) {
			t.Errorf("config %d: %v, want ErrBadConfig", i, err)
		}
	}
	nan := TrainerFunc(func(context.Context, Candidate) (Result, error) { return Result{Accuracy: math.NaN()}, nil })
	if _, err := Run(context.Background(), Config{Out: t.TempDir(), NumClasses: classes, TargetMACs: base * 4}, nan); !errors.Is(err, ErrBadResult) {
		t.Errorf("NaN accuracy: %v, want ErrBadResult", err)
	}
}

// TestFrameRateAxisExhausts: at τ=1 there are no faster frames to take; the axis is skipped.
func TestFrameRateAxisExhausts(t *testing.T) {
	f, _ := x3d.PresetFactors("x2d")
	f.Frames, f.SamplingRate = 4, 1
	if _, ok := expandAxis(f, macs(t, f), x3d.AxisFrameRate, 2, macsOf(classes)); ok {
		t.Fatal("frame rate grew past 30 fps")
	}
	tj, err := Run(context.Background(), Config{Out: t.TempDir(), NumClasses: classes, Base: f, TargetMACs: macs(t, f) * 3}, smoothCounter())
	if err != nil {
		t.Fatal(err)
	}
	if len(tj.Steps[0].Candidates) != 5 || len(tj.Steps[0].Skipped) != 1 {
		t.Fatalf("step 1: %d candidates, skipped %v", len(tj.Steps[0].Candidates), tj.Steps[0].Skipped)
	}
}
