package decode

import (
	"context"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/media"
)

// loadPackets demuxes a file into memory (copies), so decoding can be measured alone.
func loadPackets(t testing.TB, path string) ([]ingest.Packet, time.Duration) {
	t.Helper()
	var pkts []ingest.Packet
	res, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, func(p ingest.Packet) error {
		p.Data = append([]byte(nil), p.Data...)
		pkts = append(pkts, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkts, res.End
}

// countSampler wants every third frame and completes no clips.
type countSampler struct{ n, added int }

func (s *countSampler) Want(time.Duration) bool            { s.n++; return s.n%3 == 1 }
func (s *countSampler) Add(*clipper.Frame) []*clipper.Clip { s.added++; return nil }

// looper feeds the packets again and again with increasing PTS, as a looping file would.
type looper struct {
	d    *Decoder
	pkts []ingest.Packet
	span time.Duration
	i    int
	pass time.Duration
}

func (l *looper) next() error {
	p := l.pkts[l.i]
	p.PTS += l.pass
	p.Codec = nil
	if l.i == 0 && l.pass == 0 {
		p.Codec = l.pkts[0].Codec
	}
	l.i++
	if l.i == len(l.pkts) {
		l.i = 0
		l.pass += l.span
	}
	return l.d.Decode(p)
}

// The decode -> sample -> convert -> ring path allocates nothing per frame in steady state, with
// a trivial sampler and with the real clipper assembling (and releasing) clips.
func TestDecodeToRingZeroAlloc(t *testing.T) {
	path := genTestsrc(t, t.TempDir(), 320, 240, 30, 1, "libx264", "mp4")
	pkts, span := loadPackets(t, path)
	cl, err := clipper.New("alloc", clipper.Config{Frames: 4, SamplingRate: 3, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Sampler{"counting": &countSampler{}, "clipper": cl} {
		clips := 0
		d, err := New(Config{Size: 64, ResizeShortSide: 72}, s, func(c *clipper.Clip) { clips++; c.Release() })
		if err != nil {
			t.Fatal(err)
		}
		l := &looper{d: d, pkts: pkts, span: span}
		for range 2 * len(pkts) { // warm up: opens the codec, sizes the ring, fills the pools
			if err := l.next(); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(90, func() {
			if err := l.next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.2f allocations per packet in steady state, want 0", name, allocs)
		}
		if st := d.Stats(); st.FramesConverted == 0 || st.DecodeErrors != 0 {
			t.Errorf("%s: stats %+v", name, st)
		}
		if name == "clipper" && clips == 0 {
			t.Error("no clips from the clipper")
		}
		d.Close()
	}
}

// BenchmarkDecodeToRing measures one packet through decode, sampling and conversion of every
// third frame (run with -benchmem: 0 allocs/op).
func BenchmarkDecodeToRing(b *testing.B) {
	path := genTestsrc(b, b.TempDir(), 640, 360, 30, 2, "libx264", "mp4")
	pkts, span := loadPackets(b, path)
	d, err := New(Config{Size: 160, ResizeShortSide: 182}, &countSampler{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	l := &looper{d: d, pkts: pkts, span: span}
	for range len(pkts) {
		if err := l.next(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := l.next(); err != nil {
			b.Fatal(err)
		}
	}
}
