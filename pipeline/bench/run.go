package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/pipeline"

	"github.com/actionstream/actionstream/hostinfo"
)

// RunOptions are the settings of Run.
type RunOptions struct {
	Model, Input string
	Runs         int // rounds; each times every side once, in rotating order
	// Threads is run's --threads (0 = its rule, pipeline.OneShotThreads); the raw side
	// uses the same resolved count and session settings.
	Threads int
	// Run is the `actionstream run` command timed as a whole process (its stdout is
	// read for the clip.scored lines); Raw the child that times raw model calls
	// (RawPass's JSON on stdout), to which Run appends "--clips N".
	Run, Raw []string
}

// Spread is the fastest, median and slowest of a figure over the rounds.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func spreadOf(v []float64) Spread {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return Spread{}
	}
	return Spread{Min: s[0], Median: s[len(s)/2], Max: s[len(s)-1]}
}

func (s Spread) String() string { return fmt.Sprintf("%.3f/%.3f/%.3f", s.Min, s.Median, s.Max) }

// RunResult is `run`'s wall time against the machine's bound, every figure measured in
// the same rounds. The bound of a round is the largest of: ffmpeg's decode (`ffmpeg
// -threads 1`, a whole process), the clips at the raw ONNX Runtime rate (batch 1, the
// batch `run` scores one input at, same threads), and the CPU both need shared over the
// cores ((ffmpeg CPU + raw inference CPU) / cores).
type RunResult struct {
	Input   string `json:"input"`
	Model   string `json:"model"`
	Runs    int    `json:"runs"`
	Cores   int    `json:"cores"`
	Threads int    `json:"threads"` // ONNX Runtime intra-op threads, as run resolved them
	CPU     string `json:"cpu"`
	Clips   int    `json:"clips"`
	Frames  int64  `json:"ffmpeg_frames"`
	// Seconds, per round.
	FFmpegWall  Spread `json:"ffmpeg_wall_s"`
	FFmpegCPU   Spread `json:"ffmpeg_cpu_s"`
	RawWall     Spread `json:"raw_infer_s"`     // clips ÷ raw rate
	RawCPU      Spread `json:"raw_infer_cpu_s"` // CPU of those calls
	CPUTerm     Spread `json:"cpu_term_s"`      // (ffmpeg CPU + raw CPU) / cores
	Bound       Spread `json:"bound_s"`
	RunWall     Spread `json:"run_wall_s"` // model load included
	RunCPU      Spread `json:"run_cpu_s"`
	Ratio       Spread `json:"ratio"` // run wall / bound, per round (target <= 1.05)
	LoadBefore  string `json:"load_before"`
	LoadAfter   string `json:"load_after"`
	BoundTerm   string `json:"bound_term"` // the term that was largest in most rounds
	RunCommand  string `json:"run_command"`
	RawThreads  int    `json:"raw_threads"`
	RawWorkers  int    `json:"raw_workers"` // model calls at once, as run makes them
	RawSpinning string `json:"raw_spinning"`
}

// RawPassResult is what the raw child prints: n batch-1 calls after one untimed call.
type RawPassResult struct {
	Clips      int     `json:"clips"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"` // user + system of this process over the timed calls
	Threads    int     `json:"threads"`
	Workers    int     `json:"workers"` // calls made at once, as run's batcher makes them
	Spinning   string  `json:"spinning"`
}

// RawPass opens the model as `run` does (pipeline.OneShotThreads and OneShotWorkers on this
// process's cores) and times clips raw Model.RunInto calls of one random clip each, shared
// over as many goroutines as `run` has model-calling workers.
func RawPass(ctx context.Context, model string, clips, threads int) (RawPassResult, error) {
	if clips < 1 {
		return RawPassResult{}, fmt.Errorf("%w: clips %d", ErrOptions, clips)
	}
	given := infer.Options{Threads: threads, Logger: quietLogger()}
	o, workers := pipeline.OneShotThreads(given, runtime.NumCPU()), pipeline.OneShotWorkers(given, runtime.NumCPU())
	rt, err := infer.NewRuntime(o)
	if err != nil {
		return RawPassResult{}, err
	}
	defer rt.Close()
	m, err := rt.Open(model)
	if err != nil {
		return RawPassResult{}, err
	}
	defer m.Close()
	// The first call allocates and tunes; it is left out, which keeps the bound a bound.
	in, out := make([]float32, m.ClipLen()), make([]float32, m.Classes())
	r := rand.New(rand.NewPCG(1, 2))
	for i := range in {
		in[i] = float32(r.NormFloat64()) // zeros could take fast paths a real clip never does
	}
	if err := m.RunInto(in, 1, out); err != nil {
		return RawPassResult{}, err
	}
	c0, t0 := hostinfo.ProcessCPU(), time.Now()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	var calls atomic.Int64 // each goroutine takes the next call, as the batcher's workers do
	for w := range workers {
		wg.Go(func() {
			out := make([]float32, m.Classes())
			for calls.Add(1) <= int64(clips) {
				if errs[w] = ctx.Err(); errs[w] != nil {
					return
				}
				if errs[w] = m.RunInto(in, 1, out); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(t0), hostinfo.ProcessCPU()-c0
	if err := errors.Join(errs...); err != nil {
		return RawPassResult{}, err
	}
	spin := o.SessionConfig["session.intra_op.allow_spinning"]
	if spin == "" {
		spin = "default"
	}
	return RawPassResult{Clips: clips, Seconds: elapsed.Seconds(), CPUSeconds: cpu.Seconds(),
		Threads: o.Threads, Workers: workers, Spinning: spin}, nil
}

// Run times `actionstream run`, `ffmpeg -threads 1` and the raw model calls, o.Runs rounds,
// rotating which side goes first, after one untimed round of run (which also counts the
// clips the raw side then scores).
func Run(ctx context.Context, o RunOptions) (RunResult, error) {
	if o.Runs < 1 || len(o.Run) == 0 || len(o.Raw) == 0 || o.Input == "" {
		return RunResult{}, fmt.Errorf("%w: runs %d, run command %q, raw command %q", ErrOptions, o.Runs, o.Run, o.Raw)
	}
	res := RunResult{Input: o.Input, Model: o.Model, Runs: o.Runs, Cores: runtime.NumCPU(), CPU: hostinfo.CPUModel(),
		LoadBefore: hostinfo.LoadAverage(), RunCommand: strings.Join(o.Run, " ")}
	res.Threads = pipeline.OneShotThreads(infer.Options{Threads: o.Threads}, res.Cores).Threads
	runOnce := func() (wall, cpu time.Duration, clips int, err error) {
		pr, out, err := decode.BenchProcess(ctx, o.Run[0], o.Run[1:]...)
		if err != nil {
			return 0, 0, 0, err
		}
		return pr.Wall, pr.CPU, bytes.Count(out, []byte(`"type":"clip.scored"`)), nil
	}
	if _, _, n, err := runOnce(); err != nil {
		return res, err
	} else if n == 0 {
		return res, fmt.Errorf("%w: run scored no clip of %s", ErrNoClips, o.Input)
	} else {
		res.Clips = n
	}
	raw := append(slices.Clone(o.Raw), "--clips", fmt.Sprint(res.Clips))
	var ffWall, ffCPU, rawWall, rawCPU, cpuTerm, bound, runWall, runCPU, ratio []float64
	terms := map[string]int{}
	for i := range o.Runs {
		var ff decode.BenchResult
		var rp RawPassResult
		var rw, rc time.Duration
		for k := range 3 {
			var err error
			switch (i + k) % 3 {
			case 0:
				var n int
				if rw, rc, n, err = runOnce(); err == nil && n != res.Clips {
					err = fmt.Errorf("run scored %d clips, then %d", res.Clips, n)
				}
			case 1:
				if ff, err = decode.BenchFFmpeg(ctx, o.Input); err != nil {
					err = fmt.Errorf("ffmpeg reference: %w", err)
				}
			case 2:
				rp, err = rawOnce(ctx, raw)
			}
			if err != nil {
				return res, err
			}
		}
		res.Frames, res.RawThreads, res.RawWorkers, res.RawSpinning = ff.Frames, rp.Threads, rp.Workers, rp.Spinning
		ct := (ff.CPU.Seconds() + rp.CPUSeconds) / float64(res.Cores)
		b, term := ff.Elapsed.Seconds(), "ffmpeg decode"
		if rp.Seconds > b {
			b, term = rp.Seconds, "raw inference"
		}
		if ct > b {
			b, term = ct, "cpu / cores"
		}
		terms[term]++
		ffWall, ffCPU = append(ffWall, ff.Elapsed.Seconds()), append(ffCPU, ff.CPU.Seconds())
		rawWall, rawCPU, cpuTerm = append(rawWall, rp.Seconds), append(rawCPU, rp.CPUSeconds), append(cpuTerm, ct)
		bound, runWall, runCPU = append(bound, b), append(runWall, rw.Seconds()), append(runCPU, rc.Seconds())
		ratio = append(ratio, rw.Seconds()/b)
	}
	res.FFmpegWall, res.FFmpegCPU = spreadOf(ffWall), spreadOf(ffCPU)
	res.RawWall, res.RawCPU, res.CPUTerm = spreadOf(rawWall), spreadOf(rawCPU), spreadOf(cpuTerm)
	res.Bound, res.RunWall, res.RunCPU, res.Ratio = spreadOf(bound), spreadOf(runWall), spreadOf(runCPU), spreadOf(ratio)
	for t, n := range terms {
		if n > terms[res.BoundTerm] || (n == terms[res.BoundTerm] && t < res.BoundTerm) {
			res.BoundTerm = t
		}
	}
	res.LoadAfter = hostinfo.LoadAverage()
	return res, nil
}

func rawOnce(ctx context.Context, cmd []string) (RawPassResult, error) {
	var r RawPassResult
	_, out, err := decode.BenchProcess(ctx, cmd[0], cmd[1:]...)
	if err != nil {
		return r, fmt.Errorf("raw inference: %w", err)
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("raw inference output: %w", err)
	}
	return r, nil
}
