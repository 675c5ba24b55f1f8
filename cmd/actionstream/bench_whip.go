package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
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
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

// benchWHIP measures glass-to-event latency over WHIP: a pion publisher on loopback sends an
// encoded stream in real time, stamping each frame's capture time as it hands it to WebRTC; the
// latency of a clip is from the capture of the frame that ends it to the moment its clip.scored
// line is written by the JSON-lines sink. The model's own inference time (batch 1) is measured
// beside it on the same threads.
func benchWHIP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench whip", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "ONNX model (default: export --arch with random weights)")
	arch := fs.String("arch", "x3d-xs", "preset exported when --model is not given")
	input := fs.String("input", "", "Annex-B .h264 or VP8 .ivf to publish (default: generate --size at --fps with ffmpeg)")
	size := fs.String("size", "640x360", "generated video size")
	fps := fs.Int("fps", 30, "frame rate of the published stream")
	duration := fs.Duration("duration", time.Minute, "how long to publish")
	warmup := fs.Duration("warmup", 3*time.Second, "clips ending earlier than this are not counted")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0 = its default)")
	maxWait := fs.Duration("max-wait", 0, "batcher max_wait (0 = the default config's)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil || *fps <= 0 || *duration <= *warmup {
		if err == nil {
			fs.Usage()
		}
		return errUsage
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tmp, err := os.MkdirTemp("", "actionstream-bench-whip-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *model == "" {
		if *model, err = exportPreset(ctx, *arch, tmp); err != nil {
			return err
		}
	}
	if *input == "" {
		*input = filepath.Join(tmp, "bench.h264")
		cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
			"-i", fmt.Sprintf("testsrc2=size=%s:rate=%d:duration=10", *size, *fps),
			"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", fmt.Sprint(*fps), *input)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("generating the input with ffmpeg: %v: %s", err, out)
		}
	}
	codec, frames := "h264", [][]byte(nil)
	if strings.HasSuffix(*input, ".ivf") {
		codec = "vp8"
		frames, err = whipclient.ReadIVF(*input)
	} else {
		frames, err = whipclient.ReadH264(*input)
	}
	if err != nil {
		return err
	}

	inf, meta, err := measureInference(*model, *threads)
	if err != nil {
		return err
	}

	// The pipeline, its JSON-lines sink timed line by line, and the WHIP endpoint on loopback.
	cfg := configs.Default()
	cfg.Model.Path = *model
	cfg.Model.Runtime.Threads = *threads
	cfg.Events.ClipScored = true
	cfg.HTTP.Addr = ""
	cfg.Sinks.JSONL.Enabled = false
	if *maxWait > 0 {
		cfg.Batcher.MaxWait = configs.Duration(*maxWait)
	}
	lines := &lineClock{}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: quiet, Sinks: []sink.Sink{jsonl.New(lines)}})
	if err != nil {
		return err
	}
	runCtx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- p.Run(runCtx) }()
	ws, err := whip.New(whip.Config{Open: true, Logger: quiet}, p.AttachWHIP)
	if err != nil {
		return err
	}
	defer ws.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: ws.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	for deadline := time.Now().Add(30 * time.Second); !p.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("pipeline not ready")
		}
	}
	pub, err := whipclient.Publish(ctx, whipclient.Options{URL: "http://" + ln.Addr().String() + "/whip/bench", Codec: codec})
	if err != nil {
		return err
	}
	defer pub.Close()
	connCtx, cancelConn := context.WithTimeout(ctx, 20*time.Second)
	err = pub.WaitConnected(connCtx)
	cancelConn()
	if err != nil {
		return err
	}
	var capMu sync.Mutex
	var captures []time.Time
	sendCtx, stopSend := context.WithTimeout(ctx, *duration)
	err = pub.Send(sendCtx, frames, *fps, true, func(i int, at time.Time) {
		capMu.Lock()
		captures = append(captures, at)
		capMu.Unlock()
	})
	stopSend()
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // the last clips in flight
	pub.Delete(ctx)
	stopPipeline()
	if err := <-pipeDone; err != nil {
		return err
	}

	// The server's PTS 0 is the first frame sent (a keyframe), so a clip ending at PTS t ends
	// with frame round(t*fps).
	var lat []time.Duration
	for _, c := range lines.clips() {
		i := int(math.Round(c.endPTS * float64(*fps)))
		if i < 0 || i >= len(captures) || c.endPTS < warmup.Seconds() {
			continue
		}
		lat = append(lat, c.written.Sub(captures[i]))
	}
	if len(lat) == 0 {
		return errors.New("no clip.scored lines were written")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := map[string]any{
		"model": meta.Name, "model_file": *model, "clip": fmt.Sprintf("%dx%d@%d", meta.Frames, meta.SamplingRate, meta.CropSize),
		"input": *input, "codec": codec, "fps": *fps, "duration_s": duration.Seconds(), "frames_sent": len(captures),
		"clips": len(lat), "latency_median_ms": roundMS(percentile(lat, 50)), "latency_p99_ms": roundMS(percentile(lat, 99)),
		"latency_min_ms": roundMS(lat[0]), "latency_max_ms": roundMS(lat[len(lat)-1]),
		"inference_median_ms": roundMS(percentile(inf, 50)), "inference_p99_ms": roundMS(percentile(inf, 99)),
		"threads": *threads, "cpus": runtime.NumCPU(), "batch_max_wait_ms": roundMS(cfg.Batcher.MaxWait.D()),
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "model             %s (%s), %d threads, %d CPUs\n", meta.Name, res["clip"], *threads, runtime.NumCPU())
	fmt.Fprintf(stdout, "stream            %s %s at %d fps for %s over WHIP (loopback), %d frames\n", codec, *input, *fps, *duration, len(captures))
	fmt.Fprintf(stdout, "glass-to-event    median %.1f ms, p99 %.1f ms (min %.1f, max %.1f) over %d clips\n",
		res["latency_median_ms"], res["latency_p99_ms"], res["latency_min_ms"], res["latency_max_ms"], len(lat))
	fmt.Fprintf(stdout, "inference alone   median %.1f ms, p99 %.1f ms (batch 1)\n", res["inference_median_ms"], res["inference_p99_ms"])
	return nil
}

func roundMS(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// measureInference times the model alone, batch 1, after a warm-up (sorted durations).
func measureInference(path string, threads int) ([]time.Duration, infer.Metadata, error) {
	rt, err := infer.NewRuntime(infer.Options{Threads: threads, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, infer.Metadata{}, err
	}
	defer rt.Close()
	m, err := rt.Open(path)
	if err != nil {
		return nil, infer.Metadata{}, err
	}
	defer m.Close()
	s := m.Meta.CropSize
	in := make([]float32, 3*m.Meta.Frames*s*s)
	var out []time.Duration
	for i := 0; i < 33; i++ {
		t := time.Now()
		if _, err := m.Run(in, 1); err != nil {
			return nil, m.Meta, err
		}
		if i >= 3 {
			out = append(out, time.Since(t))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, m.Meta, nil
}

// exportPreset writes a random-init preset model (inference time does not depend on weights).
func exportPreset(ctx context.Context, name, dir string) (string, error) {
	a, err := x3d.Preset(name, 10)
	if err != nil {
		return "", err
	}
	r, err := python.New(ctx, python.Options{})
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name+".onnx")
	if _, err := r.Export(ctx, python.ExportOptions{Arch: a, Out: out, Seed: 1}); err != nil {
		return "", fmt.Errorf("exporting %s: %w", name, err)
	}
	return out, nil
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
	return append([]scoredLine(nil), l.seen...)
}
