package main

import (
	"context"
	"io"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "--model M.onnx --input FILE|rtsp://URL [flags]", "", stderr)
	model := fs.String("model", "", "ONNX model file (required)")
	input := fs.String("input", "", "video file or rtsp:// URL (required)")
	id := fs.String("stream", "input", "stream id used in the events")
	clipScored := fs.Bool("clip-scored", true, "print a clip.scored line per clip")
	topK := fs.Int("top-k", 5, "labels per clip.scored line")
	hop := fs.Duration("hop", 0, "time between clip starts (0 = the model's default)")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0 = one per core)")
	provider := fs.String("provider", "cpu", "execution provider: cpu, cuda or tensorrt")
	batch := fs.Int("batch", 8, "most clips per model call")
	logLevel := fs.String("log-level", "warn", "log level on stderr: debug, info, warn, error")
	if err := parse(fs, args, "model", "input"); err != nil {
		return err
	}
	cfg := configs.Default()
	cfg.Model.Path = *model
	cfg.Model.Runtime.Threads = *threads
	cfg.Model.Runtime.Provider = *provider
	cfg.Streams = []configs.Stream{{ID: *id, URL: *input}}
	cfg.Events.ClipScored = *clipScored
	cfg.Events.TopK = *topK
	cfg.Clipper.Hop = configs.Duration(*hop)
	cfg.Batcher.MaxBatch = *batch
	cfg.HTTP.Addr = ""
	cfg.Log.Level = *logLevel
	cfg.ShutdownTimeout = configs.Duration(time.Minute)
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	out := jsonl.New(stdout)
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: log, OneShot: true, Sinks: []sink.Sink{out}})
	if err != nil {
		return err
	}
	return p.Run(ctx)
}
