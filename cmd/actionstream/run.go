package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/cli"
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
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads of one model call, one call at a time (0 = the rule: two calls at once, each on half the cores this process may use, beside the decoder; one thread on a single core: docs/OPERATIONS.md)")
	provider := fs.String("provider", "cpu", "execution provider: cpu, cuda or tensorrt")
	batch := fs.Int("batch", 8, "most clips per model call")
	logLevel := fs.String("log-level", "warn", "log level on stderr: debug, info, warn, error")
	retries := fs.Int("retries", 3, "times an rtsp:// input is tried again after a failure, with backoff (a file is tried once)")
	detector := fs.String("person-detector", "", "person detector ONNX model giving an RoI detection model its boxes (detection.person_detector.path)")
	detectorFormat := fs.String("person-detector-format", infer.DefaultPersonDetectorConfig().Format, "its export format: yolox or yolov8")
	gate := fs.Bool("motion-gate", false, "skip inference of still clips (motion gating with the default motion.* settings)")
	if err := parse(fs, args, "model", "input"); err != nil {
		return err
	}
	if *retries < 0 {
		fs.Usage()
		return cli.ErrUsage
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
	cfg.Detection.PersonDetector.Path, cfg.Detection.PersonDetector.Format = *detector, *detectorFormat
	cfg.Motion.Enabled = *gate
	cfg.HTTP.Addr = ""
	cfg.Log.Level = *logLevel
	cfg.ShutdownTimeout = configs.Duration(time.Minute)
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	out := jsonl.New(stdout)
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: log, OneShot: true, Retries: *retries, Sinks: []sink.Sink{out}})
	if err != nil {
		return err
	}
	err = p.Run(ctx)
	for _, st := range p.Streams() {
		fmt.Fprintln(stderr, "actionstream run: "+summary(st))
	}
	switch {
	case errors.Is(err, pipeline.ErrStreamFailed), errors.Is(err, pipeline.ErrNotVideo):
		return exitError{exitBadInput, err}
	case errors.Is(err, pipeline.ErrNoClip):
		return exitError{exitNoClip, err}
	}
	return err
}

// run's exit statuses beyond 0 (done), 1 (model, config or sink error) and 2 (usage); the
// README's exit-code table lists them.
const (
	exitBadInput = 3 // the input cannot be opened, is no video, or an rtsp:// input failed every try
	exitNoClip   = 4 // frames were decoded but no clip came out
)

// exitError is an error that picks the process's exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
func (e exitError) ExitCode() int { return e.code }

// summary is run's one closing line per input: what was decoded, scored and dropped, and why.
func summary(st pipeline.StreamStatus) string {
	reasons := make([]string, 0, len(st.ClipsDroppedByReason))
	var dropped uint64
	for r, n := range st.ClipsDroppedByReason {
		reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		dropped += n
	}
	sort.Strings(reasons)
	skipped := ""
	if st.FramesSkipped > 0 {
		skipped = fmt.Sprintf(" (and %d skipped: non-reference frames no clip needed)", st.FramesSkipped)
	}
	return fmt.Sprintf("%s: frames decoded %d%s, clips scored %d, clips dropped %d (%s), gaps %d, backward frame-time steps %d, decode errors %d",
		st.URL, st.FramesDecoded, skipped, st.ClipsScored, dropped, strings.Join(reasons, ", "), st.Gaps, st.BackwardSteps, st.DecodeErrors)
}
