package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/web"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "[--config FILE.yaml]", "", stderr)
	configPath := fs.String("config", "", "YAML config file (default: the embedded configs/demo.yaml)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var cfg configs.Config
	var err error
	if *configPath == "" {
		cfg, err = configs.Parse(configs.DemoYAML, "embedded demo.yaml", os.Environ())
	} else {
		cfg, err = configs.Load(*configPath, os.Environ())
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	m := p.Model()
	log.Info("model loaded", "component", "serve", "model", m.Meta.Name, "provider", m.Provider,
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
				log.Warn("WHIP endpoint refuses every offer: set whip.token (or whip.open on a trusted network)", "component", "serve")
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
		log.Info("http listening", "component", "serve", "addr", ln.Addr().String())
		go func() { srvDone <- srv.Serve(ln) }()
	}
	runErr := p.Run(ctx)
	if srv != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(shutdownCtx)
		cancel()
		if err := <-srvDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "component", "serve", "err", err)
		}
	}
	if whipSrv != nil {
		whipSrv.Close()
	}
	log.Info("stopped", "component", "serve")
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
	wc := whip.Config{Token: c.Token, Open: c.Open, MaxSessions: c.MaxSessions, MaxSDPBytes: c.MaxSDPBytes,
		DisconnectTimeout: c.DisconnectTimeout.D(), Codecs: c.Codecs, AllowOrigin: c.AllowOrigin, Logger: log,
		ICE: whip.ICE{PublicIPs: c.PublicIPs, UDPPortMin: uint16(c.UDPPortMin), UDPPortMax: uint16(c.UDPPortMax), TCPAddr: c.TCPAddr}}
	for _, s := range c.ICEServers {
		wc.ICE.Servers = append(wc.ICE.Servers, whip.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return wc
}

func newLogger(c configs.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
