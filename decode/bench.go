package decode

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/media"
)

// BenchResult is one measured pass over a file.
type BenchResult struct {
	Frames    int64 // frames decoded
	Converted int64 // frames sampled and converted
	Clips     int64 // clips completed
	Errors    int64 // decode errors + corrupt frames
	Elapsed   time.Duration
	CPU       time.Duration // user + system time of the process (whole-process runs only)
	Switches  int64         // context switches of the process's threads (whole-process runs only)
	FPS       float64       // Frames / Elapsed
}

// BenchFile runs file -> demux -> decode (one thread) -> sample -> convert -> clip as fast as
// possible and measures it, for `actionstream bench decode`. cfg.Threads is forced to 1 to
// compare with `ffmpeg -threads 1`, and every frame is decoded, as ffmpeg does (no Skipper).
// A nil Sampler uses a clipper with X3D-S sampling (13 frames, τ 6) at cfg.Size.
func BenchFile(ctx context.Context, path string, cfg Config, s Sampler) (BenchResult, error) {
	var res BenchResult
	cfg.Threads = 1
	if s == nil {
		cl, err := clipper.New(cfg.Stream, clipper.Config{Frames: 13, SamplingRate: 6, Size: cfg.Size})
		if err != nil {
			return res, err
		}
		s = cl
	}
	d, err := New(cfg, everyFrame{s}, func(c *clipper.Clip) {
		res.Clips++
		c.Release()
	})
	if err != nil {
		return res, err
	}
	defer d.Close()
	start := time.Now()
	if _, err := demux.Run(ctx, media.DemuxConfig{URL: path}, d.Decode); err != nil {
		return res, err
	}
	if err := d.Flush(); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	st := d.Stats()
	res.Frames, res.Converted, res.Errors = st.FramesDecoded, st.FramesConverted, st.DecodeErrors+st.CorruptFrames
	if res.Elapsed > 0 {
		res.FPS = float64(res.Frames) / res.Elapsed.Seconds()
	}
	return res, nil
}

// everyFrame hides a Sampler's Skipper, so the decoder decodes every frame.
type everyFrame struct{ Sampler }

// BenchFFmpeg measures the reference: `ffmpeg -threads 1 -i path -f null -` (the ffmpeg CLI
// on PATH) as a whole process, returning its decoded frame count and wall time.
func BenchFFmpeg(ctx context.Context, path string) (BenchResult, error) {
	var res BenchResult
	pr, out, err := BenchProcess(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-threads", "1", "-i", path, "-an", "-f", "null", "-progress", "pipe:1", "-")
	res.Elapsed, res.CPU, res.Switches = pr.Wall, pr.CPU, pr.Switches
	if err != nil {
		return res, fmt.Errorf("ffmpeg: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "frame="); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				res.Frames = n
			}
		}
	}
	if res.Elapsed > 0 {
		res.FPS = float64(res.Frames) / res.Elapsed.Seconds()
	}
	return res, nil
}

// Process is one measured run of a command: its wall time from start to exit (process
// start-up, library loading and teardown included), its CPU time (user + system, less disturbed
// by other load than wall time) and the context switches of all its threads.
type Process struct {
	Wall, CPU time.Duration
	Switches  int64
}

// BenchProcess runs a command to completion, measures it and returns its stdout.
func BenchProcess(ctx context.Context, name string, args ...string) (Process, []byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	stdout, err := cmd.Output()
	p := Process{Wall: time.Since(start)}
	if st := cmd.ProcessState; st != nil {
		p.CPU = st.UserTime() + st.SystemTime()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			p.Switches = ru.Nvcsw + ru.Nivcsw
		}
	}
	if err != nil {
		return p, stdout, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return p, stdout, nil
}
