package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Validate checks an event against the contract: the CloudEvents 1.0 attributes, then the data
// each type must carry. Sinks' tests use it on events consumed back from Kafka, Redis or a file.
func Validate(e Event) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("event %q (%s): %s: %w", e.ID, e.Type, fmt.Sprintf(format, args...), ErrInvalidEvent)
	}
	d := e.Data
	switch {
	case e.SpecVersion != SpecVersion:
		return bad("specversion %q, want %q", e.SpecVersion, SpecVersion)
	case e.ID == "" || strings.Trim(e.ID, "0123456789abcdef") != "":
		return bad("id must be non-empty lowercase hex")
	case e.Source == "":
		return bad("source is empty")
	case e.Time.IsZero():
		return bad("time is zero")
	case e.DataContentType != ContentType:
		return bad("datacontenttype %q, want %q", e.DataContentType, ContentType)
	case d.Stream == "":
		return bad("data.stream is empty")
	case e.Subject != "" && e.Subject != d.Stream:
		return bad("subject %q differs from data.stream %q", e.Subject, d.Stream)
	case d.ModelDigest != "" && !validDigest(d.ModelDigest):
		return bad("data.model_digest %q is not sha256:<64 hex>", d.ModelDigest)
	}
	for _, s := range []struct {
		name string
		v    float32
	}{{"score", d.Score}, {"peak_score", d.PeakScore}} {
		if !validScore(s.v) {
			return bad("data.%s %v outside [0, 1]", s.name, s.v)
		}
	}
	for i, ls := range d.TopK {
		if ls.Label == "" || !validScore(ls.Score) {
			return bad("data.top_k[%d] = %+v", i, ls)
		}
		if i > 0 && ls.Score > d.TopK[i-1].Score {
			return bad("data.top_k not sorted by score")
		}
	}
	if sp := d.Span; sp != nil {
		if sp.EndPTS < sp.StartPTS || sp.EndWall.Before(sp.StartWall) || sp.StartWall.IsZero() ||
			math.IsNaN(sp.StartPTS) || math.IsNaN(sp.EndPTS) {
			return bad("data.span %+v is empty or reversed", *sp)
		}
	}
	if (d.ActorID == "") != (d.Box == nil) && len(d.Actors) == 0 {
		return bad("data.actor_id and data.box come together")
	}
	if d.Box != nil && !validBox(*d.Box) {
		return bad("data.box %+v is not x1 <= x2, y1 <= y2 in [0, 1]", *d.Box)
	}
	for i, a := range d.Actors {
		if a.ActorID == "" || a.Label == "" || !validScore(a.Score) || !validBox(a.Box) {
			return bad("data.actors[%d] = %+v", i, a)
		}
	}
	if len(d.Actors) > 0 && e.Type != TypeClipScored {
		return bad("only clip.scored lists data.actors")
	}
	switch e.Type {
	case TypeStreamUp, TypeStreamDown:
		if d.Label != "" || d.Span != nil {
			return bad("stream events carry no label or span")
		}
		return nil
	case TypeActionStarted, TypeActionUpdated, TypeActionEnded:
		switch {
		case d.Label == "":
			return bad("data.label is empty")
		case d.Span == nil:
			return bad("data.span is missing")
		case d.Model == "":
			return bad("data.model is empty")
		case d.DurationSeconds < 0 || math.IsNaN(d.DurationSeconds):
			return bad("data.duration_s %v is negative", d.DurationSeconds)
		case e.Type == TypeActionEnded && d.PeakScore <= 0:
			return bad("action.ended needs data.peak_score")
		case d.PeakScore != 0 && d.PeakScore < d.Score:
			return bad("data.peak_score %v below data.score %v", d.PeakScore, d.Score)
		}
		return nil
	case TypeClipScored:
		switch {
		case d.Span == nil:
			return bad("data.span is missing")
		case len(d.TopK) == 0:
			return bad("data.top_k is empty")
		case d.Label != "" && d.Label != d.TopK[0].Label:
			return bad("data.label %q is not top_k[0] %q", d.Label, d.TopK[0].Label)
		case d.Model == "":
			return bad("data.model is empty")
		}
		return nil
	}
	return bad("unknown type")
}

// ParseJSON decodes one event as a consumer would, strictly (unknown attributes are an error,
// as are missing required CloudEvents attributes), and validates it.
func ParseJSON(raw []byte) (Event, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return Event{}, fmt.Errorf("events: not a JSON object: %w", err)
	}
	for _, k := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data"} {
		if _, ok := top[k]; !ok {
			return Event{}, fmt.Errorf("events: attribute %q missing: %w", k, ErrInvalidEvent)
		}
	}
	// encoding/json matches names case-insensitively: "ID" would pass as a second id.
	for k := range top {
		if !knownAttribute(k) {
			return Event{}, fmt.Errorf("events: unknown attribute %q: %w", k, ErrInvalidEvent)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e Event
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("events: decode: %w", err)
	}
	return e, Validate(e)
}

// knownAttribute: k is a CloudEvents attribute an Event has, spelled as its JSON tag.
func knownAttribute(k string) bool {
	switch k {
	case "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data":
		return true
	}
	return false
}

func validScore(v float32) bool { return v >= 0 && v <= 1 } // false for NaN

func validBox(b Box) bool {
	return validScore(b.X1) && validScore(b.Y1) && validScore(b.X2) && validScore(b.Y2) && b.X1 <= b.X2 && b.Y1 <= b.Y2
}

func validDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	return ok && len(h) == 64 && strings.Trim(h, "0123456789abcdef") == ""
}
