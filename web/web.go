// Package web is the operator UI, embedded in the binary (no CDN: servers often have no
// internet): the dashboard at / (every stream's status, fps, a recent thumbnail, current actions
// and a live timeline over Server-Sent Events) and /publish, which sends a browser camera to the
// WHIP endpoint. Both pages are plain HTML/CSS/JS and fit a phone screen.
package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/ingest"
)

//go:embed static
var static embed.FS

// Backend is what the UI reads from the running pipeline (*pipeline.Pipeline satisfies it).
type Backend interface {
	// Thumbnail is the latest frame of a stream as JPEG, with its PTS.
	Thumbnail(id string) ([]byte, time.Duration, error)
	// Subscribe returns live events; cancel ends the subscription and closes the channel.
	Subscribe(buf int) (<-chan events.Event, func())
}

// UI serves the pages, the thumbnails and the event stream.
type UI struct {
	b         Backend
	log       *slog.Logger
	done      chan struct{}
	closeOnce sync.Once
	// KeepAlive is the interval of SSE comments that keep proxies from closing an idle stream.
	KeepAlive time.Duration
	// MaxClients caps the open event streams; more get 503. 0 = no cap.
	MaxClients int
	// WriteTimeout bounds each write to an event stream: the stream itself is exempt from the
	// server's write timeout, a client that stops reading is not.
	WriteTimeout time.Duration

	clients  atomic.Int64
	rejected atomic.Uint64
}

// Stats are the event streams open now and those refused by MaxClients.
type Stats struct {
	EventClients  int64
	EventRejected uint64
}

// Stats reads the event-stream counters (for /metrics).
func (u *UI) Stats() Stats {
	return Stats{EventClients: u.clients.Load(), EventRejected: u.rejected.Load()}
}

// New returns the UI over b.
func New(b Backend, log *slog.Logger) *UI {
	if log == nil {
		log = slog.Default()
	}
	return &UI{b: b, log: log.With("component", "web"), done: make(chan struct{}),
		KeepAlive: 15 * time.Second, WriteTimeout: 10 * time.Second}
}

// Close ends every open event stream (so an HTTP server's Shutdown is not held up by them).
func (u *UI) Close() { u.closeOnce.Do(func() { close(u.done) }) }

// Handler serves GET / (dashboard), /publish, /static/*, /api/streams/{id}/thumbnail.jpg and
// /api/events (Server-Sent Events; ?stream=ID keeps one stream, ?types=a,b some event types).
func (u *UI) Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := fs.ReadFile(sub, name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			h := w.Header()
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			// Everything the pages use comes from this server; camera frames are local streams.
			h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "+
				"connect-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'")
			h.Set("X-Content-Type-Options", "nosniff")
			w.Write(b)
		}
	}
	mux.HandleFunc("GET /{$}", page("index.html"))
	mux.HandleFunc("GET /publish", page("publish.html"))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /api/streams/{id}/thumbnail.jpg", u.thumbnail)
	mux.HandleFunc("GET /api/events", u.events)
	return mux
}

func (u *UI) thumbnail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := ingest.CheckStreamID(id); err != nil || r.URL.RawPath != "" {
		msg := "percent-encoding is not allowed in a stream id"
		if err != nil {
			msg = err.Error()
		}
		http.Error(w, msg+" (use "+ingest.StreamIDRule+")", http.StatusBadRequest)
		return
	}
	jpg, pts, err := u.b.Thumbnail(id)
	if err != nil {
		// No such stream, or no frame decoded yet.
		http.Error(w, "no thumbnail: "+err.Error(), http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-PTS", fmt.Sprintf("%.3f", pts.Seconds()))
	w.Write(jpg)
}

// events streams pipeline events as Server-Sent Events: "event: <type>", "id: <event id>",
// "data: <CloudEvents JSON>". A slow client misses events rather than slowing the pipeline.
func (u *UI) events(w http.ResponseWriter, r *http.Request) {
	_, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	stream := r.URL.Query().Get("stream")
	if stream != "" {
		if err := ingest.CheckStreamID(stream); err != nil {
			http.Error(w, "stream: "+err.Error()+" (use "+ingest.StreamIDRule+")", http.StatusBadRequest)
			return
		}
	}
	if n := u.clients.Add(1); u.MaxClients > 0 && n > int64(u.MaxClients) {
		u.clients.Add(-1)
		u.rejected.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many event streams open (web.max_event_clients)", http.StatusServiceUnavailable)
		return
	}
	defer u.clients.Add(-1)
	// The stream outlives the server's read and write timeouts by design: lift both (a
	// server without them reports ErrNotSupported, which is fine) and bound each write instead.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	write := func(format string, args ...any) error {
		rc.SetWriteDeadline(time.Now().Add(u.WriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return err
		}
		return rc.Flush()
	}
	var types map[string]bool
	if t := r.URL.Query().Get("types"); t != "" {
		types = map[string]bool{}
		for _, s := range strings.Split(t, ",") {
			types[strings.TrimSpace(s)] = true
		}
	}
	ch, cancel := u.b.Subscribe(256)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if err := write("retry: 2000\n: connected\n\n"); err != nil {
		return
	}
	tick := time.NewTicker(u.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-u.done:
			return
		case <-tick.C:
			if err := write(": keep-alive\n\n"); err != nil {
				return
			}
		case e, ok := <-ch:
			if !ok {
				return
			}
			if (stream != "" && e.Data.Stream != stream) || (types != nil && !types[e.Type]) {
				continue
			}
			b, err := json.Marshal(e)
			if err != nil {
				u.log.Warn("event not encodable", "err", err)
				continue
			}
			if err := write("id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b); err != nil {
				if !errors.Is(err, http.ErrHandlerTimeout) {
					u.log.Debug("event stream ended", "err", err)
				}
				return
			}
		}
	}
}
