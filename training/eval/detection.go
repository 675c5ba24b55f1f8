package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/detect"
	"github.com/actionstream/actionstream/infer/persondet"
	"github.com/actionstream/actionstream/training/dataset"
)

// givenBoxes is the BoxSource of a RoI evaluation on the true boxes: the batch's, set
// before each run, in crop fractions.
type givenBoxes struct{ boxes [][]infer.ScoredBox }

func (g *givenBoxes) Boxes(_ []float32, n int, _ infer.Metadata) ([][]infer.ScoredBox, error) {
	if len(g.boxes) != n {
		return nil, fmt.Errorf("%w: %d clips, boxes for %d", ErrOptions, n, len(g.boxes))
	}
	return g.boxes, nil
}

// detectorBoxes is the BoxSource of a person detector run on each clip's key frame (the
// centre crop the action model sees, so its boxes are crop fractions).
type detectorBoxes struct {
	ctx context.Context // the evaluation's; a BoxSource call has none of its own
	d   *persondet.Detector
}

func (p *detectorBoxes) Boxes(clips []float32, n int, meta infer.Metadata) ([][]infer.ScoredBox, error) {
	per := len(clips) / n
	ims := make([]persondet.Image, n)
	for i := range n {
		c := &clipper.Clip{Tensor: clips[i*per : (i+1)*per], Frames: meta.Frames, Size: meta.CropSize}
		im, err := persondet.KeyFrame(c, meta.Mean, meta.Std)
		if err != nil {
			return nil, err
		}
		ims[i] = im
	}
	dets, err := p.d.DetectBatch(p.ctx, ims)
	if err != nil {
		return nil, err
	}
	out := make([][]infer.ScoredBox, n)
	for i, ds := range dets {
		for _, d := range ds {
			out[i] = append(out[i], infer.ScoredBox{Box: detect.Box(d.Box), Score: d.Score})
		}
	}
	return out, nil
}

// Boxes sources of a RoI evaluation.
const (
	RoIBoxesTrue = "true" // the true key-frame boxes (the upper bound of the RoI head)
)

// DetectionOptions describe a detection evaluation (the AVA frame-level protocol: every
// clip's key frame, its middle sample, is one frame; a detection is (box, label, score)).
type DetectionOptions struct {
	Model  string   // detection model of the contract
	Labels string   // labels CSV (train synth); paths relative to it
	Boxes  string   // boxes.jsonl with every frame's actors; "" = boxes.jsonl beside Labels
	Splits []string // nil = ["test"]
	Clips  int      // K uniformly spaced clips per video; 0 = every clip of the serving grid
	Batch  int      // clips per ONNX Runtime call (0 = 8)
	// RoIBoxes is where a RoI model's boxes come from: RoIBoxesTrue, or (empty) the
	// PersonDetector.
	RoIBoxes       string
	PersonDetector infer.PersonDetectorConfig // Path "" = none
	MinScore       float32                    // single-stage decoding: detection.min_actor_score (0 = 0.3)
	MaxActors      int                        // detection.max_actors (0 = 8)
	IoU            float64                    // match threshold (0 = 0.5)
	Threads        int                        // ORT intra-op threads (0 = ORT default)
	Runtime        *infer.Runtime
	Progress       func(done, total int)
}

// ClassAP is one action class's frame-level average precision.
type ClassAP struct {
	Label  string   `json:"label"`
	Actors int      `json:"actors"` // true actors of this class on the key frames
	AP     *float64 `json:"ap"`     // null when no actor has the class
}

// DetectionReport is a detection evaluation's outcome (eval.json).
type DetectionReport struct {
	Model     string    `json:"model"`
	ModelName string    `json:"model_name"`
	Mode      string    `json:"mode"`
	Protocol  string    `json:"protocol"`
	Splits    []string  `json:"splits"`
	Videos    int       `json:"videos"`
	Frames    int       `json:"frames"` // key frames evaluated
	Actors    int       `json:"actors"` // true actors on them
	MAP       float64   `json:"frame_map"`
	IoU       float64   `json:"iou"`
	PerClass  []ClassAP `json:"per_class"`
	// ActorRecall is the share of true actors that some detected actor overlaps with IoU
	// >= the threshold, whatever its label (single-stage; 1 for true RoI boxes).
	ActorRecall float64 `json:"actor_recall"`
	Detections  int     `json:"detections"` // actors decoded
	Seconds     float64 `json:"seconds"`
}

// Detection is one scored box on one frame (frame-level AP's unit).
type Detection struct {
	Frame int
	Class int
	Score float64
	Box   detect.Box
}

// Truth is one true actor on one frame.
type Truth struct {
	Frame int
	Class int
	Box   detect.Box
}

// FrameAP is the frame-level average precision per class (the PASCAL VOC all-point
// interpolation that the AVA evaluator uses): detections of a class in descending score;
// each is a true positive when the best-overlapping truth of its frame and class has IoU
// >= iou and is not yet matched; AP is the area under the precision envelope. A class
// without truths has nil.
func FrameAP(dets []Detection, truths []Truth, classes int, iou float64) []*float64 {
	out := make([]*float64, classes)
	for c := range classes {
		byFrame := map[int][]int{}
		npos := 0
		for i, t := range truths {
			if t.Class == c {
				byFrame[t.Frame] = append(byFrame[t.Frame], i)
				npos++
			}
		}
		if npos == 0 {
			continue
		}
		var ds []Detection
		for _, d := range dets {
			if d.Class == c {
				ds = append(ds, d)
			}
		}
		sort.SliceStable(ds, func(a, b int) bool { return ds[a].Score > ds[b].Score })
		used := map[int]bool{}
		prec, rec := make([]float64, len(ds)), make([]float64, len(ds))
		hits := 0
		for i, d := range ds {
			best, bi := -1.0, -1
			for _, ti := range byFrame[d.Frame] {
				if o := float64(detect.IoU(d.Box, truths[ti].Box)); o > best {
					best, bi = o, ti
				}
			}
			if bi >= 0 && best >= iou && !used[bi] {
				used[bi] = true
				hits++
			}
			prec[i] = float64(hits) / float64(i+1)
			rec[i] = float64(hits) / float64(npos)
		}
		for i := len(prec) - 2; i >= 0; i-- {
			prec[i] = math.Max(prec[i], prec[i+1])
		}
		ap, prev := 0.0, 0.0
		for i := range prec {
			ap += prec[i] * (rec[i] - prev)
			prev = rec[i]
		}
		out[c] = &ap
	}
	return out
}

// RunDetection evaluates a detection model on every video of the chosen splits.
func RunDetection(ctx context.Context, o DetectionOptions) (DetectionReport, error) {
	if o.Model == "" || o.Labels == "" {
		return DetectionReport{}, fmt.Errorf("%w: model and labels are required", ErrOptions)
	}
	if o.Splits == nil {
		o.Splits = []string{"test"}
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.IoU == 0 {
		o.IoU = 0.5
	}
	if o.Boxes == "" {
		o.Boxes = filepath.Join(filepath.Dir(o.Labels), "boxes.jsonl")
	}
	start := time.Now()
	rt := o.Runtime
	if rt == nil {
		var err error
		if rt, err = infer.NewRuntime(infer.Options{Threads: o.Threads}); err != nil {
			return DetectionReport{}, err
		}
		defer rt.Close()
	}
	m, err := rt.Open(o.Model)
	if err != nil {
		return DetectionReport{}, err
	}
	defer m.Close()
	meta := m.Meta
	if !meta.IsDetection() {
		return DetectionReport{}, fmt.Errorf("%w: %s is a %s model (train eval without --task detection)", ErrOptions, o.Model, meta.Task)
	}
	detCfg := infer.DetectionConfig{MinActorScore: float64(o.MinScore), MaxActors: o.MaxActors}
	if err := m.SetDetection(detCfg); err != nil {
		return DetectionReport{}, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	scorer, err := infer.NewScorer(m.Info(), detCfg) // the serving path's scoring of outputs
	if err != nil {
		return DetectionReport{}, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	roi := meta.Mode == infer.ModeRoI
	truthSource := &givenBoxes{}
	switch {
	case roi && o.RoIBoxes == RoIBoxesTrue && o.PersonDetector.Path == "":
		m.SetBoxSource(truthSource)
	case roi && o.RoIBoxes == "" && o.PersonDetector.Path != "":
		d, err := persondet.Open(rt, o.PersonDetector)
		if err != nil {
			return DetectionReport{}, err
		}
		defer d.Close()
		m.SetBoxSource(&detectorBoxes{ctx: ctx, d: d})
	case roi:
		return DetectionReport{}, fmt.Errorf("%w: a RoI model needs its boxes: one of --boxes true and --person-detector", ErrOptions)
	case o.RoIBoxes != "" || o.PersonDetector.Path != "":
		return DetectionReport{}, fmt.Errorf("%w: --boxes and --person-detector are for RoI models; %s is %s", ErrOptions, o.Model, meta.Mode)
	}
	videos, err := dataset.ReadLabels(o.Labels)
	if err != nil {
		return DetectionReport{}, err
	}
	videos = slices.DeleteFunc(videos, func(v dataset.Video) bool { return !slices.Contains(o.Splits, v.Split) })
	if len(videos) == 0 {
		return DetectionReport{}, fmt.Errorf("%w: no video in splits %v", ErrNoVideos, o.Splits)
	}
	boxes, err := dataset.ReadBoxes(o.Boxes)
	if err != nil {
		return DetectionReport{}, err
	}
	labelIdx := map[string]int{}
	for i, l := range meta.Labels {
		labelIdx[l] = i
	}
	cfg := dataset.Config{Frames: meta.Frames, SamplingRate: meta.SamplingRate, Size: meta.CropSize,
		ResizeShortSide: meta.ResizeShortSide, StoreSize: meta.CropSize, Mean: meta.Mean, Std: meta.Std}
	lut := dataset.NormLUT(meta.Mean, meta.Std)
	base := filepath.Dir(o.Labels)
	ncls := len(meta.Labels)
	rep := DetectionReport{Model: o.Model, ModelName: meta.Name, Mode: meta.Mode, Splits: o.Splits, IoU: o.IoU}
	clipsText := "every clip"
	if o.Clips > 0 {
		clipsText = fmt.Sprintf("%d clips", o.Clips)
	}
	rep.Protocol = fmt.Sprintf("%s per video, key frame (sample %d of %d), centre crop %d (short side %d), AP@%.2g IoU",
		clipsText, meta.Frames/2, meta.Frames, meta.CropSize, meta.ResizeShortSide, o.IoU)
	switch {
	case roi && o.PersonDetector.Path != "":
		rep.Protocol += fmt.Sprintf(", boxes from person detector %s (%s)", filepath.Base(o.PersonDetector.Path), o.PersonDetector.Format)
	case roi:
		rep.Protocol += ", true boxes"
	}
	var dets []Detection
	var truths []Truth
	found := map[int][]detect.Box{} // decoded (or given) boxes per frame
	matched := 0
	frame := 0
	clipLen := 3 * meta.Frames * meta.CropSize * meta.CropSize
	for vi, v := range videos {
		if err := ctx.Err(); err != nil {
			return DetectionReport{}, err
		}
		p := v.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		clips, err := dataset.VideoClips(ctx, p, cfg)
		if err != nil {
			return DetectionReport{}, fmt.Errorf("eval: %s: %w", v.Path, err)
		}
		clips = uniform(clips, o.Clips)
		if len(clips) == 0 {
			continue
		}
		rep.Videos++
		for b := 0; b < len(clips); b += o.Batch {
			batch := clips[b:min(b+o.Batch, len(clips))]
			x := make([]float32, len(batch)*clipLen)
			truthSource.boxes = truthSource.boxes[:0]
			for k, c := range batch {
				fillClip(x[k*clipLen:(k+1)*clipLen], c, meta.CropSize, meta.Frames, &lut)
				key := c.Frames[meta.Frames/2].Rect
				crop, err := detect.CropOf(key.Dx(), key.Dy(), meta.ResizeShortSide, meta.CropSize)
				if err != nil {
					return DetectionReport{}, fmt.Errorf("eval: %s: %w", v.Path, err)
				}
				actors, err := boxes.At(v.Path, c.KeyPTS.Seconds())
				if err != nil {
					return DetectionReport{}, err
				}
				var given []infer.ScoredBox
				for _, a := range actors {
					li, ok := labelIdx[a.Label]
					if !ok {
						return DetectionReport{}, fmt.Errorf("%w: %s: actor label %q is not one of the model's", ErrOptions, v.Path, a.Label)
					}
					src := detect.Box{float32(a.Box[0]), float32(a.Box[1]), float32(a.Box[2]), float32(a.Box[3])}
					truths = append(truths, Truth{Frame: frame + k, Class: li, Box: src})
					if cb := crop.ToCrop(src); cb.Area() > 0 {
						given = append(given, infer.ScoredBox{Box: cb, Score: 1})
					}
				}
				truthSource.boxes = append(truthSource.boxes, given)
			}
			out, err := m.Infer(ctx, x, len(batch))
			if err == nil {
				err = scorer.Check(out, len(batch), m.Info().Where)
			}
			if err != nil {
				return DetectionReport{}, fmt.Errorf("eval: %s: %w", v.Path, err)
			}
			for k, c := range batch {
				key := c.Frames[meta.Frames/2].Rect
				clip := &clipper.Clip{Key: c.KeyPTS, SourceWidth: key.Dx(), SourceHeight: key.Dy()}
				var sc infer.ScoredClip
				if err := scorer.Score(out, k, clip, &sc); err != nil {
					return DetectionReport{}, fmt.Errorf("eval: %s: %w", v.Path, err)
				}
				rep.Detections += len(sc.Actors)
				for _, a := range sc.Actors {
					found[frame+k] = append(found[frame+k], a.Box)
					for c, p := range a.Scores {
						dets = append(dets, Detection{Frame: frame + k, Class: c, Score: float64(a.Score * p), Box: a.Box})
					}
				}
			}
			frame += len(batch)
		}
		if o.Progress != nil {
			o.Progress(vi+1, len(videos))
		}
	}
	if rep.Videos == 0 {
		return DetectionReport{}, fmt.Errorf("%w: every video was too short for one clip", ErrNoVideos)
	}
	rep.Frames, rep.Actors = frame, len(truths)
	// Actor recall: a true actor is found when some decoded box (any label) overlaps it.
	for _, t := range truths {
		for _, b := range found[t.Frame] {
			if float64(detect.IoU(b, t.Box)) >= o.IoU {
				matched++
				break
			}
		}
	}
	if len(truths) > 0 {
		rep.ActorRecall = float64(matched) / float64(len(truths))
	}
	aps := FrameAP(dets, truths, ncls, o.IoU)
	sum, n := 0.0, 0
	for c, l := range meta.Labels {
		ca := ClassAP{Label: l, AP: aps[c]}
		for _, t := range truths {
			if t.Class == c {
				ca.Actors++
			}
		}
		if aps[c] != nil {
			sum += *aps[c]
			n++
		}
		rep.PerClass = append(rep.PerClass, ca)
	}
	if n > 0 {
		rep.MAP = sum / float64(n)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// fillClip writes clip c's centre s×s crop as model input (the decoder's table).
func fillClip(x []float32, c dataset.ClipPictures, s, t int, lut *[3][256]float32) {
	for i, img := range c.Frames {
		w, h := img.Rect.Dx(), img.Rect.Dy()
		x0, y0 := (w-s)/2, (h-s)/2
		for y := 0; y < s; y++ {
			row := img.Pix[(y+y0)*img.Stride+4*x0:]
			for xx := 0; xx < s; xx++ {
				p := row[4*xx : 4*xx+3]
				for ch := 0; ch < 3; ch++ {
					x[((ch*t+i)*s+y)*s+xx] = lut[ch][p[ch]]
				}
			}
		}
	}
}

// Write saves the report as JSON.
func (r DetectionReport) Write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

// Report prints the summary and per-class table to w and, when dir is set, writes
// dir/eval.json.
func (r DetectionReport) Report(w io.Writer, dir string) error {
	fmt.Fprintf(w, "%s (%s): %s\n%d videos, %d key frames, %d true actors, %d detected actors\n", r.ModelName, r.Mode,
		r.Protocol, r.Videos, r.Frames, r.Actors, r.Detections)
	fmt.Fprintf(w, "frame-mAP@%.2g %.2f%%, actor recall %.2f%%\n\n%s", r.IoU, 100*r.MAP, 100*r.ActorRecall, r.Table())
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	p := filepath.Join(dir, "eval.json")
	if err := r.Write(p); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "wrote %s\n", p)
	return err
}

// Table is the per-class AP as a Markdown table (the model card's).
func (r DetectionReport) Table() string {
	var sb strings.Builder
	sb.WriteString("| class | true actors | AP@0.5 |\n|---|---|---|\n")
	for _, c := range r.PerClass {
		ap := "n/a"
		if c.AP != nil {
			ap = fmt.Sprintf("%.3f", *c.AP)
		}
		fmt.Fprintf(&sb, "| %s | %d | %s |\n", c.Label, c.Actors, ap)
	}
	fmt.Fprintf(&sb, "| **frame-mAP** | %d | **%.3f** |\n", r.Actors, r.MAP)
	return sb.String()
}
