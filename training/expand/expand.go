// Package expand is the X3D paper's progressive network expansion (Feichtenhofer, CVPR
// 2020, §3.3): start from the tiny X2D network; in each step make one candidate per axis
// (γτ frame rate, γt frames, γs crop, γw width, γb bottleneck, γd depth), each expanding
// only that axis by as much as multiplies the network's multiply-adds by c; train each with a
// short schedule; keep the one with the best accuracy gain per log-complexity increase; stop
// once the target complexity is passed; then contract the last expanded axis so the model
// meets the target, and train that result.
//
// The package does the search, bookkeeping and outputs; training is behind the Trainer
// interface. Results are kept per candidate under the output directory, so an interrupted
// search resumes without training any finished candidate again.
package expand

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/actionstream/actionstream/training/x3d"
)

// Trainer trains one candidate network and reports its held-out accuracy.
//
// Contract: Train may be called concurrently from up to Config.Workers goroutines, each
// with a different Candidate.Key. It must return when ctx is cancelled (with ctx's error
// wrapped). It may keep files under Candidate.Dir (created for it; checkpoints, logs, the
// exported model) and may resume from them. A returned error stops the search; the
// candidates already finished stay recorded.
type Trainer interface {
	Train(ctx context.Context, c Candidate) (Result, error)
}

// TrainerFunc adapts a function to Trainer.
type TrainerFunc func(ctx context.Context, c Candidate) (Result, error)

// Train calls f.
func (f TrainerFunc) Train(ctx context.Context, c Candidate) (Result, error) { return f(ctx, c) }

// Phases of a candidate.
const (
	PhaseBase     = "base"     // the starting network
	PhaseExpand   = "expand"   // a one-axis expansion
	PhaseContract = "contract" // the backward contraction to the target
)

// Candidate is one network to train.
type Candidate struct {
	Key     string      `json:"key"`   // stable identity: factors and schedule
	Name    string      `json:"name"`  // human name, e.g. "step2-width"
	Phase   string      `json:"phase"` // PhaseBase, PhaseExpand, PhaseContract
	Step    int         `json:"step"`  // expansion step (0 for the base)
	Axis    x3d.Axis    `json:"axis,omitempty"`
	Factors x3d.Factors `json:"factors"`
	Arch    x3d.Arch    `json:"-"` // the network, built for Config.NumClasses
	MACs    int64       `json:"macs"`
	Epochs  int         `json:"epochs"` // the schedule: short for candidates, longer for the final model
	Dir     string      `json:"dir"`    // working directory reserved for this candidate
}

// Result is what training a candidate gave.
type Result struct {
	Accuracy float64 `json:"accuracy"`        // held-out top-1, 0..1: the search's criterion
	Top5     float64 `json:"top5,omitempty"`  // optional
	Loss     float64 `json:"loss,omitempty"`  // optional, final training loss
	Model    string  `json:"model,omitempty"` // optional, exported model path
	Seconds  float64 `json:"seconds,omitempty"`
}

// Config describes a search. Zero fields take the defaults noted.
type Config struct {
	Out        string      // output directory (required)
	NumClasses int         // classifier outputs (required)
	TargetMACs int64       // the complexity to reach (required), multiply-adds per clip
	Base       x3d.Factors // starting network; zero = the x2d preset
	Factor     float64     // c, the MACs growth per candidate; 0 = 2
	Axes       []x3d.Axis  // axes to expand; nil = all six
	Epochs     int         // short schedule of each candidate; 0 = 1
	// FinalEpochs is the schedule of the contracted result; 0 = Epochs.
	FinalEpochs int
	Workers     int     // candidates trained at once; 0 = 1
	Tolerance   float64 // contraction must land within this fraction of the target; 0 = 0.05
	MaxSteps    int     // expansion steps at most; 0 = 30
	Logger      *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Base == (x3d.Factors{}) {
		f, err := x3d.PresetFactors("x2d")
		if err != nil {
			return c, err
		}
		c.Base = f
	}
	if c.Factor == 0 {
		c.Factor = 2
	}
	if len(c.Axes) == 0 {
		c.Axes = x3d.Axes()
	}
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.FinalEpochs == 0 {
		c.FinalEpochs = c.Epochs
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.Tolerance == 0 {
		c.Tolerance = 0.05
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = 30
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Out == "":
		return c, fmt.Errorf("%w: no output directory", ErrBadConfig)
	case c.NumClasses < 1:
		return c, fmt.Errorf("%w: num classes %d", ErrBadConfig, c.NumClasses)
	case c.TargetMACs <= 0:
		return c, fmt.Errorf("%w: target MACs %d", ErrBadConfig, c.TargetMACs)
	case !(c.Factor > 1) || math.IsInf(c.Factor, 0):
		return c, fmt.Errorf("%w: factor %v must be > 1", ErrBadConfig, c.Factor)
	case c.Epochs < 0 || c.FinalEpochs < 0 || c.Workers < 0 || c.MaxSteps < 0:
		return c, fmt.Errorf("%w: negative epochs, workers or steps", ErrBadConfig)
	case !(c.Tolerance > 0 && c.Tolerance < 1):
		return c, fmt.Errorf("%w: tolerance %v", ErrBadConfig, c.Tolerance)
	}
	seen := map[x3d.Axis]bool{}
	for _, a := range c.Axes {
		if _, err := x3d.ParseAxis(string(a)); err != nil {
			return c, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		if seen[a] {
			return c, fmt.Errorf("%w: axis %s listed twice", ErrBadConfig, a)
		}
		seen[a] = true
	}
	if err := c.Base.Validate(); err != nil {
		return c, fmt.Errorf("%w: base: %w", ErrBadConfig, err)
	}
	return c, nil
}

// Point is one trained network of the search.
type Point struct {
	Key       string      `json:"key"`
	Name      string      `json:"name"`
	Phase     string      `json:"phase"`
	Step      int         `json:"step"`
	Axis      x3d.Axis    `json:"axis,omitempty"`
	Factors   x3d.Factors `json:"factors"`
	MACs      int64       `json:"macs"`
	GFLOPs    float64     `json:"gflops"` // MACs / 1e9, as the paper reports
	Params    int64       `json:"params"`
	MACsRatio float64     `json:"macs_ratio"` // to the network it was expanded/contracted from
	Epochs    int         `json:"epochs"`
	Result    Result      `json:"result"`
	// Score is the accuracy gain per log-complexity increase over the step's starting
	// network: (acc - acc0) / ln(MACs/MACs0). Expansion candidates only.
	Score  float64 `json:"score"`
	Chosen bool    `json:"chosen"`
}

// Step is one expansion step: its starting network and the candidates made from it.
type Step struct {
	Step       int      `json:"step"`
	From       string   `json:"from"` // key of the starting network
	Candidates []Point  `json:"candidates"`
	Chosen     x3d.Axis `json:"chosen"`
	Skipped    []string `json:"skipped,omitempty"` // axes that could not grow, with why
}

// Trajectory is the whole search, written to trajectory.json.
type Trajectory struct {
	Version     int        `json:"version"`
	TargetMACs  int64      `json:"target_macs"`
	TargetGFLOP float64    `json:"target_gflops"`
	Factor      float64    `json:"factor"`
	Axes        []x3d.Axis `json:"axes"`
	Epochs      int        `json:"epochs"`
	FinalEpochs int        `json:"final_epochs"`
	NumClasses  int        `json:"num_classes"`
	Base        Point      `json:"base"`
	Steps       []Step     `json:"steps"`
	// Path is the chosen network after each step, starting with the base.
	Path []Point `json:"path"`
	// Contraction is the final model: the last path point contracted along one axis to the
	// target (or the last path point itself when it was already within tolerance).
	Contraction *Contraction `json:"contraction,omitempty"`
	Done        bool         `json:"done"`
}

// Contraction records the backward contraction and the final model.
type Contraction struct {
	Axis            x3d.Axis `json:"axis"`
	Tried           []string `json:"tried"` // axes tried in order, with the GFLOPs each reached
	WithinTolerance bool     `json:"within_tolerance"`
	Final           Point    `json:"final"`
}

// Files written under Config.Out.
const (
	TrajectoryJSON = "trajectory.json"
	TrajectoryCSV  = "trajectory.csv"
	TrajectoryPNG  = "trajectory.png"
	candidatesDir  = "candidates"
	resultFile     = "result.json"
)

// search holds one run's state.
type search struct {
	cfg     Config
	cost    costFunc
	trainer Trainer
	log     *slog.Logger

	mu   sync.Mutex
	done map[string]Result // finished candidates by key, from disk and this run
}

// Run performs the search and writes its outputs. The Trainer is called only for
// candidates without a recorded result under Out.
func Run(ctx context.Context, cfg Config, tr Trainer) (Trajectory, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Trajectory{}, err
	}
	s := &search{cfg: cfg, cost: macsOf(cfg.NumClasses), trainer: tr, log: cfg.Logger.With("component", "expand")}
	if err := os.MkdirAll(filepath.Join(cfg.Out, candidatesDir), 0o755); err != nil {
		return Trajectory{}, fmt.Errorf("expand: %w", err)
	}
	// Results are only comparable on one task: refuse an output directory holding a
	// search over another number of classes (a changed target, factor or axes is fine:
	// finished candidates stay valid).
	if prev, err := ReadTrajectory(cfg.Out); err == nil && prev.NumClasses != cfg.NumClasses {
		return Trajectory{}, fmt.Errorf("%w: %s holds a search over %d classes, this one has %d",
			ErrBadConfig, cfg.Out, prev.NumClasses, cfg.NumClasses)
	}
	if s.done, err = loadResults(cfg.Out); err != nil {
		return Trajectory{}, err
	}
	if len(s.done) > 0 {
		s.log.Info("resuming", "finished_candidates", len(s.done))
	}
	return s.run(ctx)
}

func (s *search) run(ctx context.Context) (Trajectory, error) {
	cfg := s.cfg
	tj := Trajectory{Version: 1, TargetMACs: cfg.TargetMACs, TargetGFLOP: float64(cfg.TargetMACs) / 1e9,
		Factor: cfg.Factor, Axes: cfg.Axes, Epochs: cfg.Epochs, FinalEpochs: cfg.FinalEpochs, NumClasses: cfg.NumClasses}

	baseMACs, ok := s.cost(cfg.Base)
	if !ok {
		return tj, fmt.Errorf("%w: base factors do not build", ErrBadConfig)
	}
	if float64(baseMACs) >= float64(cfg.TargetMACs)*(1+cfg.Tolerance) {
		return tj, fmt.Errorf("%w: the base network already costs %.4g GFLOPs, above the target %.4g",
			ErrBadConfig, float64(baseMACs)/1e9, float64(cfg.TargetMACs)/1e9)
	}
	base, err := s.candidate(PhaseBase, 0, "", cfg.Base, baseMACs, cfg.Epochs)
	if err != nil {
		return tj, err
	}
	pts, err := s.trainAll(ctx, []Candidate{base})
	if err != nil {
		return tj, err
	}
	cur := pts[0]
	cur.Chosen, cur.MACsRatio = true, 1
	tj.Base = cur
	tj.Path = []Point{cur}
	if err := s.write(tj); err != nil {
		return tj, err
	}

	for stepN := 1; cur.MACs < cfg.TargetMACs; stepN++ {
		if stepN > cfg.MaxSteps {
			return tj, fmt.Errorf("%w: target not passed after %d steps", ErrNoProgress, cfg.MaxSteps)
		}
		st := Step{Step: stepN, From: cur.Key}
		var cands []Candidate
		for _, a := range cfg.Axes {
			p, ok := expandAxis(cur.Factors, cur.MACs, a, cfg.Factor, s.cost)
			if !ok {
				st.Skipped = append(st.Skipped, string(a)+": cannot grow")
				continue
			}
			c, err := s.candidate(PhaseExpand, stepN, a, p.f, p.macs, cfg.Epochs)
			if err != nil {
				return tj, err
			}
			cands = append(cands, c)
		}
		if len(cands) == 0 {
			return tj, fmt.Errorf("%w: no axis can grow at step %d", ErrNoProgress, stepN)
		}
		pts, err := s.trainAll(ctx, cands)
		if err != nil {
			return tj, err
		}
		best := -1
		for i := range pts {
			pts[i].MACsRatio = float64(pts[i].MACs) / float64(cur.MACs)
			pts[i].Score = (pts[i].Result.Accuracy - cur.Result.Accuracy) / math.Log(pts[i].MACsRatio)
			if best < 0 || better(pts[i], pts[best]) {
				best = i
			}
		}
		pts[best].Chosen = true
		st.Candidates = pts
		st.Chosen = pts[best].Axis
		tj.Steps = append(tj.Steps, st)
		cur = pts[best]
		tj.Path = append(tj.Path, cur)
		s.log.Info("step chosen", "step", stepN, "axis", cur.Axis, "gflops", cur.GFLOPs,
			"accuracy", cur.Result.Accuracy, "score", cur.Score)
		if err := s.write(tj); err != nil {
			return tj, err
		}
	}

	con, err := s.contract(ctx, tj.Path)
	if err != nil {
		return tj, err
	}
	tj.Contraction = &con
	tj.Done = true
	if err := s.write(tj); err != nil {
		return tj, err
	}
	s.log.Info("search finished", "axis", con.Axis, "gflops", con.Final.GFLOPs,
		"accuracy", con.Final.Result.Accuracy, "within_tolerance", con.WithinTolerance)
	return tj, nil
}

// better orders candidates: higher score; ties to higher accuracy, then fewer MACs, then
// the earlier axis (stable).
func better(a, b Point) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	if a.Result.Accuracy != b.Result.Accuracy {
		return a.Result.Accuracy > b.Result.Accuracy
	}
	return a.MACs < b.MACs
}

// contract shrinks the last expanded axis of the final path point so its MACs meet the
// target within tolerance. When that axis's granularity cannot get there, the other axes are
// tried, most recently expanded first, then any remaining; the first within tolerance wins,
// else the closest. The result is trained with the final schedule.
func (s *search) contract(ctx context.Context, path []Point) (Contraction, error) {
	cfg := s.cfg
	last := path[len(path)-1]
	target := float64(cfg.TargetMACs)
	var order []x3d.Axis
	for i := len(path) - 1; i >= 1; i-- {
		if !slices.Contains(order, path[i].Axis) {
			order = append(order, path[i].Axis)
		}
	}
	for _, a := range cfg.Axes {
		if !slices.Contains(order, a) {
			order = append(order, a)
		}
	}
	var (
		con    Contraction
		best   pick
		bestAx x3d.Axis
		bestD  = math.Inf(1)
	)
	for _, a := range order {
		p, _ := contractAxis(last.Factors, last.MACs, a, target, s.cost)
		d := logDist(float64(p.macs), target)
		con.Tried = append(con.Tried, fmt.Sprintf("%s:%.4g", a, float64(p.macs)/1e9))
		if d < bestD {
			best, bestAx, bestD = p, a, d
		}
		if within(p.macs, cfg.TargetMACs, cfg.Tolerance) {
			best, bestAx, bestD = p, a, d
			break
		}
	}
	con.Axis = bestAx
	con.WithinTolerance = within(best.macs, cfg.TargetMACs, cfg.Tolerance)
	if !con.WithinTolerance {
		s.log.Warn("contraction cannot meet the target within tolerance", "target_gflops", target/1e9,
			"closest_gflops", float64(best.macs)/1e9, "axis", bestAx)
	}
	c, err := s.candidate(PhaseContract, len(path)-1, bestAx, best.f, best.macs, cfg.FinalEpochs)
	if err != nil {
		return con, err
	}
	pts, err := s.trainAll(ctx, []Candidate{c})
	if err != nil {
		return con, err
	}
	con.Final = pts[0]
	con.Final.MACsRatio = float64(best.macs) / float64(last.MACs)
	con.Final.Chosen = true
	return con, nil
}

// within reports |macs/target - 1| <= tol.
func within(macs, target int64, tol float64) bool {
	return math.Abs(float64(macs)/float64(target)-1) <= tol+1e-12
}

// Key is a candidate's stable identity: its factors and schedule. Two searches (or two
// axes of one step) that reach the same network with the same schedule share the result.
func Key(f x3d.Factors, epochs int) string {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	k := fmt.Sprintf("t%d_tau%d_s%d", f.Frames, f.SamplingRate, f.Crop)
	if f.PoolCrop != 0 && f.PoolCrop != f.Crop {
		k += fmt.Sprintf("_p%d", f.PoolCrop)
	}
	return k + "_w" + g(f.Width) + "_b" + g(f.Bottleneck) + "_d" + g(f.Depth) + "_e" + strconv.Itoa(epochs)
}

func (s *search) candidate(phase string, stepN int, a x3d.Axis, f x3d.Factors, macs int64, epochs int) (Candidate, error) {
	name := fmt.Sprintf("step%d-%s", stepN, a)
	switch phase {
	case PhaseBase:
		name = "base"
	case PhaseContract:
		name = fmt.Sprintf("final-%s", a)
	}
	arch, err := x3d.Build(f, "expand-"+name, s.cfg.NumClasses)
	if err != nil {
		return Candidate{}, fmt.Errorf("expand: %s: %w", name, err)
	}
	key := Key(f, epochs)
	return Candidate{Key: key, Name: name, Phase: phase, Step: stepN, Axis: a, Factors: f, Arch: arch,
		MACs: macs, Epochs: epochs, Dir: filepath.Join(s.cfg.Out, candidatesDir, key)}, nil
}

// trainAll trains the candidates without a recorded result, at most Workers at a time,
// and returns their points in order. The first error cancels the others; finished ones
// stay recorded.
func (s *search) trainAll(ctx context.Context, cands []Candidate) ([]Point, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]Result, len(cands))
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		sem      = make(chan struct{}, s.cfg.Workers)
		inflight = map[string]chan struct{}{} // one training per key within this batch
	)
	for i, c := range cands {
		if r, ok := s.result(c.Key); ok {
			results[i] = r
			continue
		}
		if ch, dup := inflight[c.Key]; dup {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ch
				results[i], _ = s.result(c.Key)
			}()
			continue
		}
		ch := make(chan struct{})
		inflight[c.Key] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			r, err := s.train(ctx, c)
			if err != nil {
				errOnce.Do(func() { firstErr = err; cancel() })
				return
			}
			results[i] = r
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("expand: %w", err)
	}
	pts := make([]Point, len(cands))
	for i, c := range cands {
		pts[i] = Point{Key: c.Key, Name: c.Name, Phase: c.Phase, Step: c.Step, Axis: c.Axis, Factors: c.Factors,
			MACs: c.MACs, GFLOPs: float64(c.MACs) / 1e9, Params: c.Arch.Cost().Params, Epochs: c.Epochs, Result: results[i]}
	}
	return pts, nil
}

func (s *search) result(key string) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.done[key]
	return r, ok
}

// train runs one candidate and records its result on disk before reporting it.
func (s *search) train(ctx context.Context, c Candidate) (Result, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("expand: %w", err)
	}
	s.log.Info("training candidate", "name", c.Name, "key", c.Key, "gflops", float64(c.MACs)/1e9, "epochs", c.Epochs)
	r, err := s.trainer.Train(ctx, c)
	if err != nil {
		return Result{}, fmt.Errorf("expand: training %s (%s): %w", c.Name, c.Key, err)
	}
	if math.IsNaN(r.Accuracy) || r.Accuracy < 0 || r.Accuracy > 1 {
		return Result{}, fmt.Errorf("%w: %s reported accuracy %v", ErrBadResult, c.Key, r.Accuracy)
	}
	rec := resultRecord{Candidate: c, Result: r}
	b, _ := json.MarshalIndent(rec, "", " ")
	if err := writeFileAtomic(filepath.Join(c.Dir, resultFile), b); err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	s.done[c.Key] = r
	s.mu.Unlock()
	return r, nil
}

// resultRecord is candidates/<key>/result.json.
type resultRecord struct {
	Candidate Candidate `json:"candidate"`
	Result    Result    `json:"result"`
}

// loadResults reads every finished candidate under out.
func loadResults(out string) (map[string]Result, error) {
	done := map[string]Result{}
	matches, err := filepath.Glob(filepath.Join(out, candidatesDir, "*", resultFile))
	if err != nil {
		return nil, fmt.Errorf("expand: %w", err)
	}
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			return nil, fmt.Errorf("expand: %w", err)
		}
		var rec resultRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadResult, m, err)
		}
		// The directory name is the key it was trained under; a key that no longer matches
		// its factors (a changed key scheme) is ignored rather than trusted.
		if rec.Candidate.Key != filepath.Base(filepath.Dir(m)) || Key(rec.Candidate.Factors, rec.Candidate.Epochs) != rec.Candidate.Key {
			continue
		}
		done[rec.Candidate.Key] = rec.Result
	}
	return done, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("expand: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("expand: writing %s: %w", path, err)
	}
	return nil
}

// Synthetic is a dry-run Trainer for exercising the search without training: accuracy is a
// fixed smooth function of the factors (every axis helps with diminishing returns, the
// temporal axes most). It says nothing about real networks.
func Synthetic() Trainer {
	return TrainerFunc(func(ctx context.Context, c Candidate) (Result, error) {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		f := c.Factors
		z := 0.5*math.Log(float64(f.Frames)) + 0.3*math.Log(float64(f.Crop)/112) + 0.2*math.Log(f.Width/2) +
			0.1*math.Log(f.Bottleneck) + 0.25*math.Log(f.Depth) + 0.1*math.Log(12/float64(f.SamplingRate))
		return Result{Accuracy: math.Max(0, math.Min(1, 1-0.9*math.Exp(-z)))}, nil
	})
}
