package pipeline

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/actionstream/actionstream/events"
)

// Handler serves /healthz (the process is alive), /readyz (running, outbox and sinks healthy:
// Readiness), /metrics (Prometheus) and /api/streams (every stream's state as JSON: see
// APIStream).
func (p *Pipeline) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := p.Readiness(); !ok {
			http.Error(w, "not ready: "+strings.Join(why, "; "), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/streams", func(w http.ResponseWriter, r *http.Request) {
		sts := p.Streams()
		out := make([]APIStream, len(sts))
		for i, st := range sts {
			out[i] = apiStream(st)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"model":   map[string]any{"name": p.model.Meta.Name, "digest": p.model.Digest, "provider": p.model.Provider, "labels": p.model.Meta.Labels},
			"streams": out,
		})
	})
	return mux
}

// APIStream is one entry of /api/streams: snake_case fields, durations and times in seconds
// (times as Unix seconds), so no client has to know Go's names or nanoseconds.
type APIStream struct {
	StreamStatus
	Active []APIAction `json:"active"`
	// LastClip is the wall-clock end of the latest clip, Unix seconds.
	LastClip float64 `json:"last_clip_unix_s,omitempty"`
	// OmitLastClip, always nil, takes the JSON name of StreamStatus.LastClip (a shallower
	// field wins), so the RFC 3339 form is not sent beside the seconds.
	OmitLastClip *struct{} `json:"last_clip,omitempty"`
}

// APIAction is an action in progress.
type APIAction struct {
	Label     string  `json:"label"`
	Score     float32 `json:"score"`      // current smoothed score, 0..1
	Peak      float32 `json:"peak_score"` // highest smoothed score so far
	StartPTS  float64 `json:"start_pts_s"`
	StartedAt float64 `json:"started_unix_s"`
	DurationS float64 `json:"duration_s"` // wall clock since it started
	// ActorID and Box: a detection model's actor doing it (omitted for classification).
	ActorID string      `json:"actor_id,omitempty"`
	Box     *events.Box `json:"box,omitempty"`
}

func apiStream(st StreamStatus) APIStream {
	out := APIStream{StreamStatus: st, Active: []APIAction{}}
	if !st.LastClip.IsZero() {
		out.LastClip = unixSeconds(st.LastClip)
	}
	for _, a := range st.Active {
		out.Active = append(out.Active, apiAction(a))
	}
	return out
}

func apiAction(a events.ActiveAction) APIAction {
	out := APIAction{Label: a.Label, Score: a.Score, Peak: a.Peak, StartPTS: a.StartPTS.Seconds(), ActorID: a.ActorID, Box: a.Box}
	if !a.StartWall.IsZero() {
		out.StartedAt = unixSeconds(a.StartWall)
		out.DurationS = time.Since(a.StartWall).Seconds()
	}
	return out
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// RegisterCounter publishes a counter read at scrape time from a part wired outside the
// pipeline (e.g. the HTTP server's refused requests).
func (p *Pipeline) RegisterCounter(name, help string, read func() float64) error {
	return p.metrics.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, read))
}

// MissedEvents counts the events live subscribers (dashboards) missed because they fell behind.
func (p *Pipeline) MissedEvents() uint64 { return p.subs.missed.Load() }
