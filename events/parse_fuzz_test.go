package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// FuzzParseJSON decodes arbitrary bytes as a consumer of the event stream would: no panic,
// allocation bounded by the input's size, a refusal wraps ErrInvalidEvent or says the JSON is
// bad, and an accepted event is valid and survives a marshal/parse round trip unchanged.
func FuzzParseJSON(f *testing.F) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, e := range []events.Event{
		events.StreamUp("", "cam-1", at, ""),
		events.StreamDown("edge", "cam-1", at, "rtsp: connection refused"),
	} {
		b, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"specversion":"1.0","id":"0a1b","source":"actionstream/cam","type":"clip.scored","subject":"cam",` +
		`"time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"stream":"cam","label":"wave","score":0.9,` +
		`"top_k":[{"label":"wave","score":0.9},{"label":"clap","score":0.1}],"span":{"start_wall":"2026-01-01T00:00:00Z",` +
		`"end_wall":"2026-01-01T00:00:01.2Z","start_pts_s":0,"end_pts_s":1.2},"model":"x3d-xs"}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"ab","source":"s","type":"stream.up","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"stream":"x"},"extra":1}`))
	f.Add([]byte(`[]`))
	// Regression: encoding/json matches keys case-insensitively, so "ID" was taken as a second id.
	f.Add([]byte(`{"specversion":"1.0","id":"ab","ID":"cd","source":"s","type":"stream.up","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"stream":"x"}}`))
	// The CloudEvents attributes an event has, spelled exactly.
	attributes := map[string]bool{"specversion": true, "id": true, "source": true, "type": true, "subject": true,
		"time": true, "datacontenttype": true, "data": true}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var e events.Event
		var err error
		alloc := testutil.AllocatedBytes(func() { e, err = events.ParseJSON(raw) })
		if limit := 64<<10 + 64*uint64(len(raw)); alloc > limit {
			t.Fatalf("parsing %d bytes allocated %d (limit %d)", len(raw), alloc, limit)
		}
		if err != nil {
			if !errors.Is(err, events.ErrInvalidEvent) && !bytes.Contains([]byte(err.Error()), []byte("events: ")) {
				t.Fatalf("error without the package's prefix or sentinel: %v", err)
			}
			return
		}
		if err := events.Validate(e); err != nil {
			t.Fatalf("ParseJSON accepted an invalid event: %v", err)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			t.Fatalf("accepted, but not a JSON object: %v", err)
		}
		for k := range top {
			if !attributes[k] {
				t.Fatalf("accepted an event with the attribute %q", k)
			}
		}
		once, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("an accepted event does not marshal: %v (%+v)", err, e)
		}
		back, err := events.ParseJSON(once)
		if err != nil {
			t.Fatalf("an accepted event, marshalled, is refused: %v\n%s", err, once)
		}
		twice, err := json.Marshal(back)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the event:\n%s\n%s (%v)", once, twice, err)
		}
	})
}
