package decode

import (
	"context"
	"slices"
	"testing"

	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/media"
)

// A reconnect replays a camera's clock from 0. Without NewTimeline the decoder takes that for
// backward timestamps and times every later frame by counting; with it the new connection's
// times continue after the last frame and nothing is counted as a backward step or repaired (the
// few frames FFmpeg still held for reordering when a connection ends are dropped with it).
func TestNewTimelineAfterReconnect(t *testing.T) {
	path := genTestsrc(t, t.TempDir(), 96, 72, 25, 2, "libx264", "mp4")
	for _, restart := range []bool{false, true} {
		rec := &recSampler{every: 1, lo: -10, hi: 10}
		d, err := New(Config{Size: 32}, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		for conn := range 2 {
			if conn == 1 && restart {
				d.NewTimeline()
			}
			if _, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, d.Decode); err != nil {
				t.Fatal(err)
			}
		}
		st := d.Stats()
		d.Close()
		if !restart {
			if st.BackwardSteps == 0 {
				t.Errorf("a second connection from time 0 without NewTimeline: no backward step counted (%+v)", st)
			}
			continue
		}
		if st.BackwardSteps != 0 || st.Repairs != 0 || !slices.IsSorted(rec.all) || len(rec.all) < 96 {
			t.Errorf("with NewTimeline: backward %d, repairs %d, %d frames, sorted %v", st.BackwardSteps, st.Repairs, len(rec.all), slices.IsSorted(rec.all))
		}
		if st.FPS < 24 || st.FPS > 26 {
			t.Errorf("fps %.2f, want the stream's 25 (decoding unpaced)", st.FPS)
		}
	}
}
