package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// SpecVersion and ContentType are the fixed CloudEvents attributes of every event.
const (
	SpecVersion = "1.0"
	ContentType = "application/json"
)

// ActionID is the id of an action event: the hex SHA-256 of the stream, the type, the label, the
// action's start (PTS and wall clock) and, for action.updated, the update ordinal (1, 2, ...; 0 for
// the other types). The same action start always gives the same id, so a redelivery can be dropped
// by id; the wall clock keeps ids apart when a reconnected camera restarts its PTS at zero.
func ActionID(stream, typ, label string, startPTS time.Duration, startWall time.Time, ordinal int) string {
	return ActorActionID(stream, "", typ, label, startPTS, startWall, ordinal)
}

// ActorActionID is ActionID for one actor of a detection model (actor = its actor_id): two actors
// starting the same action in one clip get two ids. The actor "" (classification) gives ActionID's
// id unchanged.
func ActorActionID(stream, actor, typ, label string, startPTS time.Duration, startWall time.Time, ordinal int) string {
	return hashID(stream, typ, label, int64(startPTS), wallKey(startWall), int64(ordinal), actor)
}

// ClipID is the id of a clip.scored event: the hex SHA-256 of the stream, the type and the clip's
// span.
func ClipID(stream string, startPTS, endPTS time.Duration, startWall time.Time) string {
	return hashID(stream, TypeClipScored, "", int64(startPTS), wallKey(startWall), int64(endPTS))
}

// StreamID is the id of a stream.up / stream.down event: one per transition instant.
func StreamID(stream, typ string, at time.Time, reason string) string {
	return hashID(stream, typ, reason, 0, wallKey(at), 0)
}

func wallKey(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// hashID length-prefixes the strings so that no two field tuples share an encoding. The actor
// (optional) comes last, and only when set, so ids without one stay what they were.
func hashID(a, b, c string, x, y, z int64, actor ...string) string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	for _, s := range []string{a, b, c} {
		h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	for _, v := range []int64{x, y, z} {
		h.Write(buf[:binary.PutVarint(buf[:], v)])
	}
	for _, s := range actor {
		if s != "" {
			h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
			h.Write([]byte(s))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SourceFor is the CloudEvents source of a stream's events: "<prefix>/<stream>".
func SourceFor(prefix, stream string) string {
	if prefix == "" {
		prefix = DefaultSource
	}
	return prefix + "/" + stream
}

// New builds an event with the fixed attributes set; Subject is the stream and Time is in UTC.
func New(source, typ, id string, at time.Time, data Data) Event {
	return Event{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          source,
		Type:            typ,
		Subject:         data.Stream,
		Time:            at.UTC(),
		DataContentType: ContentType,
		Data:            data,
	}
}

// StreamUp is the stream.up event of a stream that (re)connected at at; source prefix "" = default.
func StreamUp(prefix, stream string, at time.Time, reason string) Event {
	return streamEvent(prefix, TypeStreamUp, stream, at, reason)
}

// StreamDown is the stream.down event of a stream lost at at, with the reason (an error's text).
func StreamDown(prefix, stream string, at time.Time, reason string) Event {
	return streamEvent(prefix, TypeStreamDown, stream, at, reason)
}

func streamEvent(prefix, typ, stream string, at time.Time, reason string) Event {
	return New(SourceFor(prefix, stream), typ, StreamID(stream, typ, at, reason), at, Data{Stream: stream, Reason: reason})
}
