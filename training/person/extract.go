// Package person makes the small person detector of the RoI detection mode: it takes
// the key frames the serving path would give a person detector out of `train synth`
// videos (every actor is a person), trains a detector on them with the PyTorch trainer
// (training/python, person.py; exported in the YOLOX format) and scores it through the
// serving detector (infer/persondet): box precision and recall at IoU 0.5.
package person

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/actionstream/actionstream/infer/persondet"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/synth"
)

// Files Set.Write leaves in a directory (what person.py reads).
const (
	IndexFile  = "person-index.json"
	ImagesFile = "person-images.u8"
)

// ExtractConfig is the serving geometry the images are taken with.
type ExtractConfig struct {
	// Size is S, the action model's crop: images are the S×S centre crop; 0 = 112.
	Size int
	// ResizeShortSide is the short side before the crop; 0 = Size (the whole square frame).
	ResizeShortSide int
	// Frames and SamplingRate are the clip grid whose samples are taken (every distinct
	// sampled frame becomes an image); 0 = 4 and 12 (X3D-XS).
	Frames, SamplingRate int
	// Splits keeps videos of these labels.csv splits; nil = all.
	Splits []string
	Logger *slog.Logger
}

func (c ExtractConfig) withDefaults() (ExtractConfig, error) {
	if c.Size == 0 {
		c.Size = 112
	}
	if c.ResizeShortSide == 0 {
		c.ResizeShortSide = c.Size
	}
	if c.Frames == 0 {
		c.Frames = 4
	}
	if c.SamplingRate == 0 {
		c.SamplingRate = 12
	}
	if c.Size < 16 || c.ResizeShortSide < c.Size || c.Frames < 1 || c.SamplingRate < 1 {
		return c, fmt.Errorf("%w: size %d, resize %d, frames %d, sampling rate %d", ErrBadOptions, c.Size, c.ResizeShortSide, c.Frames, c.SamplingRate)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// ImageInfo says where an image came from and what is on it.
type ImageInfo struct {
	Video string `json:"video"`
	Split string `json:"split"`
	Frame int    `json:"frame"`
	// Boxes are the actors' boxes, [x1, y1, x2, y2] fractions of the crop.
	Boxes [][4]float32 `json:"boxes"`
}

// Set is a set of S×S RGB images with their true boxes.
type Set struct {
	Size   int         `json:"size"`
	Images []ImageInfo `json:"images"`
	Pix    []uint8     `json:"-"` // [N][S][S][3]
}

// Image is image i, as the detector takes it.
func (s *Set) Image(i int) persondet.Image {
	n := 3 * s.Size * s.Size
	return persondet.Image{Width: s.Size, Height: s.Size, Pix: s.Pix[i*n : (i+1)*n]}
}

// Extract decodes every video of a `train synth` directory through the serving path
// (demux, decoder, clipper: dataset.VideoClips) and keeps each distinct sampled frame's
// centre crop with the actors' boxes of that frame (boxes.jsonl), mapped into the crop.
// A box less than half inside the crop is left out.
func Extract(ctx context.Context, dir string, cfg ExtractConfig) (*Set, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	videos, err := dataset.ReadLabels(filepath.Join(dir, synth.LabelsFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadData, err)
	}
	frames, err := readBoxes(filepath.Join(dir, synth.BoxesFile))
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, s := range cfg.Splits {
		keep[s] = true
	}
	set := &Set{Size: cfg.Size}
	for _, v := range videos {
		if len(keep) > 0 && !keep[v.Split] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lines := frames[v.Path]
		if len(lines) == 0 {
			return nil, fmt.Errorf("%w: %s has no lines in %s", ErrBadData, v.Path, synth.BoxesFile)
		}
		if err := set.addVideo(ctx, filepath.Join(dir, v.Path), v, lines, cfg); err != nil {
			return nil, err
		}
	}
	if len(set.Images) == 0 {
		return nil, fmt.Errorf("%w: %s: no images (splits %v)", ErrBadData, dir, cfg.Splits)
	}
	cfg.Logger.Info("person images extracted", "component", "training/person", "dir", dir, "images", len(set.Images))
	return set, nil
}

// readBoxes reads boxes.jsonl into each video's lines in frame order.
func readBoxes(path string) (map[string][]synth.FrameLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadData, err)
	}
	defer f.Close()
	out := map[string][]synth.FrameLine{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var fl synth.FrameLine
		if err := json.Unmarshal(sc.Bytes(), &fl); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", ErrBadData, path, n, err)
		}
		out[fl.Path] = append(out[fl.Path], fl)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadData, path, err)
	}
	for _, lines := range out {
		sort.Slice(lines, func(i, j int) bool { return lines[i].Frame < lines[j].Frame })
	}
	return out, nil
}

func (s *Set) addVideo(ctx context.Context, path string, v dataset.Video, lines []synth.FrameLine, cfg ExtractConfig) error {
	clips, err := dataset.VideoClips(ctx, path, dataset.Config{
		Frames: cfg.Frames, SamplingRate: cfg.SamplingRate, Size: cfg.Size, ResizeShortSide: cfg.ResizeShortSide,
		Workers: 1, Logger: cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("person: %s: %w", path, err)
	}
	interval := time.Duration(cfg.SamplingRate) * time.Second / 30
	seen := map[int]bool{}
	S := cfg.Size
	for _, c := range clips {
		for i, pic := range c.Frames {
			// The sample's frame: the first at or after its target (the clipper's rule;
			// Start is sample 0's frame time, at most a frame after the grid's target).
			target := (c.Start + time.Duration(i)*interval).Seconds() - 1e-4
			k := sort.Search(len(lines), func(j int) bool { return lines[j].PTS >= target })
			if k == len(lines) || seen[k] {
				continue
			}
			seen[k] = true
			w, h := pic.Rect.Dx(), pic.Rect.Dy()
			x0, y0 := (w-S)/2, (h-S)/2
			if x0 < 0 || y0 < 0 {
				return fmt.Errorf("person: %s: %dx%d picture smaller than the %d crop", path, w, h, S)
			}
			for y := 0; y < S; y++ {
				row := pic.Pix[(y+y0)*pic.Stride+4*x0:]
				for x := 0; x < S; x++ {
					s.Pix = append(s.Pix, row[4*x], row[4*x+1], row[4*x+2])
				}
			}
			info := ImageInfo{Video: v.Path, Split: v.Split, Frame: lines[k].Frame, Boxes: [][4]float32{}}
			for _, b := range lines[k].Actors {
				if box, ok := toCrop(b, w, h, x0, y0, S); ok {
					info.Boxes = append(info.Boxes, box)
				}
			}
			s.Images = append(s.Images, info)
		}
	}
	return nil
}

// toCrop maps a box in source-frame fractions into fractions of the centre crop of a
// w×h picture at (x0, y0); false when less than half of it is inside.
func toCrop(b synth.Box, w, h, x0, y0, s int) ([4]float32, bool) {
	fx := func(x float64) float64 { return (x*float64(w) - float64(x0)) / float64(s) }
	fy := func(y float64) float64 { return (y*float64(h) - float64(y0)) / float64(s) }
	x1, y1, x2, y2 := fx(b.X1), fy(b.Y1), fx(b.X2), fy(b.Y2)
	area := (x2 - x1) * (y2 - y1)
	c := func(v float64) float64 { return min(1, max(0, v)) }
	cx1, cy1, cx2, cy2 := c(x1), c(y1), c(x2), c(y2)
	if area <= 0 || (cx2-cx1)*(cy2-cy1) < area/2 {
		return [4]float32{}, false
	}
	return [4]float32{float32(cx1), float32(cy1), float32(cx2), float32(cy2)}, true
}

// Write leaves IndexFile and ImagesFile in dir.
func (s *Set) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("person: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("person: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644); err != nil {
		return fmt.Errorf("person: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ImagesFile), s.Pix, 0o644); err != nil {
		return fmt.Errorf("person: %w", err)
	}
	return nil
}
