// Package sinktest makes realistic event sequences and checks events against the contract, for
// the tests of the sink packages.
package sinktest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

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

// CheckJSON decodes one event as a consumer would and checks it against the contract: the
// CloudEvents 1.0 required attributes at the top level of a JSON object, then the event fields.
func CheckJSON(raw []byte) (events.Event, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return events.Event{}, fmt.Errorf("not a JSON object: %w", err)
	}
	for _, k := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data"} {
		if _, ok := top[k]; !ok {
			return events.Event{}, fmt.Errorf("attribute %q missing in %s", k, raw)
		}
	}
	var ev events.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return events.Event{}, fmt.Errorf("decode event: %w", err)
	}
	return ev, Check(ev)
}

// Check validates the fields of one event against the contract.
func Check(ev events.Event) error {
	switch {
	case ev.SpecVersion != "1.0":
		return fmt.Errorf("event %q: specversion %q, want 1.0", ev.ID, ev.SpecVersion)
	case ev.ID == "":
		return fmt.Errorf("event without id")
	case ev.Source == "":
		return fmt.Errorf("event %q: empty source", ev.ID)
	case ev.Time.IsZero():
		return fmt.Errorf("event %q: zero time", ev.ID)
	case ev.DataContentType != "application/json":
		return fmt.Errorf("event %q: datacontenttype %q", ev.ID, ev.DataContentType)
	case ev.Data.Stream == "":
		return fmt.Errorf("event %q: data.stream empty", ev.ID)
	case ev.Subject != "" && ev.Subject != ev.Data.Stream:
		return fmt.Errorf("event %q: subject %q != data.stream %q", ev.ID, ev.Subject, ev.Data.Stream)
	}
	switch ev.Type {
	case events.TypeStreamUp, events.TypeStreamDown:
	case events.TypeActionStarted, events.TypeActionUpdated, events.TypeClipScored:
		if ev.Data.Span == nil {
			return fmt.Errorf("event %q (%s): no span", ev.ID, ev.Type)
		}
		if ev.Type != events.TypeClipScored && ev.Data.Label == "" {
			return fmt.Errorf("event %q (%s): no label", ev.ID, ev.Type)
		}
	case events.TypeActionEnded:
		if ev.Data.Label == "" || ev.Data.DurationSeconds <= 0 {
			return fmt.Errorf("event %q: action.ended needs label and duration", ev.ID)
		}
	default:
		return fmt.Errorf("event %q: unknown type %q", ev.ID, ev.Type)
	}
	return nil
}
