// Package server is the daemon behind `actionstream serve`: the pipeline, and when
// http.addr is set one HTTP server carrying the pipeline's routes, the WHIP endpoint and
// the web UI. Shutdown order: the pipeline first (ctx), then HTTP, then WHIP sessions.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/web"
)

// Run serves cfg until ctx ends, then shuts down in order and returns the pipeline's error.
func Run(ctx context.Context, cfg configs.Config, log *slog.Logger) error {
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	m := p.Model()
	log.Info("model loaded", "component", "server", "model", m.Meta.Name, "provider", m.Provider,
		"clip", fmt.Sprintf("%dx%d@%d", m.Meta.Frames, m.Meta.SamplingRate, m.Meta.CropSize), "streams", len(cfg.Streams))

	var srv *http.Server
	var whipSrv *whip.Server
	srvDone := make(chan error, 1)
	if cfg.HTTP.Addr != "" {
		var ui *web.UI
		if cfg.Web.Enabled {
			ui = web.New(p, log)
		}
		if cfg.WHIP.Enabled {
			if whipSrv, err = whip.New(whipConfig(cfg.WHIP, log), p.AttachWHIP); err != nil {
				return fmt.Errorf("whip: %w", err)
			}
			defer whipSrv.Close()
			if err := p.RegisterGauge("actionstream_whip_sessions", "Live WHIP publisher sessions.",
				func() float64 { return float64(whipSrv.Stats().Sessions) }); err != nil {
				return err
			}
			if !whipSrv.Enabled() {
				log.Warn("WHIP endpoint refuses every offer: set whip.token (or whip.open on a trusted network)", "component", "server")
			}
		}
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("http.addr: %w", err)
		}
		srv = &http.Server{Handler: serveMux(p, whipSrv, ui), ReadHeaderTimeout: 10 * time.Second}
		if ui != nil {
			srv.RegisterOnShutdown(ui.Close) // end the dashboards' event streams
		}
		log.Info("http listening", "component", "server", "addr", ln.Addr().String())
		go func() { srvDone <- srv.Serve(ln) }()
	}
	runErr := p.Run(ctx)
	if srv != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(shutdownCtx)
		cancel()
		if err := <-srvDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "component", "server", "err", err)
		}
	}
	if whipSrv != nil {
		whipSrv.Close()
	}
	log.Info("stopped", "component", "server")
	return runErr
}

// serveMux puts the WHIP endpoint (/whip/) and the web UI (/, /publish, /static/, thumbnails,
// /api/events) next to the pipeline's own routes (/healthz, /readyz, /metrics, /api/streams).
func serveMux(p *pipeline.Pipeline, whipSrv *whip.Server, ui *web.UI) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", p.Handler())
	if whipSrv != nil {
		mux.Handle("/whip/", whipSrv.Handler())
	}
	if ui != nil {
		h := ui.Handler()
		for _, pattern := range []string{"GET /{$}", "GET /publish", "GET /static/", "GET /api/streams/{id}/thumbnail.jpg", "GET /api/events"} {
			mux.Handle(pattern, h)
		}
	}
	return mux
}

func whipConfig(c configs.WHIP, log *slog.Logger) whip.Config {
	wc := c.Config
	wc.Logger = log
	return wc
}
