// Package events is the event contract (CloudEvents 1.0, JSON structured mode) and the per-stream
// action lifecycle that turns clip scores into started / updated / ended events.
package events

import (
	"time"

	"github.com/actionstream/actionstream/infer"
)

// CloudEvents types.
const (
	TypeActionStarted = "action.started"
	TypeActionUpdated = "action.updated"
	TypeActionEnded   = "action.ended"
	TypeStreamUp      = "stream.up"
	TypeStreamDown    = "stream.down"
	TypeClipScored    = "clip.scored"
)

// Event is one CloudEvents 1.0 event in JSON structured mode. The Kafka key is Data.Stream.
type Event struct {
	SpecVersion     string    `json:"specversion"` // always "1.0"
	ID              string    `json:"id"`          // deterministic: same (stream, action, start) => same id
	Source          string    `json:"source"`      // e.g. "actionstream/<stream>"
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"` // the stream id
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"` // "application/json"
	Data            Data      `json:"data"`
}

// Data is the payload of every event type; fields that do not apply to a type are omitted.
type Data struct {
	Stream string `json:"stream"`

	// Action events and clip.scored.
	Label string       `json:"label,omitempty"`
	Score float32      `json:"score,omitempty"`
	TopK  []LabelScore `json:"top_k,omitempty"`
	Span  *Span        `json:"span,omitempty"`

	// action.ended
	DurationSeconds float64 `json:"duration_s,omitempty"`
	PeakScore       float32 `json:"peak_score,omitempty"`

	// Detection models: the actor (its track id in the stream), its box at the key frame of the
	// last clip it was seen in, and that frame's PTS. clip.scored lists every actor of the clip.
	ActorID string       `json:"actor_id,omitempty"`
	Box     *Box         `json:"box,omitempty"`
	KeyPTS  *float64     `json:"key_pts_s,omitempty"`
	Actors  []ActorScore `json:"actors,omitempty"`

	Model       string `json:"model,omitempty"`
	ModelDigest string `json:"model_digest,omitempty"` // "sha256:<hex>" of the model file

	// stream.up / stream.down
	Reason string `json:"reason,omitempty"`
}

// LabelScore is inference's label and score, the entries of data.top_k.
type LabelScore = infer.LabelScore

// Span is a clip's (or an action's) time span, in wall clock and in stream presentation time.
type Span struct {
	StartWall time.Time `json:"start_wall"`
	EndWall   time.Time `json:"end_wall"`
	StartPTS  float64   `json:"start_pts_s"`
	EndPTS    float64   `json:"end_pts_s"`
}

// ActorScore is one actor of a detection model's clip.scored: its id, box and best label.
type ActorScore struct {
	ActorID string  `json:"actor_id"`
	Box     Box     `json:"box"`
	Label   string  `json:"label"`
	Score   float32 `json:"score"`
}

// Box is an actor's box, normalized to [0,1] of the frame.
type Box struct {
	X1 float32 `json:"x1"`
	Y1 float32 `json:"y1"`
	X2 float32 `json:"x2"`
	Y2 float32 `json:"y2"`
}
