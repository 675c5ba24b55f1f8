// Package sinktest makes realistic event sequences for the tests of the sink packages; every
// event passes events.Validate.
package sinktest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/actionstream/actionstream/events"
)

// epoch is the wall clock of the first generated event.
var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// Stream returns n events of one stream in the order the pipeline would emit them: stream.up,
// then repeating clip.scored / action.started / action.updated / action.ended. Ids are
// deterministic and unique within the stream.
func Stream(stream string, n int) []events.Event {
	out := make([]events.Event, 0, n)
	for i := range n {
		t := epoch.Add(time.Duration(i) * 400 * time.Millisecond)
		pts := float64(i) * 0.4
		d := events.Data{Stream: stream, Model: "x3d-xs", ModelDigest: "sha256:" + hex.EncodeToString(make([]byte, 32))}
		var typ string
		switch {
		case i == 0:
			typ, d.Reason = events.TypeStreamUp, "connected"
		default:
			span := &events.Span{StartWall: t.Add(-time.Second), EndWall: t, StartPTS: pts - 1, EndPTS: pts}
			d.Label, d.Score, d.Span = "waving", 0.5+float32(i%5)/10, span
			d.TopK = []events.LabelScore{{Label: "waving", Score: d.Score}, {Label: "clapping", Score: 0.1}}
			switch i % 4 {
			case 1:
				typ = events.TypeClipScored
			case 2:
				typ = events.TypeActionStarted
			case 3:
				typ = events.TypeActionUpdated
			case 0:
				typ = events.TypeActionEnded
				d.DurationSeconds, d.PeakScore = 0.8, 0.9
			}
		}
		out = append(out, events.Event{
			SpecVersion:     "1.0",
			ID:              ID(stream, typ, i),
			Source:          "actionstream/" + stream,
			Type:            typ,
			Subject:         stream,
			Time:            t,
			DataContentType: "application/json",
			Data:            d,
		})
	}
	return out
}

// Interleave merges per-stream sequences round-robin, keeping each stream's order.
func Interleave(seqs ...[]events.Event) []events.Event {
	var out []events.Event
	for i := 0; ; i++ {
		added := false
		for _, s := range seqs {
			if i < len(s) {
				out = append(out, s[i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// ID is the deterministic id of the i-th generated event of a stream.
func ID(stream, typ string, i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", stream, typ, i))
	return hex.EncodeToString(h[:16])
}

// CheckGoroutines fails t if, once t's other cleanups have run, a goroutine started during the
// test is still running: every goroutine a sink starts must end with Close. Call it first in a
// test; not in parallel tests, whose goroutines it cannot tell apart.
func CheckGoroutines(t testing.TB) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}
