package pipeline

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/clipper/motion"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/ingest"
)

// gate is a stream's motion gating: the meter (decoder goroutine) and the order in which
// gated clips and scored results reach the lifecycle. A gated clip must reach the Tracker
// after every clip before it that was submitted, so it waits in pending while one of them is
// still being scored; the result that catches up applies it.
type gate struct {
	meter *motion.Meter

	gated       atomic.Uint64
	levelBits   atomic.Uint64 // math.Float64bits of the latest measured clip's level
	levelKnown  atomic.Bool
	submitted   bool   // a clip was submitted (under the stream's trackerMu)
	lastSub     uint64 // Seq of the latest submitted clip (trackerMu)
	handled     bool   // a result came back (trackerMu)
	lastHandled uint64 // Seq of the latest result (trackerMu)
	pending     []gatedSpan

	// emitMu orders the stream's lifecycle events from the two goroutines that make them:
	// whoever holds it emits, in lifecycle order, then drains pending before letting go.
	emitMu sync.Mutex
}

type gatedSpan struct {
	seq        uint64
	start, end time.Duration
}

func newGate(set motion.Settings, geo motion.Geometry) *gate {
	return &gate{meter: motion.NewMeter(set, geo)}
}

// caughtUp: every submitted clip's result is back (trackerMu held).
func (g *gate) caughtUp() bool {
	return !g.submitted || g.handled && g.lastHandled >= g.lastSub
}

// level is the latest measured clip's motion level, and whether there is one.
func (g *gate) level() (float64, bool) {
	return math.Float64frombits(g.levelBits.Load()), g.levelKnown.Load()
}

// gateClip decides, on the decoder goroutine, whether clip c skips inference. A gated clip is
// counted, released and handed to the lifecycle (now, or after the results it must follow).
func (p *Pipeline) gateClip(s *stream, c *clipper.Clip) bool {
	g := s.gate
	level, measured := g.meter.Clip(c.Start, c.End)
	if measured {
		g.levelBits.Store(math.Float64bits(level))
		g.levelKnown.Store(true)
	}
	if !g.meter.Gate(level, measured) {
		return false
	}
	g.gated.Add(1)
	span := gatedSpan{seq: c.Seq, start: c.Start, end: c.End}
	c.Release()
	s.trackerMu.Lock()
	g.pending = append(g.pending, span)
	if !g.caughtUp() || !g.emitMu.TryLock() {
		// A result still to come (or being emitted now) applies it in order.
		s.trackerMu.Unlock()
		return true
	}
	evs := s.applyPendingLocked(math.MaxUint64)
	s.trackerMu.Unlock()
	p.emitAndRelease(s, evs)
	return true
}

// noteSubmitted records a clip handed to the batcher (decoder goroutine).
func (s *stream) noteSubmitted(seq uint64) {
	s.trackerMu.Lock()
	s.gate.submitted, s.gate.lastSub = true, seq
	s.trackerMu.Unlock()
}

// lifecycle feeds one result to the stream's lifecycle (batcher goroutine), with the gated
// clips that come before it, and those after it once it was the last one outstanding.
func (p *Pipeline) lifecycle(s *stream, r infer.Result) {
	g := s.gate
	g.emitMu.Lock()
	s.trackerMu.Lock()
	evs := s.applyPendingLocked(r.Seq)
	if r.Err == nil {
		obs, err := s.tracker.Observe(r.ScoredClip)
		if err != nil {
			p.log.Error("scoring result refused", "stream", r.Stream, "err", err)
		} else {
			s.setActors(actorStatuses(r.Labels, s.tracker.Actors()))
		}
		evs = append(evs, obs...)
	}
	g.handled, g.lastHandled = true, r.Seq
	if g.caughtUp() {
		evs = append(evs, s.applyPendingLocked(math.MaxUint64)...)
	}
	s.setActive(s.tracker.Active())
	s.trackerMu.Unlock()
	p.emitAndRelease(s, evs)
}

// emitAndRelease emits evs (emitMu held), then applies what was queued meanwhile while the
// stream is caught up, and lets go of emitMu.
func (p *Pipeline) emitAndRelease(s *stream, evs []events.Event) {
	for {
		p.emit(p.emitCtx, evs)
		s.trackerMu.Lock()
		if len(s.gate.pending) == 0 || !s.gate.caughtUp() {
			s.gate.emitMu.Unlock() // under trackerMu: gateClip's TryLock sees it atomically
			s.trackerMu.Unlock()
			return
		}
		evs = s.applyPendingLocked(math.MaxUint64)
		s.trackerMu.Unlock()
	}
}

// applyPendingLocked hands the Tracker the pending gated clips ordered before seq (trackerMu
// held) and returns their events.
func (s *stream) applyPendingLocked(seq uint64) []events.Event {
	g := s.gate
	var evs []events.Event
	n := 0
	for _, sp := range g.pending {
		if sp.seq >= seq {
			break
		}
		evs = append(evs, s.tracker.Gated(sp.start, sp.end)...)
		n++
	}
	if n > 0 {
		g.pending = append(g.pending[:0], g.pending[n:]...)
		s.setActive(s.tracker.Active())
	}
	return evs
}

// timeline's Add measures each sample's motion before the clipper takes it.
func (t *timeline) Add(f *clipper.Frame) []*clipper.Clip {
	if t.meter != nil {
		w, h := t.sourceSize()
		t.meter.Observe(f, w, h)
	}
	return t.Clipper.Add(f)
}

// motionGeometry is how the decoder makes this model's samples, for the meter.
func (p *Pipeline) motionGeometry() motion.Geometry {
	m := p.info.Meta
	cc := p.clipperConfig().WithDefaults()
	return motion.Geometry{Size: m.CropSize, ResizeShortSide: m.ResizeShortSide, Mean: m.Mean, Std: m.Std,
		Interval: cc.Interval(), GapTolerance: cc.GapTolerance}
}

// BatcherStats are the batcher's counters (model calls, their summed time), for benchmarks.
func (p *Pipeline) BatcherStats() infer.BatcherStats { return p.batcher.Stats() }

// noteMotionOverrides says which motion.streams entries name no configured stream: they apply
// only if a WHIP publisher takes that id (configs refuses them when WHIP is off).
func (p *Pipeline) noteMotionOverrides() {
	for id := range p.cfg.Motion.Streams {
		if !slices.ContainsFunc(p.cfg.Streams, func(sc ingest.StreamConfig) bool { return sc.ID == id }) {
			p.log.Info("motion override for a stream id not in streams[]: it applies to a WHIP publisher of that id", "stream", id)
		}
	}
}
