// Package eval measures a model of the contract on labelled videos through the serving
// path: the server's decoder and clipper cut the clips and ONNX Runtime (infer) runs
// the exported model, so the accuracy reported is the accuracy served. Two of the
// paper's test protocols: K uniformly spaced clips × 1 centre crop (the serving
// view), and K clips × 3 spatial crops (left/centre/right along the long side of the
// frame resized to the crop) with a model exported at the larger test crop.
// A video's prediction is the mean of its views' softmax scores.
package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/fit"
	"github.com/actionstream/actionstream/training/x3d"
)

// Options describe one evaluation.
type Options struct {
	Model  string   // ONNX model of the contract
	Labels string   // labels CSV (path,label[,split]), paths relative to it
	Splits []string // splits evaluated; nil = ["test"]
	Clips  int      // K clips per video, uniformly spaced on the serving grid (0 = 10)
	Crops  int      // 1 = centre crop at the model's resize (serving); 3 = left/centre/right at short side = crop
	Batch  int      // clips per ONNX Runtime call (0 = 8)
	// Runtime runs the model; nil = a CPU runtime made (and closed) here.
	Runtime  *infer.Runtime
	Threads  int // ORT intra-op threads when Runtime is nil (0 = ORT default)
	Workers  int // videos decoded in parallel (0 = 2)
	Progress func(done, total int)
}

// ClassResult is one class's share of correctly classified videos.
type ClassResult struct {
	Label  string  `json:"label"`
	Videos int     `json:"videos"`
	Top1   float64 `json:"top1"`
}

// Report is an evaluation's outcome (eval.json).
type Report struct {
	Model         string        `json:"model"`
	ModelName     string        `json:"model_name"`
	Protocol      string        `json:"protocol"`
	Splits        []string      `json:"splits"`
	CropSize      int           `json:"crop_size"`
	ClipsPerVideo int           `json:"clips_per_video"`
	Crops         int           `json:"crops"`
	Videos        int           `json:"videos"`
	Views         int           `json:"views"` // clips × crops run through the model
	Top1          float64       `json:"top1"`
	Top5          float64       `json:"top5"`
	PerClass      []ClassResult `json:"per_class"`
	Labels        []string      `json:"labels"`
	Confusion     [][]int       `json:"confusion"` // rows: true label, columns: predicted
	Seconds       float64       `json:"seconds"`
	InferSeconds  float64       `json:"infer_seconds"`
}

// Run evaluates the model on every video of the chosen splits.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Model == "" || o.Labels == "" {
		return Report{}, fmt.Errorf("%w: model and labels are required", ErrOptions)
	}
	if o.Splits == nil {
		o.Splits = []string{"test"}
	}
	if o.Clips == 0 {
		o.Clips = 10
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Crops != 1 && o.Crops != 3 || o.Clips < 0 {
		return Report{}, fmt.Errorf("%w: %d clips × %d crops (crops: 1 or 3)", ErrOptions, o.Clips, o.Crops)
	}
	start := time.Now()
	rt := o.Runtime
	if rt == nil {
		var err error
		if rt, err = infer.NewRuntime(infer.Options{Threads: o.Threads}); err != nil {
			return Report{}, err
		}
		defer rt.Close()
	}
	m, err := rt.Open(o.Model)
	if err != nil {
		return Report{}, err
	}
	defer m.Close()
	meta := m.Meta
	videos, err := dataset.ReadLabels(o.Labels)
	if err != nil {
		return Report{}, err
	}
	videos = slices.DeleteFunc(videos, func(v dataset.Video) bool { return !slices.Contains(o.Splits, v.Split) })
	if len(videos) == 0 {
		return Report{}, fmt.Errorf("%w: no video in splits %v", ErrNoVideos, o.Splits)
	}
	labelIdx := map[string]int{}
	for i, l := range meta.Labels {
		labelIdx[l] = i
	}
	for _, v := range videos {
		if _, ok := labelIdx[v.Label]; !ok {
			return Report{}, fmt.Errorf("%w: %s: label %q is not one of the model's", ErrOptions, v.Path, v.Label)
		}
	}
	cfg := dataset.Config{Frames: meta.Frames, SamplingRate: meta.SamplingRate, Size: meta.CropSize,
		ResizeShortSide: meta.ResizeShortSide, StoreSize: meta.CropSize, Mean: meta.Mean, Std: meta.Std}
	protocol := fmt.Sprintf("%d clips x 1 centre crop at %d (short side %d)", o.Clips, meta.CropSize, meta.ResizeShortSide)
	if o.Crops == 3 {
		cfg.ResizeShortSide = meta.CropSize
		protocol = fmt.Sprintf("%d clips x 3 crops at %d (short side %d)", o.Clips, meta.CropSize, meta.CropSize)
	}
	lut := dataset.NormLUT(meta.Mean, meta.Std)
	base := filepath.Dir(o.Labels)
	n := len(meta.Labels)
	rep := Report{Model: o.Model, ModelName: meta.Name, Protocol: protocol, Splits: o.Splits, CropSize: meta.CropSize,
		ClipsPerVideo: o.Clips, Crops: o.Crops, Labels: meta.Labels, Confusion: make([][]int, n)}
	for i := range rep.Confusion {
		rep.Confusion[i] = make([]int, n)
	}

	// Decoding runs ahead in workers; the model runs on this goroutine in video order.
	type views struct {
		x   []float32 // [v][3][T][S][S]
		n   int
		err error
	}
	results := make([]chan views, len(videos))
	for i := range results {
		results[i] = make(chan views, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	ahead := make(chan struct{}, 2*o.Workers) // bounds how far decoding runs ahead of inference
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := make(chan struct{}, o.Workers)
		for i := range jobs {
			w <- struct{}{}
			go func(i int) {
				defer func() { <-w }()
				p := videos[i].Path
				if !filepath.IsAbs(p) {
					p = filepath.Join(base, p)
				}
				x, k, err := videoViews(ctx, p, cfg, &lut, o.Clips, o.Crops)
				results[i] <- views{x, k, err}
			}(i)
		}
		for k := 0; k < cap(w); k++ {
			w <- struct{}{}
		}
	}()
	go func() {
		defer close(jobs)
		for i := range videos {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()

	clipLen := 3 * meta.Frames * meta.CropSize * meta.CropSize
	var inferTime time.Duration
	correct1, correct5 := 0, 0
	perN, perOK := make([]int, n), make([]int, n)
	for i, v := range videos {
		var r views
		select {
		case r = <-results[i]:
			<-ahead
		case <-ctx.Done():
			return Report{}, ctx.Err()
		}
		if r.err != nil {
			return Report{}, fmt.Errorf("eval: %s: %w", v.Path, r.err)
		}
		if r.n == 0 {
			continue
		}
		mean := make([]float64, n)
		for b := 0; b < r.n; b += o.Batch {
			k := min(o.Batch, r.n-b)
			t0 := time.Now()
			logits, err := m.Run(r.x[b*clipLen:(b+k)*clipLen], k)
			inferTime += time.Since(t0)
			if err != nil {
				return Report{}, fmt.Errorf("eval: %s: %w", v.Path, err)
			}
			for j := 0; j < k; j++ {
				for c, s := range infer.Scores(meta, logits[j*n:(j+1)*n]) {
					mean[c] += float64(s) / float64(r.n)
				}
			}
		}
		truth := labelIdx[v.Label]
		order := make([]int, n)
		for c := range order {
			order[c] = c
		}
		sort.SliceStable(order, func(a, b int) bool { return mean[order[a]] > mean[order[b]] })
		rep.Confusion[truth][order[0]]++
		perN[truth]++
		if order[0] == truth {
			correct1++
			perOK[truth]++
		}
		if slices.Contains(order[:min(5, n)], truth) {
			correct5++
		}
		rep.Videos++
		rep.Views += r.n
		if o.Progress != nil {
			o.Progress(i+1, len(videos))
		}
	}
	if rep.Videos == 0 {
		return Report{}, fmt.Errorf("%w: every video was too short for one clip", ErrNoVideos)
	}
	rep.Top1 = float64(correct1) / float64(rep.Videos)
	rep.Top5 = float64(correct5) / float64(rep.Videos)
	for c, l := range meta.Labels {
		cr := ClassResult{Label: l, Videos: perN[c], Top1: math.NaN()}
		if perN[c] > 0 {
			cr.Top1 = float64(perOK[c]) / float64(perN[c])
		} else {
			cr.Top1 = -1
		}
		rep.PerClass = append(rep.PerClass, cr)
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.InferSeconds = inferTime.Seconds()
	return rep, nil
}

// videoViews decodes one video and returns its K clips × crops as model input.
func videoViews(ctx context.Context, path string, cfg dataset.Config, lut *[3][256]float32, k, crops int) ([]float32, int, error) {
	clips, err := dataset.VideoClips(ctx, path, cfg)
	if err != nil {
		return nil, 0, err
	}
	clips = uniform(clips, k)
	s, t := cfg.Size, cfg.Frames
	clipLen := 3 * t * s * s
	x := make([]float32, 0, len(clips)*crops*clipLen)
	for _, c := range clips {
		for v := 0; v < crops; v++ {
			off := len(x)
			x = x[:off+clipLen]
			for i, img := range c.Frames {
				w, h := img.Rect.Dx(), img.Rect.Dy()
				x0, y0 := cropOrigin(w, h, s, v, crops)
				for y := 0; y < s; y++ {
					row := img.Pix[(y+y0)*img.Stride+4*x0:]
					for xx := 0; xx < s; xx++ {
						p := row[4*xx : 4*xx+3]
						for ch := 0; ch < 3; ch++ {
							x[off+((ch*t+i)*s+y)*s+xx] = lut[ch][p[ch]]
						}
					}
				}
			}
		}
	}
	return x, len(clips) * crops, nil
}

// cropOrigin places view v of n: n = 1 is the decoder's centre crop; n = 3 is the
// start, centre and end of the long side.
func cropOrigin(w, h, s, v, n int) (int, int) {
	x0, y0 := (w-s)/2, (h-s)/2
	if n == 3 && v != 1 {
		end := v == 2
		if w >= h {
			x0 = 0
			if end {
				x0 = w - s
			}
		} else {
			y0 = 0
			if end {
				y0 = h - s
			}
		}
	}
	return x0, y0
}

// uniform picks k clips spaced evenly over the grid (all when there are no more).
func uniform(c []dataset.ClipPictures, k int) []dataset.ClipPictures {
	if k == 0 || len(c) <= k {
		return c
	}
	out := make([]dataset.ClipPictures, k)
	for i := range out {
		j := 0
		if k > 1 {
			j = int(math.Round(float64(i) * float64(len(c)-1) / float64(k-1)))
		}
		out[i] = c[j]
	}
	return out
}

// Write saves the report as JSON and the confusion matrix as a PNG.
func (r Report) Write(jsonPath, confusionPNG string) error {
	if jsonPath != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		if err := os.WriteFile(jsonPath, b, 0o644); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
	}
	if confusionPNG != "" {
		title := fmt.Sprintf("%s top-1 %.1f%%", r.ModelName, 100*r.Top1)
		if err := fit.WriteConfusion(confusionPNG, title, r.Labels, r.Confusion); err != nil {
			return err
		}
	}
	return nil
}

// AtCrop returns the network run fully convolutionally at another crop (for the
// larger-test-crop protocol): the same layers and weights, the head's pool sized for
// the training crop.
func AtCrop(a x3d.Arch, crop int) (x3d.Arch, error) {
	f := a.Factors
	if f.PoolCrop == 0 {
		f.PoolCrop = f.Crop
	}
	f.Crop = crop
	b, err := x3d.Build(f, a.Name, a.NumClasses)
	if err != nil {
		return x3d.Arch{}, fmt.Errorf("%w: crop %d: %w", ErrOptions, crop, err)
	}
	b.Head.Dropout = a.Head.Dropout
	if err := b.CheckCrop(crop); err != nil {
		return x3d.Arch{}, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return b, nil
}
