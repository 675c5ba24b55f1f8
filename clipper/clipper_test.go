package clipper

import (
	"errors"
	"math"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"
)

// cfgXS is X3D-XS sampling: 4 samples 400ms apart, hop 800ms.
var cfgXS = Config{Frames: 4, SamplingRate: 12, Size: 2}

// constantFPS returns n PTS values at fps, rounded to the nanosecond as a timebase rescale would.
func constantFPS(fps float64, n int, offset time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = offset + time.Duration(math.Round(float64(i)*1e9/fps))
	}
	return out
}

// pixelsFor encodes the frame index and channel into every value, so a tensor can be checked.
func pixelsFor(buf []float32, plane, idx int) {
	for c := 0; c < 3; c++ {
		for q := 0; q < plane; q++ {
			buf[c*plane+q] = float32(idx*4 + c)
		}
	}
}

type fedClip struct {
	Seq                uint64
	Start, End         time.Duration
	StartWall, EndWall time.Time
	samples            []int // frame index decoded from the tensor
	tensorOK           bool
}

// feed runs pts through a fresh Clipper exactly as a decoder would and returns the clips, the
// indices Want accepted and the final stats. Clips are released after inspection.
func feed(t *testing.T, pts []time.Duration, cfg Config) ([]fedClip, []int, Stats) {
	t.Helper()
	c, err := New("cam", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Size
	plane := s * s
	f := &Frame{Pixels: make([]float32, 3*plane)}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clips []fedClip
	var wanted []int
	for i, p := range pts {
		if !c.Want(p) {
			continue
		}
		wanted = append(wanted, i)
		f.PTS, f.Wall = p, epoch.Add(time.Duration(i)*time.Millisecond)
		pixelsFor(f.Pixels, plane, i)
		for _, cl := range c.Add(f) {
			fc := fedClip{Seq: cl.Seq, Start: cl.Start, End: cl.End, StartWall: cl.StartWall, EndWall: cl.EndWall, tensorOK: true}
			if len(cl.Tensor) != 3*cfg.Frames*plane || cl.Frames != cfg.Frames || cl.Size != s || cl.Stream != "cam" {
				t.Fatalf("clip %d: tensor len %d frames %d size %d stream %q", cl.Seq, len(cl.Tensor), cl.Frames, cl.Size, cl.Stream)
			}
			for ti := 0; ti < cfg.Frames; ti++ {
				v := cl.Tensor[ti*plane]
				idx := int(v) / 4
				fc.samples = append(fc.samples, idx)
				for ch := 0; ch < 3; ch++ {
					off := (ch*cfg.Frames + ti) * plane
					for q := 0; q < plane; q++ {
						if cl.Tensor[off+q] != float32(idx*4+ch) {
							fc.tensorOK = false
						}
					}
				}
			}
			clips = append(clips, fc)
			cl.Release()
		}
	}
	return clips, wanted, c.Stats()
}

// checkAgainstExpect is the property: Clipper and Expect agree on everything observable.
func checkAgainstExpect(t *testing.T, pts []time.Duration, cfg Config) Expectation {
	t.Helper()
	exp, err := Expect(pts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, wanted, st := feed(t, pts, cfg)
	if len(got) != len(exp.Clips) {
		t.Fatalf("clips: got %d, expected %d", len(got), len(exp.Clips))
	}
	for i, g := range got {
		e := exp.Clips[i]
		if g.Seq != uint64(i) || g.Start != e.Start || g.End != e.End {
			t.Fatalf("clip %d: got seq %d [%v, %v], expected [%v, %v]", i, g.Seq, g.Start, g.End, e.Start, e.End)
		}
		if !g.tensorOK {
			t.Fatalf("clip %d: tensor layout is not [3][T][S][S] of whole frames", i)
		}
		for j := range e.Samples {
			if g.samples[j] != e.Samples[j] {
				t.Fatalf("clip %d sample %d: got frame %d, expected %d", i, j, g.samples[j], e.Samples[j])
			}
		}
		wantStartWall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(e.Samples[0]) * time.Millisecond)
		if !g.StartWall.Equal(wantStartWall) {
			t.Fatalf("clip %d: StartWall %v, want %v", i, g.StartWall, wantStartWall)
		}
	}
	if len(wanted) != exp.Converted {
		t.Fatalf("Want accepted %d frames, expected %d converted", len(wanted), exp.Converted)
	}
	if st.FramesSeen != uint64(len(pts)) || st.FramesAdded != uint64(exp.Converted) ||
		st.Clips != uint64(len(exp.Clips)) || st.ClipsDropped != uint64(exp.Dropped) ||
		st.Gaps != uint64(exp.Gaps) || st.Discontinuities != uint64(exp.Discontinuities) {
		t.Fatalf("stats %+v disagree with expectation (seen %d, converted %d, clips %d, dropped %d, gaps %d, disc %d)",
			st, len(pts), exp.Converted, len(exp.Clips), exp.Dropped, exp.Gaps, exp.Discontinuities)
	}
	if st.ClipsStarted != uint64(len(exp.Clips)+exp.Dropped+exp.Pending) {
		t.Fatalf("started %d, expected %d", st.ClipsStarted, len(exp.Clips)+exp.Dropped+exp.Pending)
	}
	if st.ClipsInFlight != 0 {
		t.Fatalf("in flight %d after releasing every clip", st.ClipsInFlight)
	}
	return exp
}

// The same model sees the same motion whatever the frame rate: at 10, 25, 30 and 60 fps the
// clips of X3D-XS (4 samples, 400ms apart, hop 800ms) span exactly [0.8k, 0.8k+1.2] s.
func TestSpansIndependentOfFrameRate(t *testing.T) {
	for _, fps := range []float64{10, 25, 30, 60} {
		pts := constantFPS(fps, int(10*fps), 0) // 10 s
		clips, _, st := feed(t, pts, cfgXS)
		// Clip k needs its last target 0.8k+1.2 <= 9.9 s (last frame at 10 - 1/fps).
		if len(clips) != 11 {
			t.Fatalf("%v fps: %d clips, want 11", fps, len(clips))
		}
		for k, c := range clips {
			start := time.Duration(k) * 800 * time.Millisecond
			if c.Start != start || c.End != start+1200*time.Millisecond {
				t.Fatalf("%v fps clip %d: [%v, %v], want [%v, %v]", fps, k, c.Start, c.End, start, start+1200*time.Millisecond)
			}
			step := int(fps * 0.4)
			for i, idx := range c.samples {
				if want := int(fps*0.8)*k + step*i; idx != want {
					t.Fatalf("%v fps clip %d sample %d: frame %d, want %d", fps, k, i, idx, want)
				}
			}
		}
		// Overlapping clips share frames: each sampled frame converted once.
		if st.FramesAdded >= st.Samples {
			t.Fatalf("%v fps: %d frames converted for %d samples; overlap not shared", fps, st.FramesAdded, st.Samples)
		}
		if st.ClipsDropped != 0 || st.Gaps != 0 {
			t.Fatalf("%v fps: unexpected drops %+v", fps, st)
		}
	}
}

// X3D-S: 13 samples 200ms apart (τ=6), default hop 7·200ms. At 30 fps samples are every 6th frame.
func TestX3DSAt30FPS(t *testing.T) {
	cfg := Config{Frames: 13, SamplingRate: 6, Size: 2}
	if got := cfg.WithDefaults().Hop; got != 1400*time.Millisecond {
		t.Fatalf("default hop %v, want 1.4s", got)
	}
	clips, _, _ := feed(t, constantFPS(30, 300, 5*time.Second), cfg)
	if len(clips) != 6 { // starts 5.0+1.4k with end +2.4 <= 14.9667: k = 0..5
		t.Fatalf("%d clips, want 6", len(clips))
	}
	for i, idx := range clips[1].samples {
		if idx != 42+6*i {
			t.Fatalf("clip 1 sample %d: frame %d, want %d", i, idx, 42+6*i)
		}
	}
}

// τ=5 gives an interval of 1/6 s that is not a whole number of nanoseconds; frames whose exact
// time equals a target must still be picked (no off-by-one frame).
func TestInexactInterval(t *testing.T) {
	cfg := Config{Frames: 16, SamplingRate: 5, Size: 2}
	for _, fps := range []float64{30, 60} {
		clips, _, _ := feed(t, constantFPS(fps, int(6*fps), 0), cfg)
		if len(clips) == 0 {
			t.Fatalf("%v fps: no clips", fps)
		}
		per := int(fps / 6)
		for i, idx := range clips[0].samples {
			if idx != per*i {
				t.Fatalf("%v fps sample %d: frame %d, want %d", fps, i, idx, per*i)
			}
		}
	}
}

// A frame can fill several samples when frames are sparser than samples (τ=2 at 10 fps).
func TestSparseFramesRepeatSamples(t *testing.T) {
	cfg := Config{Frames: 4, SamplingRate: 2, Size: 2, Hop: time.Second} // targets 0, 66.6, 133.3, 200ms
	clips, _, _ := feed(t, constantFPS(10, 30, 0), cfg)
	want := []int{0, 1, 2, 2}
	for i, idx := range clips[0].samples {
		if idx != want[i] {
			t.Fatalf("sample %d: frame %d, want %d (first frame with PTS >= target)", i, idx, want[i])
		}
	}
}

func TestGapDropsAndReanchors(t *testing.T) {
	// 30 fps for 2 s, then a 2 s hole, then 30 fps for 3 s.
	pts := append(constantFPS(30, 60, 0), constantFPS(30, 90, 4*time.Second)...)
	exp := checkAgainstExpect(t, pts, cfgXS)
	if exp.Gaps != 1 || exp.Dropped == 0 {
		t.Fatalf("expected one gap that breaks clips: %+v", exp)
	}
	for _, c := range exp.Clips {
		if c.Start < 2*time.Second && c.End >= 4*time.Second {
			t.Fatalf("clip [%v, %v] spans the gap", c.Start, c.End)
		}
	}
	// After the gap the grid restarts at the first frame after it.
	found := false
	for _, c := range exp.Clips {
		if c.Start == 4*time.Second {
			found = true
		}
	}
	if !found {
		t.Fatalf("no clip anchored at the frame after the gap: %+v", exp.Clips)
	}
}

// A step of exactly GapTolerance is not a gap; one nanosecond more is.
func TestGapToleranceBoundary(t *testing.T) {
	cfg := cfgXS
	cfg.GapTolerance = 300 * time.Millisecond
	pts := []time.Duration{0, 300 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond, 1200 * time.Millisecond}
	exp := checkAgainstExpect(t, pts, cfg)
	if exp.Gaps != 0 || len(exp.Clips) != 1 {
		t.Fatalf("steps of exactly the tolerance: %+v", exp)
	}
	pts[4]++
	exp = checkAgainstExpect(t, pts, cfg)
	// Clip 0 (from 0) and clip 1 (from 0.8 s, started at 0.9 s) break; one starts after the gap.
	if exp.Gaps != 1 || len(exp.Clips) != 0 || exp.Dropped != 2 || exp.Pending != 1 {
		t.Fatalf("one step over the tolerance: %+v", exp)
	}
}

func TestBackwardsPTSIsADiscontinuity(t *testing.T) {
	pts := append(constantFPS(25, 75, 10*time.Second), constantFPS(25, 75, 0)...) // a looping file
	exp := checkAgainstExpect(t, pts, cfgXS)
	if exp.Discontinuities != 1 || exp.Gaps != 0 {
		t.Fatalf("%+v", exp)
	}
}

// Each broken clip is counted under what broke it.
func TestDropReasons(t *testing.T) {
	gap := append(constantFPS(30, 60, 0), constantFPS(30, 60, 4*time.Second)...)
	back := append(gap, constantFPS(30, 60, time.Second)...)
	_, _, st := feed(t, gap, cfgXS)
	if st.ClipsDroppedGap == 0 || st.ClipsDroppedBackward != 0 || st.ClipsDropped != st.ClipsDroppedGap {
		t.Fatalf("gap: %+v", st)
	}
	gapDrops := st.ClipsDroppedGap
	_, _, st = feed(t, back, cfgXS)
	if st.ClipsDroppedGap != gapDrops || st.ClipsDroppedBackward == 0 || st.ClipsDroppedReset != 0 ||
		st.ClipsDropped != st.ClipsDroppedGap+st.ClipsDroppedBackward {
		t.Fatalf("gap then backwards: %+v", st)
	}
}

// Property: Clipper agrees with Expect on random frame rates, VFR jitter, gaps, duplicates and
// backwards jumps, for several model geometries and hops.
func TestClipperMatchesExpect(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	cfgs := []Config{
		cfgXS,
		{Frames: 13, SamplingRate: 6, Size: 2},
		{Frames: 16, SamplingRate: 5, Size: 1},
		{Frames: 4, SamplingRate: 12, Size: 1, Hop: 150 * time.Millisecond},        // hop not a multiple of the interval
		{Frames: 8, SamplingRate: 3, Size: 1, Hop: 2 * time.Second},                // clips far apart
		{Frames: 1, SamplingRate: 1, Size: 1, Hop: 33 * time.Millisecond},          // one-frame clips
		{Frames: 4, SamplingRate: 2, Size: 1, GapTolerance: 90 * time.Millisecond}, // tight tolerance
	}
	var total Expectation
	for trial := 0; trial < 200; trial++ {
		cfg := cfgs[trial%len(cfgs)]
		var pts []time.Duration
		p := time.Duration(rng.Int63n(int64(time.Hour)))
		kind := trial % 5
		fps := []float64{10, 25, 29.97, 30, 60}[rng.Intn(5)]
		n := 50 + rng.Intn(400)
		for i := 0; i < n; i++ {
			pts = append(pts, p)
			step := time.Duration(1e9 / fps)
			switch kind {
			case 1: // VFR: steps from 15 to 80 ms
				step = time.Duration(15+rng.Intn(66)) * time.Millisecond
			case 2: // jitter around the nominal rate
				step += time.Duration(rng.Int63n(int64(step/2))) - step/4
			case 3: // occasional gaps and duplicate timestamps
				switch r := rng.Intn(100); {
				case r < 3:
					step = time.Duration(300+rng.Intn(3000)) * time.Millisecond
				case r < 6:
					step = 0
				}
			case 4: // occasional backwards jumps
				if rng.Intn(100) < 2 {
					step = -time.Duration(rng.Int63n(int64(5 * time.Second)))
				}
			}
			p += step
		}
		e := checkAgainstExpect(t, pts, cfg)
		total.Clips = append(total.Clips, e.Clips...)
		total.Dropped += e.Dropped
		total.Gaps += e.Gaps
		total.Discontinuities += e.Discontinuities
	}
	// The generator must exercise every branch, or the property proves little.
	if len(total.Clips) < 1000 || total.Dropped == 0 || total.Gaps == 0 || total.Discontinuities == 0 {
		t.Fatalf("weak generator: %d clips, %d dropped, %d gaps, %d discontinuities",
			len(total.Clips), total.Dropped, total.Gaps, total.Discontinuities)
	}
}

func TestWantAddContract(t *testing.T) {
	c, err := New("cam", cfgXS)
	if err != nil {
		t.Fatal(err)
	}
	f := &Frame{Pixels: make([]float32, 12)}
	// Add without Want for an unwanted frame returns nothing and does not count as converted.
	f.PTS = 0
	if got := c.Add(f); len(got) != 0 {
		t.Fatal("first frame completed a clip")
	}
	f.PTS = 100 * time.Millisecond
	if c.Want(f.PTS) {
		t.Fatal("frame between targets wanted")
	}
	if got := c.Add(f); len(got) != 0 {
		t.Fatal("unwanted frame completed a clip")
	}
	if st := c.Stats(); st.FramesSeen != 2 || st.FramesAdded != 1 {
		t.Fatalf("stats %+v", st)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("wrong pixel count did not panic")
		}
	}()
	c.Add(&Frame{PTS: time.Second, Pixels: make([]float32, 5)})
}

func TestReset(t *testing.T) {
	c, _ := New("cam", cfgXS)
	f := &Frame{Pixels: make([]float32, 12)}
	for _, p := range constantFPS(30, 20, 0) {
		if c.Want(p) {
			f.PTS = p
			c.Add(f)
		}
	}
	c.Reset()
	st := c.Stats()
	if st.ClipsDropped != 1 || st.ClipsDroppedReset != 1 || st.ClipsDroppedGap+st.ClipsDroppedBackward != 0 {
		t.Fatalf("reset dropped %+v, want the 1 clip in progress, as reset", st)
	}
	// The next frame anchors a new grid even though its PTS is far away.
	if !c.Want(time.Hour) {
		t.Fatal("first frame after Reset not wanted")
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		cfg   Config
		field string
	}{
		{Config{SamplingRate: 1, Size: 1}, "Frames"},
		{Config{Frames: 1, Size: 1}, "SamplingRate"},
		{Config{Frames: 1, SamplingRate: 1}, "Size"},
		{Config{Frames: 1, SamplingRate: 1, Size: 1, Hop: -1}, "Hop"},
		{Config{Frames: 1, SamplingRate: 1, Size: 1, Hop: time.Microsecond}, "Hop"},
		{Config{Frames: 1, SamplingRate: 1, Size: 1, GapTolerance: -1}, "GapTolerance"},
	}
	for _, tc := range cases {
		_, err := New("cam", tc.cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Fatalf("%+v: error %v does not name %s", tc.cfg, err, tc.field)
		}
		if _, err := Expect(nil, tc.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("Expect accepted %+v", tc.cfg)
		}
	}
	d := Config{Frames: 16, SamplingRate: 5, Size: 224}.WithDefaults()
	if d.GapTolerance != 500*time.Millisecond || d.Hop != 8*d.Interval() {
		t.Fatalf("defaults %+v", d)
	}
}

// Release is idempotent and safe from many goroutines; the tensor goes back to the pool once.
func TestReleaseConcurrentIdempotent(t *testing.T) {
	c, _ := New("cam", Config{Frames: 1, SamplingRate: 1, Size: 4, Hop: 10 * time.Millisecond})
	f := &Frame{Pixels: make([]float32, 48)}
	var clips []*Clip
	for i := 0; i < 50; i++ {
		f.PTS = time.Duration(i) * 10 * time.Millisecond
		if c.Want(f.PTS) {
			clips = append(clips, c.Add(f)...)
		}
	}
	if len(clips) != 50 {
		t.Fatalf("%d clips", len(clips))
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, cl := range clips {
				cl.Release()
			}
		}()
	}
	wg.Wait()
	if st := c.Stats(); st.ClipsInFlight != 0 {
		t.Fatalf("in flight %d", st.ClipsInFlight)
	}
	if n := len(c.pool.free); n != 50 {
		t.Fatalf("pool holds %d tensors, want 50 (each returned exactly once)", n)
	}
	for _, cl := range clips {
		if cl.Tensor != nil {
			t.Fatal("tensor readable after Release")
		}
	}
	var nilClip *Clip
	nilClip.Release()
}

// Steady state: with clips released as they come, no tensor is allocated after warm-up and a frame
// that completes no clip allocates nothing.
func TestSteadyStateAllocations(t *testing.T) {
	cfg := Config{Frames: 13, SamplingRate: 6, Size: 8}
	c, _ := New("cam", cfg)
	f := &Frame{Pixels: make([]float32, 3*64)}
	pts := constantFPS(30, 3000, 0)
	i := 0
	step := func() int {
		n := 0
		f.PTS = pts[i]
		i++
		if c.Want(f.PTS) {
			for _, cl := range c.Add(f) {
				cl.Release()
				n++
			}
		}
		return n
	}
	for i < 300 {
		step()
	}
	warm := c.Stats().TensorsAllocated
	var clips int
	allocs := testing.AllocsPerRun(2000, func() { clips += step() })
	if got := c.Stats().TensorsAllocated; got != warm {
		t.Fatalf("tensors allocated grew from %d to %d in steady state", warm, got)
	}
	// The only allocation is the Clip header, once per clip (a frame rarely completes one).
	if perFrame := float64(clips) / 2001; allocs > perFrame+0.01 {
		t.Fatalf("%.3f allocs per frame, want <= %.3f (one small header per clip)", allocs, perFrame)
	}
}

func BenchmarkAddX3DS(b *testing.B) {
	cfg := Config{Frames: 13, SamplingRate: 6, Size: 160}
	c, _ := New("cam", cfg)
	f := &Frame{Pixels: make([]float32, 3*160*160)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f.PTS = time.Duration(i) * time.Second / 30
		if c.Want(f.PTS) {
			for _, cl := range c.Add(f) {
				cl.Release()
			}
		}
	}
}

// A clip's Key is its middle sample's (T/2) PTS, and it carries that frame's source size.
func TestClipKeyFrame(t *testing.T) {
	cfg := Config{Frames: 4, SamplingRate: 6, Size: 2}
	c, err := New("cam", cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &Frame{Pixels: make([]float32, 12)}
	var got []*Clip
	for i, p := range constantFPS(30, 60, 0) {
		if !c.Want(p) {
			continue
		}
		f.PTS, f.SourceWidth, f.SourceHeight = p, 640+i, 360 // the size changes per frame here
		got = append(got, c.Add(f)...)
	}
	if len(got) == 0 {
		t.Fatal("no clip")
	}
	for _, cl := range got {
		// Samples are 0.2 s apart: sample 2 is 0.4 s after the first, frame 12 after it.
		if want := cl.Start + 400*time.Millisecond; cl.Key < want-time.Millisecond || cl.Key > want+time.Millisecond {
			t.Errorf("clip %d: key %v, want %v (sample T/2)", cl.Seq, cl.Key, want)
		}
		if n := int(cl.Key.Seconds()*30 + 0.5); cl.SourceWidth != 640+n || cl.SourceHeight != 360 {
			t.Errorf("clip %d: source %dx%d, want the key frame's %dx360", cl.Seq, cl.SourceWidth, cl.SourceHeight, 640+n)
		}
		cl.Release()
	}
}
