package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/pipeline/server"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "[--config FILE.yaml]", "", stderr)
	configPath := fs.String("config", "", "YAML config file (default: the embedded configs/demo.yaml)")
	detector := fs.String("person-detector", "", "person detector ONNX model for an RoI detection model (overrides infer.person_detector.path)")
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
	if *detector != "" {
		cfg.Infer.PersonDetector.Path = *detector
	}
	return server.Run(ctx, cfg, newLogger(cfg.Log, stderr))
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
