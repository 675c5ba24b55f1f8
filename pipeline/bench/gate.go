package bench

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/actionstream/actionstream/clipper/motion"
	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"

	"github.com/actionstream/actionstream/hostinfo"
)

// GateOptions are the settings of Gate.
type GateOptions struct {
	Model   string // ONNX model of the contract
	Input   string // video to score; "" = a still scene with sensor noise made by ffmpeg in TempDir
	TempDir string
	Size    string // WxH of the generated scene
	Seconds int    // length of the generated scene
	Runs    int    // runs of each side, alternating
	Threads int    // ONNX Runtime intra-op threads (1: inference CPU = inference time)
	// Motion is the gating section of the "on" side (Enabled is set); "off" scores every clip.
	Motion motion.Config
}

// GateSide is one side's runs: min, median and max of each time, the counts of the median run.
type GateSide struct {
	InferSeconds [3]float64 `json:"inference_seconds"` // summed model-call time per run
	CPUSeconds   [3]float64 `json:"process_cpu_seconds"`
	WallSeconds  [3]float64 `json:"wall_seconds"`
	Clips        uint64     `json:"clips"`
	Scored       uint64     `json:"scored"`
	Gated        uint64     `json:"gated"`
	ModelCalls   uint64     `json:"model_calls"`
}

// GateResult is inference CPU with motion gating off and on over the same input.
type GateResult struct {
	Model      string   `json:"model"`
	Input      string   `json:"input"`
	Runs       int      `json:"runs"`
	Threads    int      `json:"threads"`
	CPUModel   string   `json:"cpu_model"`
	LoadBefore string   `json:"load_average_before"`
	LoadAfter  string   `json:"load_average_after"`
	Off        GateSide `json:"off"`
	On         GateSide `json:"on"`
	// InferRatio is the median inference time off / on; CPURatio the same of process CPU.
	InferRatio float64 `json:"inference_ratio"`
	CPURatio   float64 `json:"cpu_ratio"`
	// CPUPerClip is the process CPU gating saved per clip it kept from the model: median CPU
	// off − on over scored off − on. Load stretches wall times, not CPU time, so this is the
	// inference CPU per clip even on a busy machine.
	CPUPerClip float64 `json:"cpu_seconds_per_skipped_clip"`
}

type gateRun struct {
	infer, cpu, wall            time.Duration
	clips, scored, gated, calls uint64
}

// Gate scores the input o.Runs times with gating off and on, alternating which side goes
// first, each a one-shot pipeline (model load outside the timing).
func Gate(ctx context.Context, o GateOptions) (GateResult, error) {
	if o.Runs < 1 || o.Model == "" || o.Threads < 0 {
		return GateResult{}, fmt.Errorf("%w: runs %d, model %q, threads %d", ErrOptions, o.Runs, o.Model, o.Threads)
	}
	if o.Input == "" {
		in, err := StillScene(ctx, o.TempDir, o.Size, o.Seconds)
		if err != nil {
			return GateResult{}, err
		}
		o.Input = in
	}
	on := o.Motion
	on.Enabled = true
	if err := on.Validate(); err != nil {
		return GateResult{}, err
	}
	r := GateResult{Model: o.Model, Input: o.Input, Runs: o.Runs, Threads: o.Threads, CPUModel: hostinfo.CPUModel(), LoadBefore: hostinfo.LoadAverage()}
	var offRuns, onRuns []gateRun
	for i := range o.Runs {
		for side := range 2 {
			gating := (i+side)%2 == 1
			m := motion.DefaultConfig()
			if gating {
				m = on
			}
			g, err := gateOnce(ctx, o, m)
			if err != nil {
				return GateResult{}, err
			}
			if gating {
				onRuns = append(onRuns, g)
			} else {
				offRuns = append(offRuns, g)
			}
		}
	}
	r.LoadAfter = hostinfo.LoadAverage()
	r.Off, r.On = gateSide(offRuns), gateSide(onRuns)
	if r.On.InferSeconds[1] > 0 {
		r.InferRatio = r.Off.InferSeconds[1] / r.On.InferSeconds[1]
	}
	if r.On.CPUSeconds[1] > 0 {
		r.CPURatio = r.Off.CPUSeconds[1] / r.On.CPUSeconds[1]
	}
	if r.Off.Scored > r.On.Scored {
		r.CPUPerClip = (r.Off.CPUSeconds[1] - r.On.CPUSeconds[1]) / float64(r.Off.Scored-r.On.Scored)
	}
	return r, nil
}

func gateOnce(ctx context.Context, o GateOptions, m motion.Config) (gateRun, error) {
	cfg := configs.Default()
	cfg.Model.Path = o.Model
	cfg.Model.Runtime.Threads = o.Threads
	cfg.Streams = []configs.Stream{{ID: "bench", URL: o.Input}}
	cfg.Motion = m
	cfg.HTTP.Addr = ""
	cfg.ShutdownTimeout = configs.Duration(time.Minute)
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: quietLogger(), OneShot: true, Sinks: []sink.Sink{jsonl.New(io.Discard)}})
	if err != nil {
		return gateRun{}, err
	}
	cpu0, t0 := hostinfo.ProcessCPU(), time.Now()
	err = p.Run(ctx)
	g := gateRun{wall: time.Since(t0), cpu: hostinfo.ProcessCPU() - cpu0}
	if err != nil {
		return g, err
	}
	bs := p.BatcherStats()
	st := p.Streams()[0]
	g.infer, g.calls = bs.InferTotal, bs.Batches
	g.clips, g.scored, g.gated = st.Clips, st.ClipsScored, st.ClipsGated
	if g.clips == 0 {
		return g, fmt.Errorf("%s: %w", o.Input, ErrNoClips)
	}
	return g, nil
}

func gateSide(rs []gateRun) GateSide {
	pick := func(f func(gateRun) time.Duration) [3]float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r).Seconds()
		}
		return minMedMax(v)
	}
	mid := rs[len(rs)/2]
	return GateSide{InferSeconds: pick(func(r gateRun) time.Duration { return r.infer }),
		CPUSeconds:  pick(func(r gateRun) time.Duration { return r.cpu }),
		WallSeconds: pick(func(r gateRun) time.Duration { return r.wall }),
		Clips:       mid.clips, Scored: mid.scored, Gated: mid.gated, ModelCalls: mid.calls}
}

func minMedMax(v []float64) [3]float64 {
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ { // insertion sort: a handful of runs
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return [3]float64{s[0], s[len(s)/2], s[len(s)-1]}
}

// StillScene encodes a still camera into dir: one testsrc2 picture held for seconds at 30 fps
// with temporal sensor noise (ffmpeg's noise filter, ±20 levels, new every frame).
func StillScene(ctx context.Context, dir, size string, seconds int) (string, error) {
	if size == "" || seconds < 1 {
		return "", fmt.Errorf("%w: still scene size %q, %d s", ErrOptions, size, seconds)
	}
	out := filepath.Join(dir, fmt.Sprintf("still-%s-%ds.mp4", size, seconds))
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30",
		"-vf", "trim=end_frame=1,loop=loop=-1:size=1:start=0,setpts=N/30/TB,noise=alls=20:allf=t+u",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "60", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("making the still scene with ffmpeg: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// WriteText prints both sides, the ratio last.
func (r GateResult) WriteText(w io.Writer) error {
	side := func(name string, s GateSide) string {
		return fmt.Sprintf("%-12s inference min/median/max %.3f/%.3f/%.3f s  process cpu %.3f/%.3f/%.3f s  wall median %.3f s  clips %d: scored %d (%d model calls), gated %d",
			name, s.InferSeconds[0], s.InferSeconds[1], s.InferSeconds[2], s.CPUSeconds[0], s.CPUSeconds[1], s.CPUSeconds[2], s.WallSeconds[1], s.Clips, s.Scored, s.ModelCalls, s.Gated)
	}
	return writeLines(w,
		fmt.Sprintf("model %s, input %s, threads %d, %d alternating runs each", r.Model, r.Input, r.Threads, r.Runs),
		fmt.Sprintf("cpu %s, load average %s before, %s after", r.CPUModel, r.LoadBefore, r.LoadAfter),
		side("gating off", r.Off),
		side("gating on", r.On),
		fmt.Sprintf("cpu saved    %.3f s per clip not scored (median process cpu off - on, over the clips gated)", r.CPUPerClip),
		fmt.Sprintf("ratio        %.1f (median inference time off / on; target >= 5), process cpu %.2f", r.InferRatio, r.CPURatio))
}
