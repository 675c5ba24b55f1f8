// Package redis keeps the current state of every stream in Redis, and optionally appends the
// events to a Redis Stream, with go-redis.
//
// Keys (prefix configurable, default "actionstream:"):
//
//	<prefix>stream:<id>  hash, expires StateTTL after the last write to it:
//	    stream, status ("up" | "down" | what the pipeline sets), reason, fps,
//	    last_clip_time (RFC 3339, wall clock end of the latest clip), model, model_digest,
//	    actions (JSON array of the active actions, one per (actor, label), sorted by label then
//	    actor: id, label, score, actor_id and box (detection models: the actor and its latest
//	    box), started_at, updated_at), updated_at
//	<Config.Stream>      stream of events (XADD ... MAXLEN ~ StreamMaxLen), fields:
//	    id, type, stream, event (the CloudEvents JSON)
//
// The sink is the only writer of these keys and keeps each stream's state in memory, so every
// write sets the whole hash: a Redis that restarted empty is repopulated by the next write.
// Behind the [sink.Buffered] wrapper that sink/sinks puts around every sink, events wait while
// Redis is down and arrive when it is back; UpdateStream is latest-wins and not buffered.
package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/sink"
)

// Stream statuses set from stream.up / stream.down events.
const (
	StatusUp   = "up"
	StatusDown = "down"
)

// Config configures the Redis sink: the `sinks.redis` section. Zero fields take
// DefaultConfig's values, except Addr, which New requires.
type Config struct {
	Addr         string           `yaml:"addr"`     // "host:port"; required
	Username     string           `yaml:"username"` // ACL user; "" = default user
	Password     string           `yaml:"password"` // never logged
	DB           int              `yaml:"db"`       // database number
	KeyPrefix    string           `yaml:"key_prefix"`
	StateTTL     confkit.Duration `yaml:"ttl"`            // lifetime of a stream's hash after its last write
	Stream       string           `yaml:"stream"`         // Redis Stream key for events; "" = don't append events
	StreamMaxLen int64            `yaml:"stream_max_len"` // approximate cap of the Redis Stream
	DialTimeout  confkit.Duration `yaml:"dial_timeout"`
	IOTimeout    confkit.Duration `yaml:"io_timeout"` // read and write timeout of a command
	Logger       *slog.Logger     `yaml:"-"`
}

// DefaultConfig is the one definition of the Redis sink's defaults (no address: it is required).
func DefaultConfig() Config {
	return Config{
		KeyPrefix: "actionstream:", StateTTL: confkit.Duration(60 * time.Second), StreamMaxLen: 100000,
		DialTimeout: confkit.Duration(2 * time.Second), IOTimeout: confkit.Duration(3 * time.Second),
	}
}

// Validate checks c after defaults; errors name the field by its YAML key and wrap ErrConfig.
func (c Config) Validate() error {
	p := confkit.Problems{Sentinel: ErrConfig}
	if c.Addr == "" {
		p.Add("addr", "is required")
	}
	if c.DB < 0 {
		p.Add("db", "must be >= 0")
	}
	if c.StateTTL < 0 {
		p.Add("ttl", "must be > 0 (0 = default)")
	}
	if c.StreamMaxLen < 0 {
		p.Add("stream_max_len", "must be > 0 (0 = default)")
	}
	if c.DialTimeout < 0 || c.IOTimeout < 0 {
		p.Add("dial_timeout", "dial_timeout and io_timeout must be > 0 (0 = default)")
	}
	return p.Err()
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.KeyPrefix == "" {
		c.KeyPrefix = d.KeyPrefix
	}
	if c.StateTTL == 0 {
		c.StateTTL = d.StateTTL
	}
	if c.StreamMaxLen == 0 {
		c.StreamMaxLen = d.StreamMaxLen
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.IOTimeout == 0 {
		c.IOTimeout = d.IOTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("redis: %w", err)
	}
	return c, nil
}

// StreamState is what the pipeline knows about a stream besides its events.
type StreamState struct {
	Stream      string    // stream id; required
	Status      string    // e.g. StatusUp; "" leaves the stored status
	Reason      string    // why the status is what it is (replaced together with Status)
	FPS         float64   // decoded frames per second (always replaced)
	LastClip    time.Time // wall clock end of the latest clip; zero leaves the stored value
	Model       string    // model name; "" leaves the stored value
	ModelDigest string    // "sha256:<hex>"; "" leaves the stored value
}

// Action is one active action as stored in a stream hash's "actions" field.
type Action struct {
	ID        string      `json:"id"`
	Label     string      `json:"label"`
	Score     float32     `json:"score"`
	ActorID   string      `json:"actor_id,omitempty"`
	Box       *events.Box `json:"box,omitempty"` // the actor's box at the latest event
	StartedAt time.Time   `json:"started_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// New returns a Redis sink. It does not contact Redis: a server that is down shows up as
// buffered events and UpdateStream errors.
func New(cfg Config) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &Sink{
		cfg: cfg,
		client: goredis.NewClient(&goredis.Options{
			Addr:         cfg.Addr,
			Username:     cfg.Username,
			Password:     cfg.Password,
			DB:           cfg.DB,
			DialTimeout:  cfg.DialTimeout.D(),
			ReadTimeout:  cfg.IOTimeout.D(),
			WriteTimeout: cfg.IOTimeout.D(),
			// The buffered wrapper owns retries: one policy, counted once.
			MaxRetries:    -1,
			DialerRetries: 1,
		}),
		states: map[string]*state{},
	}
	return w, nil
}

// state is the in-memory copy of one stream's hash.
type state struct {
	id          string
	status      string
	reason      string
	fps         float64
	lastClip    time.Time
	model       string
	modelDigest string
	actions     map[string]*Action // by label and actor
}

// Sink is the Redis sink, a plain sink.Sink (sink/sinks puts it behind a sink.Buffered): each
// Write is one MULTI/EXEC transaction, so a batch is applied whole or not at all.
// action.started/updated/ended maintain the active actions, stream.up/down the status,
// clip.scored the last clip time and model. UpdateStream is latest-wins and not buffered.
type Sink struct {
	cfg    Config
	client *goredis.Client

	mu     sync.Mutex // serialises writes so hashes are written in the order states change
	states map[string]*state
	closed bool
}

func (w *Sink) stateOf(stream string) *state {
	st := w.states[stream]
	if st == nil {
		st = &state{id: stream, actions: map[string]*Action{}}
		w.states[stream] = st
	}
	return st
}

func (w *Sink) key(stream string) string { return w.cfg.KeyPrefix + "stream:" + stream }

// apply folds one event into its stream's state.
func (w *Sink) apply(ev *events.Event) *state {
	st := w.stateOf(ev.Data.Stream)
	if ev.Data.Model != "" {
		st.model, st.modelDigest = ev.Data.Model, ev.Data.ModelDigest
	}
	actionKey := ev.Data.Label + "\x00" + ev.Data.ActorID
	switch ev.Type {
	case events.TypeStreamUp:
		st.status, st.reason = StatusUp, ev.Data.Reason
	case events.TypeStreamDown:
		st.status, st.reason = StatusDown, ev.Data.Reason
	case events.TypeActionStarted, events.TypeActionUpdated:
		a := st.actions[actionKey]
		if a == nil {
			a = &Action{ID: ev.ID, Label: ev.Data.Label, ActorID: ev.Data.ActorID, StartedAt: ev.Time}
			if ev.Data.Span != nil {
				a.StartedAt = ev.Data.Span.StartWall
			}
			st.actions[actionKey] = a
		}
		a.Score, a.UpdatedAt = ev.Data.Score, ev.Time
		if ev.Data.Box != nil {
			b := *ev.Data.Box
			a.Box = &b
		}
	case events.TypeActionEnded:
		delete(st.actions, actionKey)
	case events.TypeClipScored:
		if ev.Data.Span != nil && ev.Data.Span.EndWall.After(st.lastClip) {
			st.lastClip = ev.Data.Span.EndWall
		}
	}
	return st
}

// queueState adds the commands writing st's whole hash and its TTL to pipe.
func (w *Sink) queueState(ctx context.Context, pipe goredis.Pipeliner, st *state) {
	actions := slices.SortedFunc(maps.Values(st.actions), func(a, b *Action) int {
		return cmp.Or(cmp.Compare(a.Label, b.Label), cmp.Compare(a.ActorID, b.ActorID))
	})
	if actions == nil {
		actions = []*Action{}
	}
	actionsJSON, _ := json.Marshal(actions) // plain strings, numbers and times: cannot fail
	lastClip := ""
	if !st.lastClip.IsZero() {
		lastClip = st.lastClip.UTC().Format(time.RFC3339Nano)
	}
	key := w.key(st.id)
	pipe.HSet(ctx, key,
		"stream", st.id,
		"status", st.status,
		"reason", st.reason,
		"fps", strconv.FormatFloat(st.fps, 'f', 2, 64),
		"last_clip_time", lastClip,
		"model", st.model,
		"model_digest", st.modelDigest,
		"actions", actionsJSON,
		"updated_at", time.Now().UTC().Format(time.RFC3339Nano),
	)
	pipe.PExpire(ctx, key, w.cfg.StateTTL.D())
}

// Write applies batch to the stream states and writes the touched hashes, plus one XADD per
// event when a Redis Stream is configured, in one transaction. Failures are retryable (applying
// the same events twice yields the same state; the Redis Stream may get a duplicate entry with
// the same event id), except an event that cannot be encoded, which is rejected.
func (w *Sink) Write(ctx context.Context, batch []events.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("redis: %w", sink.ErrClosed)
	}
	var values [][]byte
	var batchErr sink.BatchError
	if w.cfg.Stream != "" {
		values = make([][]byte, len(batch))
		for i := range batch {
			v, err := json.Marshal(&batch[i])
			if err != nil {
				if batchErr == nil {
					batchErr = make(sink.BatchError, len(batch))
				}
				batchErr[i] = sink.Permanent(fmt.Errorf("redis: encode event %s: %w", batch[i].ID, err))
				continue
			}
			values[i] = v
		}
	}
	touched := map[string]*state{}
	var order []*state
	for i := range batch {
		if batchErr != nil && batchErr[i] != nil {
			continue
		}
		st := w.apply(&batch[i])
		if touched[st.id] == nil {
			touched[st.id] = st
			order = append(order, st)
		}
	}
	_, err := w.client.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		for _, st := range order {
			w.queueState(ctx, pipe, st)
		}
		for i, v := range values {
			if v == nil {
				continue
			}
			ev := &batch[i]
			pipe.XAdd(ctx, &goredis.XAddArgs{
				Stream: w.cfg.Stream,
				MaxLen: w.cfg.StreamMaxLen,
				Approx: true,
				Values: []any{"id", ev.ID, "type", ev.Type, "stream", ev.Data.Stream, "event", v},
			})
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("redis %s: write %d events: %w", w.cfg.Addr, len(batch), err)
		if batchErr == nil {
			return err
		}
		for i := range batchErr {
			if batchErr[i] == nil {
				batchErr[i] = err
			}
		}
	}
	if batchErr != nil {
		return batchErr
	}
	return nil
}

// UpdateStream records st and writes the stream's hash (refreshing its TTL). Call it at least
// once per StateTTL for each live stream (the pipeline does with its fps tick), or the state
// expires. An error is retryable; st is kept and written by the next successful write anyway.
// ctx bounds this call only.
func (w *Sink) UpdateStream(ctx context.Context, in StreamState) error {
	if in.Stream == "" {
		return fmt.Errorf("redis: %w: StreamState without stream id", ErrConfig)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("redis: %w", sink.ErrClosed)
	}
	st := w.stateOf(in.Stream)
	if in.Status != "" {
		st.status, st.reason = in.Status, in.Reason
	}
	st.fps = in.FPS
	if in.LastClip.After(st.lastClip) {
		st.lastClip = in.LastClip
	}
	if in.Model != "" {
		st.model = in.Model
	}
	if in.ModelDigest != "" {
		st.modelDigest = in.ModelDigest
	}
	_, err := w.client.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		w.queueState(ctx, pipe, st)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis %s: update stream %s: %w", w.cfg.Addr, in.Stream, err)
	}
	return nil
}

// DeleteStream forgets a stream that was removed from the configuration and deletes its hash.
func (w *Sink) DeleteStream(ctx context.Context, stream string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("redis: %w", sink.ErrClosed)
	}
	delete(w.states, stream)
	if err := w.client.Del(ctx, w.key(stream)).Err(); err != nil {
		return fmt.Errorf("redis %s: delete stream %s: %w", w.cfg.Addr, stream, err)
	}
	return nil
}

// Close closes the client; the buffered wrapper calls it after delivering what it holds.
func (w *Sink) Close(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.client.Close(); err != nil {
		return fmt.Errorf("redis: close client: %w", err)
	}
	return nil
}
