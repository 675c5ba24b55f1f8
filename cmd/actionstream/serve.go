package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/pipeline"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config file (default: the embedded configs/demo.yaml)")
	if err := fs.Parse(args); err != nil {
		return errUsage
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
	srvDone := make(chan error, 1)
	if cfg.HTTP.Addr != "" {
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("http.addr: %w", err)
		}
		srv = &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
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
	log.Info("stopped", "component", "serve")
	return runErr
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
