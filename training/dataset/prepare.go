package dataset

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/media"
)

// Contract defaults (Kinetics normalisation, as the exported models use).
var (
	DefaultMean = [3]float32{0.45, 0.45, 0.45}
	DefaultStd  = [3]float32{0.225, 0.225, 0.225}
)

// Config describes how videos become clips. Frames, SamplingRate, Size,
// ResizeShortSide, Mean and Std must be the model's (what its ONNX metadata will
// say), since they are what the server will use.
type Config struct {
	// Labels fixes the label order (the logits'); nil = LabelOrder(the CSV, ""):
	// classes.txt beside it, else first appearance. A CSV label not in Labels is an error.
	Labels                []string
	Frames, SamplingRate  int
	Size, ResizeShortSide int        // S and R (0 = ⌊8/7·S⌋, X3D's test resize)
	StoreSize             int        // Q, S ≤ Q ≤ R (0 = R): room for crop/jitter augmentation
	Mean, Std             [3]float32 // zero = DefaultMean / DefaultStd
	Hop                   time.Duration
	ClipsPerVideo         int      // K uniformly spaced clips of each video's grid; 0 = all
	Splits                []string // splits to keep; nil = all in the CSV
	// Boxes, when set, is a boxes.jsonl file (docs/DATASETS.md): the dataset is then a
	// detection dataset, each clip's Item listing the actors at its key frame, and a CSV
	// label may name several actors' classes joined by "|".
	Boxes    string
	Workers  int // videos decoded in parallel; 0 = NumCPU
	Logger   *slog.Logger
	Progress func(done, total int) // after each video, serialised
}

func (c Config) withDefaults() (Config, error) {
	if c.Frames <= 0 || c.SamplingRate <= 0 || c.Size <= 0 {
		return c, fmt.Errorf("%w: frames %d, sampling rate %d, size %d", ErrConfig, c.Frames, c.SamplingRate, c.Size)
	}
	if c.ResizeShortSide == 0 {
		c.ResizeShortSide = c.Size * 8 / 7
	}
	if c.StoreSize == 0 {
		c.StoreSize = c.ResizeShortSide
	}
	if c.ResizeShortSide < c.Size || c.StoreSize < c.Size || c.StoreSize > c.ResizeShortSide {
		return c, fmt.Errorf("%w: need size %d ≤ store %d ≤ resize %d", ErrConfig, c.Size, c.StoreSize, c.ResizeShortSide)
	}
	if c.Mean == ([3]float32{}) {
		c.Mean = DefaultMean
	}
	if c.Std == ([3]float32{}) {
		c.Std = DefaultStd
	}
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.ClipsPerVideo < 0 {
		return c, fmt.Errorf("%w: clips per video %d", ErrConfig, c.ClipsPerVideo)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func (c Config) clipperConfig() clipper.Config {
	return clipper.Config{Frames: c.Frames, SamplingRate: c.SamplingRate, Size: c.Size, Hop: c.Hop}
}

// Prepare decodes every video listed in the labels CSV and writes the dataset into
// out (created if needed; existing dataset files are replaced).
func Prepare(ctx context.Context, labelsCSV, out string, cfg Config) (Index, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Index{}, err
	}
	if err := cfg.clipperConfig().WithDefaults().Validate(); err != nil {
		return Index{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	videos, err := ReadLabels(labelsCSV)
	if err != nil {
		return Index{}, err
	}
	if cfg.Splits != nil {
		videos = slices.DeleteFunc(videos, func(v Video) bool { return !slices.Contains(cfg.Splits, v.Split) })
		if len(videos) == 0 {
			return Index{}, fmt.Errorf("%w: no video in splits %v", ErrLabels, cfg.Splits)
		}
	}
	labels := cfg.Labels
	if labels == nil {
		if labels, err = LabelOrder(labelsCSV, ""); err != nil {
			return Index{}, err
		}
	}
	labelIdx := map[string]int{}
	for i, l := range labels {
		labelIdx[l] = i
	}
	var boxes Boxes
	if cfg.Boxes != "" {
		if boxes, err = ReadBoxes(cfg.Boxes); err != nil {
			return Index{}, err
		}
	}
	for _, v := range videos {
		parts := []string{v.Label}
		if boxes != nil {
			parts = strings.Split(v.Label, "|")
		}
		for _, l := range parts {
			if _, ok := labelIdx[l]; !ok {
				return Index{}, fmt.Errorf("%w: %s: label %q is not in the label list", ErrLabels, v.Path, l)
			}
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return Index{}, fmt.Errorf("dataset: %w", err)
	}
	base := filepath.Dir(labelsCSV)
	lut := NormLUT(cfg.Mean, cfg.Std)
	idx := Index{
		Format: Format, SchemaVersion: SchemaVersion, Labels: labels,
		Frames: cfg.Frames, SamplingRate: cfg.SamplingRate, Size: cfg.Size,
		ResizeShortSide: cfg.ResizeShortSide, StoreSize: cfg.StoreSize,
		CropOffset: (cfg.StoreSize - cfg.Size) / 2, Mean: cfg.Mean, Std: cfg.Std,
		Hop: cfg.clipperConfig().WithDefaults().Hop.Seconds(), ClipsPerVideo: cfg.ClipsPerVideo,
		LUT: LUTFile, Source: filepath.Base(labelsCSV), Splits: map[string]Split{},
	}
	if err := writeLUT(filepath.Join(out, LUTFile), &lut); err != nil {
		return Index{}, err
	}

	// Workers decode videos in parallel; results are written in CSV order so a
	// dataset is byte-for-byte reproducible.
	type result struct {
		clips []storedClip
		err   error
	}
	results := make([]chan result, len(videos))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(cfg.Workers, len(videos)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := videos[i].Path
				if !filepath.IsAbs(p) {
					p = filepath.Join(base, p)
				}
				c, err := videoClips(ctx, p, cfg, &lut)
				results[i] <- result{c, err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range videos {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()

	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	skipped := 0
	for i, v := range videos {
		var r result
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return Index{}, ctx.Err()
		}
		if r.err != nil {
			return Index{}, fmt.Errorf("%w: %s: %w", ErrVideo, v.Path, r.err)
		}
		if len(r.clips) == 0 {
			skipped++
			cfg.Logger.Warn("video too short for one clip", "component", "dataset", "video", v.Path)
		}
		chosen := pick(r.clips, cfg.ClipsPerVideo)
		f := files[v.Split]
		if f == nil {
			name := v.Split + ".u8"
			if f, err = os.Create(filepath.Join(out, name)); err != nil {
				return Index{}, fmt.Errorf("dataset: %w", err)
			}
			files[v.Split] = f
			idx.Splits[v.Split] = Split{File: name}
		}
		sp := idx.Splits[v.Split]
		for _, c := range chosen {
			if _, err := f.Write(c.data); err != nil {
				return Index{}, fmt.Errorf("dataset: %w", err)
			}
			it := Item{Video: v.Path, Clip: c.index, Start: c.start.Seconds(), End: c.end.Seconds()}
			label := labelIdx[strings.Split(v.Label, "|")[0]]
			if boxes != nil {
				it.KeyPTS = c.keyPTS.Seconds()
				if it.Actors, err = boxes.keyActors(v.Path, it.KeyPTS, c.w, c.h, cfg.Size, labelIdx); err != nil {
					return Index{}, err
				}
				if len(it.Actors) > 0 {
					label = it.Actors[0].Label
				}
			}
			sp.Clips++
			sp.Labels = append(sp.Labels, label)
			sp.Items = append(sp.Items, it)
		}
		idx.Splits[v.Split] = sp
		if cfg.Progress != nil {
			cfg.Progress(i+1, len(videos))
		}
	}
	for name, f := range files {
		if err := f.Close(); err != nil {
			return Index{}, fmt.Errorf("dataset: %s: %w", name, err)
		}
		delete(files, name)
	}
	total := 0
	for _, sp := range idx.Splits {
		total += sp.Clips
	}
	if total == 0 {
		return Index{}, fmt.Errorf("%w: no video gave a clip (%d too short)", ErrVideo, skipped)
	}
	b, err := json.MarshalIndent(idx, "", " ")
	if err != nil {
		return Index{}, fmt.Errorf("dataset: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, IndexFile), b, 0o644); err != nil {
		return Index{}, fmt.Errorf("dataset: %w", err)
	}
	return idx, nil
}

// pick returns k uniformly spaced clips (all if k is 0 or there are no more than k).
func pick(c []storedClip, k int) []storedClip {
	if k == 0 || len(c) <= k {
		return c
	}
	out := make([]storedClip, k)
	for i := range out {
		j := 0
		if k > 1 {
			j = int(math.Round(float64(i) * float64(len(c)-1) / float64(k-1)))
		}
		out[i] = c[j]
	}
	return out
}

func writeLUT(path string, lut *[3][256]float32) error {
	b := make([]byte, 3*256*4)
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			binary.LittleEndian.PutUint32(b[4*(256*c+v):], math.Float32bits(lut[c][v]))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

// storedClip is one clip as stored: uint8 [3][T][Q][Q].
type storedClip struct {
	data       []byte
	index      int
	start, end time.Duration
	keyPTS     time.Duration // the key frame's (sample T/2)
	w, h       int           // the decoder's picture (before the crop)
}

// videoClips runs the serving decode path over one file and returns every clip of
// its sampling grid in the stored form.
func videoClips(ctx context.Context, path string, cfg Config, lut *[3][256]float32) ([]storedClip, error) {
	pics, err := clipPictures(ctx, path, cfg, lut)
	if err != nil {
		return nil, err
	}
	s, q := cfg.Size, cfg.StoreSize
	m := (q - s) / 2
	out := make([]storedClip, len(pics))
	for k, c := range pics {
		t := len(c.Frames)
		data := make([]byte, 3*t*q*q)
		for i, img := range c.Frames {
			w, h := img.Rect.Dx(), img.Rect.Dy()
			x0, y0 := (w-s)/2-m, (h-s)/2-m
			if x0 < 0 || y0 < 0 || x0+q > w || y0+q > h {
				return nil, fmt.Errorf("%w: %dx%d picture cannot hold a %d square", ErrSkew, w, h, q)
			}
			for y := 0; y < q; y++ {
				row := img.Pix[(y+y0)*img.Stride+4*x0:]
				for x := 0; x < q; x++ {
					p := row[4*x : 4*x+3]
					for ch := 0; ch < 3; ch++ {
						data[(ch*t+i)*q*q+y*q+x] = p[ch]
					}
				}
			}
		}
		key := c.Frames[t/2].Rect
		out[k] = storedClip{data: data, index: c.Index, start: c.Start, end: c.End, keyPTS: c.KeyPTS, w: key.Dx(), h: key.Dy()}
	}
	return out, nil
}

// ClipPictures is one clip of a video's serving grid: for each of its T samples, the
// picture the decoder's scaler made (RGBA, short side ResizeShortSide, not cropped).
// Its centre Size×Size window, through NormLUT, is exactly the served clip.
type ClipPictures struct {
	Index      int
	Start, End time.Duration
	KeyPTS     time.Duration // PTS of the key frame, the middle sample (index T/2)
	Frames     []*image.RGBA
}

// VideoClips decodes one video through the serving path (Demux, Decoder, Clipper with
// cfg's T, τ, S, R, mean, std, hop) and returns every clip of its grid, in order, with
// the uncropped pictures of its samples (for other crops than the centre one).
func VideoClips(ctx context.Context, path string, cfg Config) ([]ClipPictures, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	lut := NormLUT(cfg.Mean, cfg.Std)
	return clipPictures(ctx, path, cfg, &lut)
}

func clipPictures(ctx context.Context, path string, cfg Config, lut *[3][256]float32) ([]ClipPictures, error) {
	cl, err := clipper.New(path, cfg.clipperConfig())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	rec := &recorder{clipper: cl, cfg: cfg, lut: lut, frames: map[uint64]*storedFrame{}}
	dec, err := decode.New(decode.Config{
		Stream: path, Size: cfg.Size, ResizeShortSide: cfg.ResizeShortSide,
		Mean: cfg.Mean, Std: cfg.Std, Logger: cfg.Logger,
	}, rec, func(c *clipper.Clip) { c.Release() })
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	rec.dec = dec
	_, err = demux.Run(ctx, media.DemuxConfig{URL: path}, func(p ingest.Packet) error {
		if err := dec.Decode(p); err != nil {
			return err
		}
		return rec.err
	})
	if err == nil {
		err = dec.Flush()
	}
	if err == nil {
		err = rec.err
	}
	if err != nil {
		return nil, err
	}
	return rec.clips, nil
}

type storedFrame struct {
	pts time.Duration
	img *image.RGBA
}

// recorder is the Sampler the decoder feeds: it passes every frame to the clipper
// (the serving sampling rule, unchanged) and keeps each sampled frame's scaled
// picture, checked against the decoder's own float crop, so the clips the clipper
// completes can be stored as bytes.
type recorder struct {
	clipper *clipper.Clipper
	dec     *decode.Decoder
	cfg     Config
	lut     *[3][256]float32
	frames  map[uint64]*storedFrame // by content hash of the decoder's float frame
	clips   []ClipPictures
	err     error
}

func (r *recorder) Want(pts time.Duration) bool { return r.clipper.Want(pts) }

// Skippable lets the decoder leave the frames no clip needs undecoded, as serving does.
func (r *recorder) Skippable(pts time.Duration) bool { return r.clipper.Skippable(pts) }

func (r *recorder) Add(f *clipper.Frame) []*clipper.Clip {
	if r.err != nil {
		return nil
	}
	img, pts, err := r.dec.Thumbnail()
	if err != nil || pts != f.PTS {
		r.err = fmt.Errorf("%w: scaled picture for %v unavailable (%v, pts %v)", ErrSkew, f.PTS, err, pts)
		return nil
	}
	s := r.cfg.Size
	w, h := img.Rect.Dx(), img.Rect.Dy()
	x0, y0 := (w-s)/2, (h-s)/2
	// The picture's centre crop must convert to exactly what the decoder handed the clipper.
	plane := s * s
	for c := 0; c < 3; c++ {
		for y := 0; y < s; y++ {
			row := img.Pix[(y+y0)*img.Stride+4*x0:]
			for x := 0; x < s; x++ {
				got := r.lut[c][row[4*x+c]]
				if math.Float32bits(got) != math.Float32bits(f.Pixels[c*plane+y*s+x]) {
					r.err = fmt.Errorf("%w: frame %v channel %d (%d,%d): %v from bytes, decoder %v",
						ErrSkew, f.PTS, c, x, y, got, f.Pixels[c*plane+y*s+x])
					return nil
				}
			}
		}
	}
	r.frames[hashPlanes(f.Pixels, 0, 1, plane)] = &storedFrame{pts: f.PTS, img: img}
	clips := r.clipper.Add(f)
	for _, c := range clips {
		t := c.Frames
		pc := ClipPictures{Index: len(r.clips), Start: c.Start, End: c.End, Frames: make([]*image.RGBA, t)}
		for i := 0; i < t; i++ {
			fr := r.frames[hashPlanes(c.Tensor, i, t, plane)]
			if fr == nil {
				r.err = fmt.Errorf("%w: clip %d sample %d matches no sampled frame", ErrSkew, c.Seq, i)
				return clips
			}
			pc.Frames[i] = fr.img
			if i == t/2 {
				pc.KeyPTS = fr.pts
			}
		}
		r.clips = append(r.clips, pc)
		// Later clips start later: frames before this clip's start are done with.
		for k, fr := range r.frames {
			if fr.pts < c.Start {
				delete(r.frames, k)
			}
		}
	}
	return clips
}

// hashPlanes is FNV-1a over the bits of sample i of a [3][t][plane] tensor.
func hashPlanes(x []float32, i, t, plane int) uint64 {
	h := uint64(14695981039346656037)
	for c := 0; c < 3; c++ {
		for _, v := range x[(c*t+i)*plane : (c*t+i+1)*plane] {
			b := math.Float32bits(v)
			for k := 0; k < 4; k++ {
				h ^= uint64(byte(b >> (8 * k)))
				h *= 1099511628211
			}
		}
	}
	return h
}
