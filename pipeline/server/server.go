// Package server is the daemon behind `actionstream serve`: the pipeline, and when
// http.addr is set one HTTP server carrying the pipeline's routes, the WHIP endpoint and
// the web UI. Shutdown order: the pipeline first (ctx), then HTTP, then WHIP sessions.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/ingest/cluster"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/web"
)

// Run serves cfg until ctx ends, then shuts down in order and returns the pipeline's error.
func Run(ctx context.Context, cfg configs.Config, log *slog.Logger) error {
	if err := checkExposure(cfg); err != nil {
		return err
	}
	var tlsConf *tls.Config
	if cfg.HTTP.Addr != "" && cfg.HTTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.HTTP.TLSCert, cfg.HTTP.TLSKey)
		if err != nil {
			return fmt.Errorf("%w: http.tls_cert/http.tls_key: %w", ErrTLS, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	var member *cluster.Member
	if cfg.Cluster.Enabled {
		var closeMember func()
		if member, closeMember, err = newMember(cfg, p, log); err != nil {
			return err
		}
		defer closeMember()
		if err := registerClusterMetrics(p, member); err != nil {
			return err
		}
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
			ui.MaxClients = cfg.Web.MaxEventClients
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
		g := newGuard(cfg.HTTP.Addr, cfg.HTTP.AllowedHosts, cfg.Web.Token, cfg.HTTP.MaxRequests, log.With("component", "http"))
		if err := registerMetrics(p, g, ui); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("http.addr: %w", err)
		}
		srv = newHTTPServer(cfg.HTTP, serveMux(p, whipSrv, ui, g, member), log)
		srv.TLSConfig = tlsConf
		if ui != nil {
			srv.RegisterOnShutdown(ui.Close) // end the dashboards' event streams
		}
		log.Info("http listening", "component", "server", "addr", ln.Addr().String(), "tls", tlsConf != nil,
			"credentials", cfg.Web.Token != "")
		go func() {
			if tlsConf != nil {
				srvDone <- srv.ServeTLS(ln, "", "")
				return
			}
			srvDone <- srv.Serve(ln)
		}()
	}
	memberDone := make(chan error, 1)
	if member != nil {
		log.Info("cluster mode", "component", "server", "node", member.Node(), "topic", cfg.Cluster.Topic, "group", cfg.Cluster.Group)
		// Leaving the group on ctx's end lets the others take the cameras over at once, while
		// this node's pipeline drains.
		go func() { memberDone <- member.Run(ctx) }()
	} else {
		memberDone <- nil
	}
	runErr := p.Run(ctx)
	if err := <-memberDone; err != nil {
		runErr = errors.Join(runErr, err)
	}
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

// checkExposure refuses a non-loopback listener that would serve the dashboard, the API and
// the metrics to anyone who can reach it.
func checkExposure(cfg configs.Config) error {
	if cfg.HTTP.Addr == "" || cfg.Web.Token != "" || cfg.Web.Open || isLoopback(cfg.HTTP.Addr) {
		return nil
	}
	return fmt.Errorf("%w: http.addr %q is not a loopback address; set web.token (or ACTIONSTREAM_WEB_TOKEN), "+
		"or web.open: true on a trusted network", ErrExposed, cfg.HTTP.Addr)
}

// newHTTPServer applies the http section's timeouts: a slow or idle client holds a
// connection only that long.
func newHTTPServer(c configs.HTTP, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: time.Duration(c.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(c.ReadTimeout),
		WriteTimeout:      time.Duration(c.WriteTimeout),
		IdleTimeout:       time.Duration(c.IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		// TLS handshake failures and the like: per connection, not worth more than debug.
		ErrorLog: slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug),
	}
}

// serveMux puts the WHIP endpoint (/whip/) and the web UI (/, /publish, /static/, thumbnails,
// /api/events) next to the pipeline's own routes (/healthz, /readyz, /metrics, /api/streams).
// The probes are open; WHIP has its own token; everything else passes the guard.
func serveMux(p *pipeline.Pipeline, whipSrv *whip.Server, ui *web.UI, g *guard, member *cluster.Member) http.Handler {
	mux := http.NewServeMux()
	if member != nil {
		clusterRoutes(mux, member, g)
	}
	api := p.Handler()
	mux.Handle("GET /healthz", api)
	mux.Handle("GET /readyz", api)
	mux.Handle("/", g.protect(api))
	mux.Handle("/signin", g.hostOnly(g.limit(http.HandlerFunc(g.signin))))
	if whipSrv != nil {
		mux.Handle("/whip/", g.limit(whipSrv.Handler()))
	}
	if ui != nil {
		h := ui.Handler()
		for _, pattern := range []string{"GET /{$}", "GET /publish", "GET /api/streams/{id}/thumbnail.jpg"} {
			mux.Handle(pattern, g.protect(h))
		}
		mux.Handle("GET /static/", g.hostOnly(g.limit(h))) // styles and scripts, also for /signin
		// Event streams have their own cap (web.max_event_clients), not the request cap.
		mux.Handle("GET /api/events", g.hostOnly(g.auth(h)))
	}
	return mux
}

func registerMetrics(p *pipeline.Pipeline, g *guard, ui *web.UI) error {
	for _, c := range []struct {
		name, help string
		read       func() float64
	}{
		{"actionstream_http_refused_host_total", "Requests refused for a Host not in the allow-list (421).", func() float64 { return float64(g.rejectedHost.Load()) }},
		{"actionstream_http_refused_auth_total", "Requests refused for missing or wrong credentials (401).", func() float64 { return float64(g.rejectedAuth.Load()) }},
		{"actionstream_http_refused_busy_total", "Requests refused because http.max_requests were in flight (503).", func() float64 { return float64(g.rejectedBusy.Load()) }},
		{"actionstream_web_events_missed_total", "Events the dashboards' event streams missed because a client fell behind.", func() float64 { return float64(p.MissedEvents()) }},
	} {
		if err := p.RegisterCounter(c.name, c.help, c.read); err != nil {
			return err
		}
	}
	if ui == nil {
		return nil
	}
	if err := p.RegisterCounter("actionstream_web_event_clients_refused_total", "Event streams refused by web.max_event_clients (503).",
		func() float64 { return float64(ui.Stats().EventRejected) }); err != nil {
		return err
	}
	return p.RegisterGauge("actionstream_web_event_clients", "Open dashboard event streams (Server-Sent Events).",
		func() float64 { return float64(ui.Stats().EventClients) })
}

func whipConfig(c configs.WHIP, log *slog.Logger) whip.Config {
	wc := c.Config
	wc.Logger = log
	return wc
}
