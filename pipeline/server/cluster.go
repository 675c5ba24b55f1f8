package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/ingest/cluster"
	"github.com/actionstream/actionstream/pipeline"
)

// newMember joins the pipeline to the cameras group (cluster.enabled). Redis, when the sink is
// on, also holds the generation registry the fencing tokens come from; the returned close
// releases its client.
func newMember(cfg configs.Config, p *pipeline.Pipeline, log *slog.Logger) (*cluster.Member, func(), error) {
	opts := cluster.Options{Config: cfg.Cluster, Brokers: cfg.Sinks.Kafka.Brokers, Runner: p, Logger: log}
	closeRedis := func() {}
	if r := cfg.Sinks.Redis; r.Enabled {
		c := goredis.NewClient(&goredis.Options{Addr: r.Addr, Username: r.Username, Password: r.Password, DB: r.DB,
			DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxRetries: -1})
		opts.Redis, opts.RedisPrefix = c, r.KeyPrefix
		if opts.RedisPrefix == "" {
			opts.RedisPrefix = "actionstream:"
		}
		closeRedis = func() { c.Close() }
	}
	m, err := cluster.New(opts)
	if err != nil {
		closeRedis()
		return nil, nil, err
	}
	return m, closeRedis, nil
}

func registerClusterMetrics(p *pipeline.Pipeline, m *cluster.Member) error {
	type metric struct {
		counter    bool
		name, help string
		read       func(cluster.Stats) float64
	}
	for _, c := range []metric{
		{true, "actionstream_cluster_rebalances_total", "Generations of the cameras group this node joined (each a rebalance).", func(s cluster.Stats) float64 { return float64(s.Rebalances) }},
		{true, "actionstream_cluster_cameras_acquired_total", "Cameras started here because this node was assigned them.", func(s cluster.Stats) float64 { return float64(s.Acquired) }},
		{false, "actionstream_cluster_owned_cameras", "Cameras this node runs.", func(s cluster.Stats) float64 { return float64(s.OwnedCameras) }},
		{false, "actionstream_cluster_failed_cameras", "Cameras assigned here that could not start (bad secret, bad record).", func(s cluster.Stats) float64 { return float64(s.FailedCameras) }},
		{false, "actionstream_cluster_generation", "The group generation id in force here.", func(s cluster.Stats) float64 { return float64(s.Generation) }},
		{false, "actionstream_cluster_token", "The fencing token stamped on events (epoch<<32 | generation).", func(s cluster.Stats) float64 { return float64(s.Token) }},
		{false, "actionstream_cluster_in_generation", "1 while this node is a member of the current generation, 0 while rebalancing or cut off.", func(s cluster.Stats) float64 { return b2f(s.InGeneration) }},
		{false, "actionstream_cluster_rebalance_seconds", "The last rebalance: from the previous generation's end to the new assignment running.", func(s cluster.Stats) float64 { return s.RebalanceS }},
		{false, "actionstream_cluster_failover_seconds", "The last camera taken over: time since its previous owner's last state write.", func(s cluster.Stats) float64 { return s.FailoverS }},
	} {
		read := func() float64 { return c.read(m.Stats()) }
		var err error
		if c.counter {
			err = p.RegisterCounter(c.name, c.help, read)
		} else {
			err = p.RegisterGauge(c.name, c.help, read)
		}
		if err != nil {
			return err
		}
	}
	return p.RegisterCounter("actionstream_redis_fenced_writes_total", "Stream-state writes Redis rejected: a node with a newer generation owns the stream.",
		func() float64 { return float64(p.RedisFencedWrites()) })
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// clusterRoutes: GET /api/cluster (the group: nodes, their cameras, generations) and the
// cameras topic: GET /api/cameras, POST /api/cameras, PUT and DELETE /api/cameras/{id}.
func clusterRoutes(mux *http.ServeMux, m *cluster.Member, g *guard) {
	mux.Handle("GET /api/cluster", g.protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := m.View(r.Context())
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "self": v.Self})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})))
	cat := m.Catalog()
	mux.Handle("GET /api/cameras", g.protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := cat.List(r.Context())
		if err != nil {
			cameraError(w, err)
			return
		}
		if list == nil {
			list = []cluster.Entry{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"cameras": list})
	})))
	write := func(update bool) http.Handler {
		return g.protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cam, err := readCamera(w, r)
			if err != nil {
				cameraError(w, err)
				return
			}
			if id := r.PathValue("id"); update && cam.ID == "" {
				cam.ID = id
			} else if update && cam.ID != id {
				cameraError(w, fmt.Errorf("%w: the body's id %q is not the path's %q", cluster.ErrBadCamera, cam.ID, id))
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
			defer cancel()
			status := http.StatusCreated
			if update {
				status, err = http.StatusOK, cat.Update(ctx, cam)
			} else {
				err = cat.Add(ctx, cam)
			}
			if err != nil {
				cameraError(w, err)
				return
			}
			writeJSON(w, status, cam)
		}))
	}
	mux.Handle("POST /api/cameras", write(false))
	mux.Handle("PUT /api/cameras/{id}", write(true))
	mux.Handle("DELETE /api/cameras/{id}", g.protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		if err := cat.Remove(ctx, r.PathValue("id")); err != nil {
			cameraError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
}

// readCamera decodes a JSON body. Requiring the JSON media type also keeps a cross-site HTML
// form (which cannot send it without a CORS preflight) from writing with a signed-in cookie.
func readCamera(w http.ResponseWriter, r *http.Request) (cluster.Camera, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return cluster.Camera{}, fmt.Errorf("%w: send the camera as Content-Type: application/json", ErrUnsupportedMedia)
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return cluster.Camera{}, fmt.Errorf("%w: %w", cluster.ErrBadCamera, err)
	}
	var cam cluster.Camera
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cam); err != nil {
		return cam, fmt.Errorf("%w: %w", cluster.ErrBadCamera, err)
	}
	return cam, nil
}

func cameraError(w http.ResponseWriter, err error) {
	status := http.StatusBadGateway // Kafka unreachable and the like
	switch {
	case errors.Is(err, ErrUnsupportedMedia):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, cluster.ErrBadCamera), errors.Is(err, cluster.ErrPlainSecret):
		status = http.StatusBadRequest
	case errors.Is(err, cluster.ErrNoCamera):
		status = http.StatusNotFound
	case errors.Is(err, cluster.ErrCameraExists):
		status = http.StatusConflict
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
