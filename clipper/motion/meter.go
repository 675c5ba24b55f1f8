// Package motion measures how much a stream's picture changes between the frames the clipper
// already sampled, so a still scene's clips can skip inference (gating). It reads the
// converted, normalized crop each sample carries: no other frame is converted for it.
//
// The measure: each sample's crop is reduced to a 16×16 grid of mean luma values (averaging
// a cell's pixels is what makes it robust to sensor noise); a cell moved when its mean changed
// by more than the noise floor since the previous sample. A sample's level is the fraction of
// the unmasked cells that moved, and a clip's level the largest level of the samples in its
// span. A sample without a usable predecessor (the stream's first, or the first after a gap,
// a backward step or a reset) has no level, and a clip holding one is always scored.
package motion

import (
	"math"
	"time"

	"github.com/actionstream/actionstream/clipper"
)

// GridCells is the number of grid cells along each side of the crop (fewer when the crop is
// smaller than that).
const GridCells = 16

// Geometry is how the decoder made a sample from a source frame: the short side resized to
// ResizeShortSide, a centre crop of Size, pixels normalized (x/255-Mean)/Std per RGB channel.
type Geometry struct {
	Size, ResizeShortSide int
	Mean, Std             [3]float32
	// Interval is the time between a clip's samples; with GapTolerance it bounds how far apart
	// two samples may be and still be compared.
	Interval, GapTolerance time.Duration
}

// Meter measures one stream. Observe, Clip and Reset must be called from one goroutine (the
// stream's decoder); Last may be called from any goroutine via the caller's own lock.
type Meter struct {
	set Settings
	geo Geometry
	n   int // grid cells per side

	weight  [3]float32 // luma weight of each normalized channel, in 0..255 units
	cellCol []int32    // crop column -> grid column
	cellRow []int32
	cellPix []float32 // pixels per cell
	sums    []float32
	prev    []float32
	masked  []bool
	open    int // unmasked cells

	srcW, srcH int
	havePrev   bool
	lastPTS    time.Duration

	hist []sample // ring of the latest samples' levels
	head int
	size int
}

type sample struct {
	pts      time.Duration
	level    float64
	measured bool
}

// histSamples is how many samples' levels are kept: more than any clip spans.
const histSamples = 256

// NewMeter returns a Meter for one stream.
func NewMeter(s Settings, g Geometry) *Meter {
	n := min(GridCells, g.Size)
	m := &Meter{set: s, geo: g, n: n,
		cellCol: make([]int32, g.Size), cellRow: make([]int32, g.Size),
		cellPix: make([]float32, n*n), sums: make([]float32, n*n), prev: make([]float32, n*n),
		masked: make([]bool, n*n), open: n * n, hist: make([]sample, histSamples)}
	// Rec. 601 luma of the de-normalized RGB: 255·(p·std+mean) per channel. The mean term is
	// the same in every sample, so only the scale matters for differences.
	for c, w := range [3]float32{0.299, 0.587, 0.114} {
		std := g.Std[c]
		if std == 0 {
			std = 1
		}
		m.weight[c] = w * std * 255
	}
	for i := 0; i < g.Size; i++ {
		m.cellCol[i] = int32(i * n / g.Size)
		m.cellRow[i] = int32(i * n / g.Size)
	}
	for y := 0; y < g.Size; y++ {
		for x := 0; x < g.Size; x++ {
			m.cellPix[int(m.cellRow[y])*n+int(m.cellCol[x])]++
		}
	}
	return m
}

// Settings returns the stream's gating settings.
func (m *Meter) Settings() Settings { return m.set }

// Observe measures one sample (the frames the clipper takes, in PTS order) of a source frame
// of srcW×srcH pixels.
func (m *Meter) Observe(f *clipper.Frame, srcW, srcH int) {
	if srcW != m.srcW || srcH != m.srcH {
		m.srcW, m.srcH = srcW, srcH
		m.applyMasks()
		m.havePrev = false // another picture: nothing to compare with
	}
	s := m.geo.Size
	plane := s * s
	if len(f.Pixels) < 3*plane {
		return
	}
	clear(m.sums)
	r, g, b := f.Pixels[:plane], f.Pixels[plane:2*plane], f.Pixels[2*plane:3*plane]
	wr, wg, wb := m.weight[0], m.weight[1], m.weight[2]
	for y := 0; y < s; y++ {
		row := m.sums[int(m.cellRow[y])*m.n:]
		o := y * s
		for x := 0; x < s; x++ {
			row[m.cellCol[x]] += wr*r[o+x] + wg*g[o+x] + wb*b[o+x]
		}
	}
	for i := range m.sums {
		m.sums[i] /= m.cellPix[i]
	}
	gap := m.geo.Interval + m.geo.GapTolerance
	measured := m.havePrev && f.PTS >= m.lastPTS && f.PTS-m.lastPTS <= gap
	level := 0.0
	if measured {
		moved := 0
		floor := float32(m.set.NoiseFloor)
		for i, v := range m.sums {
			if !m.masked[i] && float32(math.Abs(float64(v-m.prev[i]))) > floor {
				moved++
			}
		}
		if m.open > 0 {
			level = float64(moved) / float64(m.open)
		}
	}
	m.sums, m.prev = m.prev, m.sums
	m.havePrev, m.lastPTS = true, f.PTS
	m.hist[m.head] = sample{pts: f.PTS, level: level, measured: measured}
	m.head = (m.head + 1) % len(m.hist)
	m.size = min(m.size+1, len(m.hist))
}

// Clip returns the motion level of the clip spanning start..end (its first and last sample
// times): the largest level of the samples in that span. measured is false when one of them
// has no level (or none was observed): such a clip is always scored.
func (m *Meter) Clip(start, end time.Duration) (level float64, measured bool) {
	found := false
	for k := 1; k <= m.size; k++ {
		s := m.hist[(m.head-k+len(m.hist))%len(m.hist)]
		if s.pts > end {
			continue
		}
		if s.pts < start {
			break
		}
		found = true
		if !s.measured {
			return 0, false
		}
		level = max(level, s.level)
	}
	return level, found
}

// Gate says whether a clip of this level is gated (not scored).
func (m *Meter) Gate(level float64, measured bool) bool {
	return m.set.Enabled && measured && level < m.set.Threshold
}

// Reset forgets the previous sample (a reconnect): the next one has no level.
func (m *Meter) Reset() { m.havePrev = false }

// applyMasks marks every grid cell that overlaps a mask (in source-frame fractions) for the
// current source size, by the decoder's own resize and centre crop.
func (m *Meter) applyMasks() {
	clear(m.masked)
	m.open = m.n * m.n
	if len(m.set.Masks) == 0 || m.srcW <= 0 || m.srcH <= 0 {
		return
	}
	rw, rh, x0, y0 := CropWindow(m.srcW, m.srcH, m.geo.Size, m.geo.ResizeShortSide)
	s := m.geo.Size
	for cy := 0; cy < m.n; cy++ {
		// The cell's crop pixels [p0, p1) in fractions of the resized frame.
		fy0, fy1 := float64(y0+cy*s/m.n)/float64(rh), float64(y0+(cy+1)*s/m.n)/float64(rh)
		for cx := 0; cx < m.n; cx++ {
			fx0, fx1 := float64(x0+cx*s/m.n)/float64(rw), float64(x0+(cx+1)*s/m.n)/float64(rw)
			for _, r := range m.set.Masks {
				if r.X < fx1 && r.X+r.W > fx0 && r.Y < fy1 && r.Y+r.H > fy0 {
					m.masked[cy*m.n+cx] = true
					m.open--
					break
				}
			}
		}
	}
}

// CropWindow is the decoder's geometry for a w×h source: the resized size (short side to
// resize, at least size) and the top-left corner of the centred size×size crop in it.
func CropWindow(w, h, size, resize int) (rw, rh, x0, y0 int) {
	if resize < size {
		resize = size
	}
	short := min(w, h)
	rw = max((w*resize+short/2)/short, size)
	rh = max((h*resize+short/2)/short, size)
	return rw, rh, (rw - size) / 2, (rh - size) / 2
}

// MaskedCells is how many grid cells the masks cover at the current source size.
func (m *Meter) MaskedCells() int { return m.n*m.n - m.open }
