package eval

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/detect"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/training/dataset"
)

// EventsOptions is an evaluation of `run` itself with a detection model: every video goes
// through the serving pipeline (decoder, clipper, model, tracker, action lifecycle) as
// `actionstream run` would send it, and its events are held against the true boxes.
type EventsOptions struct {
	Model          string   // detection model of the contract
	Labels         string   // labels CSV (train synth --actors N); paths relative to it
	Boxes          string   // boxes.jsonl; "" = beside Labels
	Splits         []string // nil = ["test"]
	PersonDetector infer.PersonDetectorConfig
	Threads        int     // ORT intra-op threads (0 = run's rule)
	IoU            float64 // match threshold (0 = 0.5)
	Progress       func(done, total int)
}

// EventsReport is the run-level measure (events.json).
type EventsReport struct {
	Model  string   `json:"model"`
	Splits []string `json:"splits"`
	Videos int      `json:"videos"`
	IoU    float64  `json:"iou"`
	// Events are the per-actor action events (started, updated, ended); Matched of them have a
	// box with IoU >= the threshold on the true actor doing the event's action, at its key frame.
	Events  int `json:"events"`
	Matched int `json:"matched"`
	// Actors are the true actors on the key frames of the videos' clips; Found of them were
	// matched (IoU >= the threshold, one box per true actor per clip: matchOneToOne) by some
	// actor of at least one clip, and OneID of those by actors of one id only, through the video.
	Actors  int     `json:"actors"`
	Found   int     `json:"found"`
	OneID   int     `json:"one_id"`
	Clips   int     `json:"clips"`
	Seconds float64 `json:"seconds"`
}

// MatchedShare is Matched / Events (0 with no events).
func (r EventsReport) MatchedShare() float64 { return share(r.Matched, r.Events) }

// OneIDShare is OneID / Actors: an actor never found does not keep an id either.
func (r EventsReport) OneIDShare() float64 { return share(r.OneID, r.Actors) }

// OneIDOfFound is OneID / Found: the tracker's share, detection misses left out.
func (r EventsReport) OneIDOfFound() float64 { return share(r.OneID, r.Found) }

func share(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// collector is the sink of one video's run.
type collector struct {
	mu  sync.Mutex
	evs []events.Event
}

func (c *collector) Write(_ context.Context, b []events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, b...)
	return nil
}
func (c *collector) Close(context.Context) error { return nil }

// RunEvents runs each video of the splits through the pipeline and measures its events.
func RunEvents(ctx context.Context, o EventsOptions) (EventsReport, error) {
	if o.Model == "" || o.Labels == "" {
		return EventsReport{}, fmt.Errorf("%w: model and labels are required", ErrOptions)
	}
	if o.Splits == nil {
		o.Splits = []string{"test"}
	}
	if o.IoU == 0 {
		o.IoU = 0.5
	}
	if o.Boxes == "" {
		o.Boxes = filepath.Join(filepath.Dir(o.Labels), "boxes.jsonl")
	}
	start := time.Now()
	videos, err := dataset.ReadLabels(o.Labels)
	if err != nil {
		return EventsReport{}, err
	}
	videos = slices.DeleteFunc(videos, func(v dataset.Video) bool { return !slices.Contains(o.Splits, v.Split) })
	if len(videos) == 0 {
		return EventsReport{}, fmt.Errorf("%w: no video in splits %v", ErrNoVideos, o.Splits)
	}
	boxes, err := dataset.ReadBoxes(o.Boxes)
	if err != nil {
		return EventsReport{}, err
	}
	rep := EventsReport{Model: o.Model, Splits: o.Splits, IoU: o.IoU}
	base := filepath.Dir(o.Labels)
	for vi, v := range videos {
		p := v.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		evs, err := runVideo(ctx, o, p)
		if err != nil {
			return EventsReport{}, fmt.Errorf("eval: %s: %w", v.Path, err)
		}
		if err := rep.add(evs, func(pts float64) ([]dataset.BoxActor, error) { return boxes.At(v.Path, pts) }); err != nil {
			return EventsReport{}, fmt.Errorf("eval: %s: %w", v.Path, err)
		}
		rep.Videos++
		if o.Progress != nil {
			o.Progress(vi+1, len(videos))
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// runVideo is `actionstream run --model M --input path` with clip.scored on, into memory.
func runVideo(ctx context.Context, o EventsOptions, path string) ([]events.Event, error) {
	cfg := configs.Default()
	cfg.Model.Path = o.Model
	cfg.Model.Runtime.Threads = o.Threads
	cfg.Streams = []configs.Stream{{ID: "eval", URL: path}}
	cfg.Events.ClipScored = true
	cfg.Detection.PersonDetector = o.PersonDetector
	cfg.HTTP.Addr = ""
	cfg.ShutdownTimeout = configs.Duration(time.Minute)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	out := &collector{}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), OneShot: true, Sinks: []sink.Sink{out}})
	if err != nil {
		return nil, err
	}
	if err := p.Run(ctx); err != nil {
		return nil, err
	}
	if m := p.Model().Meta; !m.IsDetection() {
		return nil, fmt.Errorf("%w: %s is a %s model (the events evaluation needs a detection model)", ErrOptions, o.Model, m.Task)
	}
	return out.evs, nil
}

// add measures one video's events; truth gives its true actors at a key frame's PTS.
func (r *EventsReport) add(evs []events.Event, truth func(pts float64) ([]dataset.BoxActor, error)) error {
	ids := map[int]map[string]bool{} // true actor -> the actor ids that matched it
	for _, e := range evs {
		if e.Data.KeyPTS == nil {
			continue
		}
		at, err := truth(*e.Data.KeyPTS)
		if err != nil {
			return err
		}
		switch e.Type {
		case events.TypeActionStarted, events.TypeActionUpdated, events.TypeActionEnded:
			r.Events++
			for _, a := range at {
				if a.Label == e.Data.Label && e.Data.Box != nil && float64(detect.IoU(boxOf(*e.Data.Box), truthBox(a.Box))) >= r.IoU {
					r.Matched++
					break
				}
			}
		case events.TypeClipScored:
			r.Clips++
			for _, a := range at {
				if ids[a.ID] == nil {
					ids[a.ID] = map[string]bool{}
				}
			}
			for ti, di := range matchOneToOne(at, e.Data.Actors, r.IoU) {
				if di >= 0 {
					ids[at[ti].ID][e.Data.Actors[di].ActorID] = true
				}
			}
		}
	}
	for _, matched := range ids {
		r.Actors++
		if len(matched) > 0 {
			r.Found++
		}
		if len(matched) == 1 {
			r.OneID++
		}
	}
	return nil
}

// matchOneToOne pairs the true actors of one key frame with the clip's actors, each at most
// once, greedily by IoU (highest first, at least min), as the MOT benchmarks count which track
// is on which actor: a box over two overlapping actors is one of them, not both. It returns, per
// true actor, the index of its actor or -1.
func matchOneToOne(truth []dataset.BoxActor, found []events.ActorScore, min float64) []int {
	type pair struct {
		t, d int
		iou  float64
	}
	var pairs []pair
	for ti, a := range truth {
		for di, d := range found {
			if iou := float64(detect.IoU(boxOf(d.Box), truthBox(a.Box))); iou >= min {
				pairs = append(pairs, pair{ti, di, iou})
			}
		}
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return cmp.Compare(b.iou, a.iou) })
	out := make([]int, len(truth))
	for i := range out {
		out[i] = -1
	}
	used := make([]bool, len(found))
	for _, p := range pairs {
		if out[p.t] < 0 && !used[p.d] {
			out[p.t], used[p.d] = p.d, true
		}
	}
	return out
}

func boxOf(b events.Box) detect.Box { return detect.Box{b.X1, b.Y1, b.X2, b.Y2} }

func truthBox(b [4]float64) detect.Box {
	return detect.Box{float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3])}
}

// Report prints the measure and, with dir, writes dir/events.json.
func (r EventsReport) Report(w io.Writer, dir string) error {
	fmt.Fprintf(w, "%s through run: %d videos, %d clips, %d per-actor events, %d true actors\n", filepath.Base(r.Model), r.Videos, r.Clips, r.Events, r.Actors)
	fmt.Fprintf(w, "events with the true actor's box (IoU >= %.2g) and action %.2f%% (%d/%d), actors keeping one id %.2f%% (%d/%d; %.2f%% of the %d found)\n",
		r.IoU, 100*r.MatchedShare(), r.Matched, r.Events, 100*r.OneIDShare(), r.OneID, r.Actors, 100*r.OneIDOfFound(), r.Found)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	path := filepath.Join(dir, "events.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	_, err = fmt.Fprintf(w, "wrote %s\n", path)
	return err
}
