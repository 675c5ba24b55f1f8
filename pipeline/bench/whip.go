package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/ingest/whip/whipclient"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"
)

// WHIPOptions are the settings of WHIP.
type WHIPOptions struct {
	Model    string        // ONNX model of the contract
	Input    string        // Annex-B .h264 or VP8 .ivf; "" = generate Size at FPS with ffmpeg into TempDir
	Size     string        // WxH of the generated input
	TempDir  string        // where a generated input goes
	FPS      int           // frame rate of the published stream
	Duration time.Duration // how long to publish
	Warmup   time.Duration // clips ending earlier are not counted
	Threads  int           // ONNX Runtime intra-op threads
	MaxWait  time.Duration // batcher max_wait; 0 = the default config's
}

// WHIPResult is glass-to-event latency beside the model's own inference time.
type WHIPResult struct {
	Model           string  `json:"model"`
	ModelFile       string  `json:"model_file"`
	Clip            string  `json:"clip"`
	Input           string  `json:"input"`
	Codec           string  `json:"codec"`
	FPS             int     `json:"fps"`
	DurationS       float64 `json:"duration_s"`
	FramesSent      int     `json:"frames_sent"`
	Clips           int     `json:"clips"`
	LatencyMedianMS float64 `json:"latency_median_ms"`
	LatencyP99MS    float64 `json:"latency_p99_ms"`
	LatencyMinMS    float64 `json:"latency_min_ms"`
	LatencyMaxMS    float64 `json:"latency_max_ms"`
	InferMedianMS   float64 `json:"inference_median_ms"`
	InferP99MS      float64 `json:"inference_p99_ms"`
	Threads         int     `json:"threads"`
	CPUs            int     `json:"cpus"`
	MaxWaitMS       float64 `json:"batch_max_wait_ms"`
}

// WHIP measures glass-to-event latency: a pion publisher on loopback sends an encoded
// stream in real time, stamping each frame's capture time as it hands it to WebRTC; a
// clip's latency runs from the capture of the frame that ends it to the moment its
// clip.scored line is written by the JSON-lines sink. The model alone (batch 1) is
// timed beside it on the same threads.
func WHIP(ctx context.Context, o WHIPOptions) (WHIPResult, error) {
	if o.FPS <= 0 || o.Duration <= o.Warmup {
		return WHIPResult{}, fmt.Errorf("%w: fps %d, duration %s must exceed warmup %s", ErrOptions, o.FPS, o.Duration, o.Warmup)
	}
	if o.Input == "" {
		o.Input = filepath.Join(o.TempDir, "bench.h264")
		cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
			"-i", fmt.Sprintf("testsrc2=size=%s:rate=%d:duration=10", o.Size, o.FPS),
			"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", fmt.Sprint(o.FPS), o.Input)
		if out, err := cmd.CombinedOutput(); err != nil {
			return WHIPResult{}, fmt.Errorf("generating the input with ffmpeg: %w: %s", err, out)
		}
	}
	codec, frames, err := "h264", [][]byte(nil), error(nil)
	if strings.HasSuffix(o.Input, ".ivf") {
		codec = "vp8"
		frames, err = whipclient.ReadIVF(o.Input)
	} else {
		frames, err = whipclient.ReadH264(o.Input)
	}
	if err != nil {
		return WHIPResult{}, err
	}
	inf, meta, err := inferenceAlone(o.Model, o.Threads)
	if err != nil {
		return WHIPResult{}, err
	}
	cfg := configs.Default()
	cfg.Model.Path = o.Model
	cfg.Model.Runtime.Threads = o.Threads
	cfg.Events.ClipScored = true
	cfg.HTTP.Addr = ""
	cfg.Sinks.JSONL.Enabled = false
	if o.MaxWait > 0 {
		cfg.Batcher.MaxWait = configs.Duration(o.MaxWait)
	}
	lines := &lineClock{}
	captures, err := publish(ctx, cfg, lines, codec, frames, o)
	if err != nil {
		return WHIPResult{}, err
	}
	// The server's PTS 0 is the first frame sent (a keyframe), so a clip ending at PTS t
	// ends with frame round(t*fps).
	var lat []time.Duration
	for _, c := range lines.clips() {
		i := int(math.Round(c.endPTS * float64(o.FPS)))
		if i < 0 || i >= len(captures) || c.endPTS < o.Warmup.Seconds() {
			continue
		}
		lat = append(lat, c.written.Sub(captures[i]))
	}
	if len(lat) == 0 {
		return WHIPResult{}, ErrNoClips
	}
	slices.Sort(lat)
	return WHIPResult{Model: meta.Name, ModelFile: o.Model, Clip: fmt.Sprintf("%dx%d@%d", meta.Frames, meta.SamplingRate, meta.CropSize),
		Input: o.Input, Codec: codec, FPS: o.FPS, DurationS: o.Duration.Seconds(), FramesSent: len(captures), Clips: len(lat),
		LatencyMedianMS: roundMS(Percentile(lat, 50)), LatencyP99MS: roundMS(Percentile(lat, 99)),
		LatencyMinMS: roundMS(lat[0]), LatencyMaxMS: roundMS(lat[len(lat)-1]),
		InferMedianMS: roundMS(Percentile(inf, 50)), InferP99MS: roundMS(Percentile(inf, 99)),
		Threads: o.Threads, CPUs: runtime.NumCPU(), MaxWaitMS: roundMS(cfg.Batcher.MaxWait.D())}, nil
}

// publish runs the pipeline with its WHIP endpoint on loopback, publishes frames in real
// time and returns each frame's capture time.
func publish(ctx context.Context, cfg configs.Config, lines *lineClock, codec string, frames [][]byte, o WHIPOptions) ([]time.Time, error) {
	quiet := quietLogger()
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: quiet, Sinks: []sink.Sink{jsonl.New(lines)}})
	if err != nil {
		return nil, err
	}
	runCtx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- p.Run(runCtx) }()
	pipeErr := func() error { stopPipeline(); return <-pipeDone }
	ws, err := whip.New(whip.Config{Open: true, Logger: quiet}, p.AttachWHIP)
	if err != nil {
		return nil, errors.Join(err, pipeErr())
	}
	defer ws.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, pipeErr())
	}
	hs := &http.Server{Handler: ws.Handler()}
	var serving sync.WaitGroup
	serving.Add(1)
	go func() { defer serving.Done(); hs.Serve(ln) }()
	defer serving.Wait()
	defer hs.Close()
	for deadline := time.Now().Add(30 * time.Second); !p.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return nil, errors.Join(ErrNotReady, pipeErr())
		}
	}
	pub, err := whipclient.Publish(ctx, whipclient.Options{URL: "http://" + ln.Addr().String() + "/whip/bench", Codec: codec})
	if err != nil {
		return nil, errors.Join(err, pipeErr())
	}
	defer pub.Close()
	connCtx, cancelConn := context.WithTimeout(ctx, 20*time.Second)
	err = pub.WaitConnected(connCtx)
	cancelConn()
	if err != nil {
		return nil, errors.Join(err, pipeErr())
	}
	var mu sync.Mutex
	var captures []time.Time
	sendCtx, stopSend := context.WithTimeout(ctx, o.Duration)
	err = pub.Send(sendCtx, frames, o.FPS, true, func(_ int, at time.Time) {
		mu.Lock()
		captures = append(captures, at)
		mu.Unlock()
	})
	stopSend()
	if err != nil {
		return nil, errors.Join(err, pipeErr())
	}
	time.Sleep(time.Second) // the last clips in flight
	pub.Delete(ctx)
	if err := pipeErr(); err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return captures, nil
}

// Percentile is the q-th percentile (0..100) of sorted durations, 0 when empty.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// inferenceAlone times the model alone, batch 1, after a warm-up (sorted durations).
func inferenceAlone(path string, threads int) ([]time.Duration, infer.Metadata, error) {
	rt, err := infer.NewRuntime(infer.Options{Threads: threads, Logger: quietLogger()})
	if err != nil {
		return nil, infer.Metadata{}, err
	}
	defer rt.Close()
	m, err := rt.Open(path)
	if err != nil {
		return nil, infer.Metadata{}, err
	}
	defer m.Close()
	in := make([]float32, m.Meta.ClipLen())
	var out []time.Duration
	for i := range 33 {
		t := time.Now()
		if _, err := m.Run(in, 1); err != nil {
			return nil, m.Meta, err
		}
		if i >= 3 {
			out = append(out, time.Since(t))
		}
	}
	slices.Sort(out)
	return out, m.Meta, nil
}

// lineClock is the JSON-lines sink's writer: it notes when each clip.scored line is written.
type lineClock struct {
	mu      sync.Mutex
	partial []byte
	seen    []scoredLine
}

type scoredLine struct {
	endPTS  float64
	written time.Time
}

func (l *lineClock) Write(b []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if e, err := events.ParseJSON(l.partial[:i]); err == nil && e.Type == events.TypeClipScored && e.Data.Span != nil {
			l.seen = append(l.seen, scoredLine{e.Data.Span.EndPTS, now})
		}
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

func (l *lineClock) clips() []scoredLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}
