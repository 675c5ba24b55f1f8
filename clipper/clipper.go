// Package clipper turns a stream of decoded frames into fixed-size clips for an X3D-style model,
// sampling by presentation timestamp so the model sees the same motion speed whatever the
// camera's frame rate.
//
// The sampling grid: clip k starts at anchor + k·Hop and its T samples target start + i·Interval
// (Interval = τ/30 s). The sample for target t is the first frame with PTS >= t, so one frame can
// fill several samples (of one clip or of overlapping clips) and is converted only once. The grid is
// anchored at the first frame. A gap (a PTS step between consecutive frames longer than
// GapTolerance, which includes any target whose frame arrives more than GapTolerance late) or a PTS
// going backwards drops every clip in progress (counted) and re-anchors the grid at the frame after
// it, so no clip ever spans a gap.
package clipper

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Frame is one decoded, converted frame.
type Frame struct {
	PTS    time.Duration // presentation time in the stream's clock
	Wall   time.Time     // wall-clock time the frame was received/decoded
	Pixels []float32     // planar RGB [3][S][S], normalized (x/255-mean)/std
	// SourceWidth and SourceHeight are the decoded frame's size before resize and crop (0 =
	// unknown), so a box found in the crop can be mapped back to the frame.
	SourceWidth, SourceHeight int
}

// Clip is T samples of one stream, ready for inference.
type Clip struct {
	Stream     string
	Seq        uint64 // per-Clipper sequence of emitted clips: 0, 1, 2, ... (dropped clips take none)
	Frames     int    // T
	Size       int    // S
	Start, End time.Duration
	// StartWall and EndWall are the Wall times of the first and last sample frames.
	StartWall, EndWall time.Time
	// Tensor is [3][T][S][S] (the model input without the batch axis); valid until Release.
	Tensor []float32
	// Key is the PTS of the key frame, sample T/2, where detection models place their boxes;
	// SourceWidth and SourceHeight are that frame's (Frame.SourceWidth/Height).
	Key                       time.Duration
	SourceWidth, SourceHeight int

	pool     *tensorPool
	released atomic.Bool
}

// Release returns the tensor to its Clipper's pool. It is safe to call from any goroutine and
// more than once; after the first call Tensor is nil and must not be read.
func (c *Clip) Release() {
	if c == nil || !c.released.CompareAndSwap(false, true) {
		return
	}
	buf := c.Tensor
	c.Tensor = nil
	if c.pool != nil && buf != nil {
		c.pool.put(buf)
	}
}

// Stats are cumulative counters; Stats() may be called from any goroutine.
type Stats struct {
	FramesSeen   uint64 // frames offered through Want (or Add without Want)
	FramesAdded  uint64 // frames converted and added (each at most once)
	Samples      uint64 // clip samples filled (>= FramesAdded when clips overlap)
	ClipsStarted uint64
	Clips        uint64 // clips completed and returned by Add
	ClipsDropped uint64 // clips in progress dropped, all reasons (the three below)
	// ClipsDroppedGap, ClipsDroppedBackward and ClipsDroppedReset split ClipsDropped by what
	// broke the clips: a gap, a PTS going backwards, or Reset (a reconnect).
	ClipsDroppedGap, ClipsDroppedBackward, ClipsDroppedReset uint64
	Gaps                                                     uint64 // PTS steps longer than GapTolerance
	Discontinuities                                          uint64 // PTS going backwards
	TensorsAllocated                                         uint64 // pool misses; flat in steady state
	ClipsInFlight                                            int64  // clips returned by Add and not yet released
}

// Clipper assembles clips for one stream. Want, Add and Reset must be called from one goroutine
// (the stream's decoder); Stats and Clip.Release may be called from any goroutine.
type Clipper struct {
	stream   string
	cfg      Config
	interval time.Duration
	plane    int // S*S

	seen     bool
	lastSeen time.Duration
	// pts of the frame Want last observed, so Add does not observe it twice.
	observed      time.Duration
	observedValid bool

	anchor time.Duration
	nextK  int64 // grid index of the next clip to start
	active []inProgress
	out    []*Clip
	seq    uint64

	pool *tensorPool

	framesSeen, framesAdded, samples, started, clips, gaps, discont atomic.Uint64
	droppedGap, droppedBackward, droppedReset                       atomic.Uint64
}

type inProgress struct {
	clip  *Clip
	start time.Duration // target of sample 0
	next  int           // index of the next sample to fill
}

// New returns a Clipper for stream; zero Hop and GapTolerance take their defaults.
func New(stream string, cfg Config) (*Clipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	plane := cfg.Size * cfg.Size
	return &Clipper{
		stream:   stream,
		cfg:      cfg,
		interval: cfg.Interval(),
		plane:    plane,
		pool:     &tensorPool{size: 3 * cfg.Frames * plane},
	}, nil
}

// Config returns the configuration in use, defaults applied.
func (c *Clipper) Config() Config { return c.cfg }

// Want must be called for every decoded frame, in decoding order. It reports whether the frame
// fills a sample (true: convert it and call Add). It also notices gaps and backwards jumps, which is
// why frames it declines must still be offered.
func (c *Clipper) Want(pts time.Duration) bool {
	c.framesSeen.Add(1)
	c.observe(pts)
	c.observed, c.observedValid = pts, true
	return pts >= c.nextTarget()
}

// Skippable reports, before a frame at pts is decoded, that it cannot fill a sample, so the
// decoder may leave it undecoded: it is earlier than every sample target, and at most half the
// gap tolerance after the last frame seen, so leaving it out cannot make or hide a gap. The
// decoder still offers its time through Want, in order, whether or not it was decoded.
func (c *Clipper) Skippable(pts time.Duration) bool {
	return c.seen && pts >= c.lastSeen && pts-c.lastSeen <= c.cfg.GapTolerance/2 && pts < c.nextTarget()
}

// Add adds a frame that Want accepted and returns the clips it completed, in Seq order. It copies
// f.Pixels, so the caller may reuse f after it returns; the returned slice is valid until the next
// call. Calling Add without Want treats the frame as seen. Add panics if len(f.Pixels) is not 3·S·S,
// which is a wiring bug.
func (c *Clipper) Add(f *Frame) []*Clip {
	if len(f.Pixels) != 3*c.plane {
		panic(fmt.Sprintf("clipper: frame has %d floats, want 3*%d*%d", len(f.Pixels), c.cfg.Size, c.cfg.Size))
	}
	p := f.PTS
	if !c.observedValid || c.observed != p {
		c.framesSeen.Add(1)
		c.observe(p)
	}
	c.observedValid = false
	c.out = c.out[:0]
	if p < c.nextTarget() {
		return c.out // not needed; the caller did not ask Want
	}
	c.framesAdded.Add(1)

	// Start every grid clip whose start target this frame reaches.
	for s := c.gridStart(c.nextK); s <= p; s = c.gridStart(c.nextK) {
		buf := c.pool.get()
		c.active = append(c.active, inProgress{
			clip:  &Clip{Stream: c.stream, Frames: c.cfg.Frames, Size: c.cfg.Size, Tensor: buf, pool: c.pool},
			start: s,
		})
		c.nextK++
		c.started.Add(1)
	}

	// Fill every due sample; active is in start order, so completions come out in Seq order.
	kept := c.active[:0]
	for _, a := range c.active {
		for a.next < c.cfg.Frames && a.start+time.Duration(a.next)*c.interval <= p {
			if a.next == 0 {
				a.clip.Start, a.clip.StartWall = p, f.Wall
			}
			if a.next == c.cfg.Frames/2 {
				a.clip.Key, a.clip.SourceWidth, a.clip.SourceHeight = p, f.SourceWidth, f.SourceHeight
			}
			c.copySample(a.clip.Tensor, a.next, f.Pixels)
			a.next++
			c.samples.Add(1)
		}
		if a.next < c.cfg.Frames {
			kept = append(kept, a)
			continue
		}
		a.clip.End, a.clip.EndWall = p, f.Wall
		a.clip.Seq = c.seq
		c.seq++
		c.clips.Add(1)
		c.out = append(c.out, a.clip)
	}
	clear(c.active[len(kept):])
	c.active = kept
	return c.out
}

// Reset drops the clips in progress (counted as dropped) and forgets the grid: the next frame
// anchors a new one. For a source that reconnects.
func (c *Clipper) Reset() {
	c.dropActive(&c.droppedReset)
	c.seen = false
	c.observedValid = false
}

// Stats returns the counters so far.
func (c *Clipper) Stats() Stats {
	clips := c.clips.Load()
	return Stats{
		FramesSeen:           c.framesSeen.Load(),
		FramesAdded:          c.framesAdded.Load(),
		Samples:              c.samples.Load(),
		ClipsStarted:         c.started.Load(),
		Clips:                clips,
		ClipsDropped:         c.droppedGap.Load() + c.droppedBackward.Load() + c.droppedReset.Load(),
		ClipsDroppedGap:      c.droppedGap.Load(),
		ClipsDroppedBackward: c.droppedBackward.Load(),
		ClipsDroppedReset:    c.droppedReset.Load(),
		Gaps:                 c.gaps.Load(),
		Discontinuities:      c.discont.Load(),
		TensorsAllocated:     c.pool.allocated.Load(),
		ClipsInFlight:        int64(clips) - int64(c.pool.released.Load()),
	}
}

// observe notices the first frame, gaps and backwards jumps, re-anchoring the grid at pts.
func (c *Clipper) observe(pts time.Duration) {
	switch {
	case !c.seen:
		c.seen = true
		c.reanchor(pts)
	case pts < c.lastSeen:
		c.discont.Add(1)
		c.dropActive(&c.droppedBackward)
		c.reanchor(pts)
	case pts-c.lastSeen > c.cfg.GapTolerance:
		c.gaps.Add(1)
		c.dropActive(&c.droppedGap)
		c.reanchor(pts)
	}
	c.lastSeen = pts
}

func (c *Clipper) reanchor(pts time.Duration) {
	c.anchor = pts
	c.nextK = 0
}

// dropActive drops the clips in progress, counting them under reason.
func (c *Clipper) dropActive(reason *atomic.Uint64) {
	for i := range c.active {
		c.pool.push(c.active[i].clip.Tensor)
		c.active[i].clip.Tensor = nil
	}
	reason.Add(uint64(len(c.active)))
	clear(c.active)
	c.active = c.active[:0]
}

func (c *Clipper) gridStart(k int64) time.Duration {
	return c.anchor + time.Duration(k)*c.cfg.Hop
}

// nextTarget is the earliest time any sample is waiting for.
func (c *Clipper) nextTarget() time.Duration {
	t := c.gridStart(c.nextK)
	for _, a := range c.active {
		if at := a.start + time.Duration(a.next)*c.interval; at < t {
			t = at
		}
	}
	return t
}

// copySample writes a [3][S][S] frame into sample i of a [3][T][S][S] tensor.
func (c *Clipper) copySample(dst []float32, i int, src []float32) {
	n := c.plane
	for ch := 0; ch < 3; ch++ {
		off := (ch*c.cfg.Frames + i) * n
		copy(dst[off:off+n], src[ch*n:(ch+1)*n])
	}
}

// tensorPool is a free list of clip tensors shared by a Clipper and its clips' Release.
type tensorPool struct {
	size int

	mu   sync.Mutex
	free [][]float32

	allocated, released atomic.Uint64
}

func (p *tensorPool) get() []float32 {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		buf := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return buf
	}
	p.mu.Unlock()
	p.allocated.Add(1)
	return make([]float32, p.size)
}

// put returns the tensor of a released clip.
func (p *tensorPool) put(buf []float32) {
	p.released.Add(1)
	p.push(buf)
}

// push returns a tensor; a dropped clip's tensor comes back here directly.
func (p *tensorPool) push(buf []float32) {
	if buf == nil {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, buf)
	p.mu.Unlock()
}
