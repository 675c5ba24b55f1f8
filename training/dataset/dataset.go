// Package dataset turns a folder of videos and a labels CSV into the clip dataset the
// PyTorch trainer reads, decoding through the very code the server runs (media.Demux,
// decode.Decoder and a clipper.Clipper with the model's T, τ, S, resize and
// normalisation), so a trained model never sees frames the server would not give it.
//
// A dataset directory holds dataset.json (the Index), lut.f32 (the decoder's byte ->
// float table, 3×256 little-endian float32) and one <split>.u8 file per split with the
// clips as uint8 [N][3][T][Q][Q]. Each stored frame is a Q×Q square of the frame as
// the decoder's scaler resized it; its S×S window at (CropOffset, CropOffset) is the
// decoder's centre crop, and the table turns those bytes into the decoder's float32
// values exactly (Prepare checks every frame, the tests check every clip).
package dataset

import (
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Format and SchemaVersion identify a dataset directory (actionstream_trainer/data.py
// checks both).
const (
	Format        = "actionstream-clips"
	SchemaVersion = 1
	IndexFile     = "dataset.json"
	LUTFile       = "lut.f32"
)

// Index is dataset.json.
type Index struct {
	Format          string           `json:"format"`
	SchemaVersion   int              `json:"schema_version"`
	Labels          []string         `json:"labels"`
	Frames          int              `json:"frames"`
	SamplingRate    int              `json:"sampling_rate"`
	Size            int              `json:"size"`              // S, the model's crop
	ResizeShortSide int              `json:"resize_short_side"` // R, short side before cropping
	StoreSize       int              `json:"store_size"`        // Q ≥ S, the stored square
	CropOffset      int              `json:"crop_offset"`       // where the serving S×S crop sits in Q×Q
	Mean            [3]float32       `json:"mean"`
	Std             [3]float32       `json:"std"`
	Hop             float64          `json:"hop_s"`
	ClipsPerVideo   int              `json:"clips_per_video"` // 0 = every clip of the grid
	LUT             string           `json:"lut"`
	Source          string           `json:"source"` // the labels CSV it was made from
	Splits          map[string]Split `json:"splits"`
}

// Split is one split's clip file and per-clip labels.
type Split struct {
	File   string `json:"file"`
	Clips  int    `json:"clips"`
	Labels []int  `json:"labels"`
	Items  []Item `json:"items"`
}

// Item says where a stored clip came from.
type Item struct {
	Video string  `json:"video"` // as written in the labels CSV
	Clip  int     `json:"clip"`  // index among the video's clips on the serving grid
	Start float64 `json:"start"` // PTS of the first and last sample, seconds
	End   float64 `json:"end"`
	// Actors are the boxes at the clip's key frame (its middle sample, index T/2) of a
	// detection dataset (Config.Boxes), in crop coordinates: fractions [0,1] of S.
	Actors []ItemActor `json:"actors,omitempty"`
	KeyPTS float64     `json:"key_pts,omitempty"` // PTS of the key frame, seconds
}

// ItemActor is one actor visible in a clip's key frame.
type ItemActor struct {
	ID    int        `json:"id"`
	Label int        `json:"label"` // index into Index.Labels
	Box   [4]float32 `json:"box"`   // x1, y1, x2, y2 as fractions of the crop S, x2/y2 exclusive
}

// Video is one row of a labels CSV.
type Video struct {
	Path  string // as written (relative to the CSV's directory unless absolute)
	Label string
	Split string
}

// ReadLabels reads a labels CSV with a header naming at least the columns path and
// label (split optional; missing = "train"), as `train synth` writes.
func ReadLabels(path string) ([]Video, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLabels, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: header: %w", ErrLabels, path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	pi, okP := col["path"]
	li, okL := col["label"]
	si, okS := col["split"]
	if !okP || !okL {
		return nil, fmt.Errorf("%w: %s: header %q lacks path and label columns", ErrLabels, path, head)
	}
	var out []Video
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrLabels, path, err)
		}
		if len(rec) <= max(pi, li) {
			return nil, fmt.Errorf("%w: %s:%d: %d fields", ErrLabels, path, line, len(rec))
		}
		v := Video{Path: strings.TrimSpace(rec[pi]), Label: strings.TrimSpace(rec[li]), Split: "train"}
		if okS && si < len(rec) && strings.TrimSpace(rec[si]) != "" {
			v.Split = strings.TrimSpace(rec[si])
		}
		if v.Path == "" || v.Label == "" {
			return nil, fmt.Errorf("%w: %s:%d: empty path or label", ErrLabels, path, line)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no rows", ErrLabels, path)
	}
	return out, nil
}

// ReadLabelList reads a label file: one label per line, blank lines and #-comments skipped.
func ReadLabelList(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLabels, err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if slices.Contains(out, l) {
			return nil, fmt.Errorf("%w: %s: label %q twice", ErrLabels, path, l)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no labels", ErrLabels, path)
	}
	return out, nil
}

// NormLUT is the decoder's table: byte v of channel c becomes (float32(v)/255 - mean[c]) /
// std[c] in float32 (zero std = 1), the same expression decode.New evaluates.
func NormLUT(mean, std [3]float32) [3][256]float32 {
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		s := std[c]
		if s == 0 {
			s = 1
		}
		for v := 0; v < 256; v++ {
			lut[c][v] = (float32(v)/255 - mean[c]) / s
		}
	}
	return lut
}

// Dataset is an opened dataset directory.
type Dataset struct {
	Dir   string
	Index Index
	LUT   [3][256]float32
}

// Open reads a dataset directory's index and table.
func Open(dir string) (*Dataset, error) {
	b, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, IndexFile, err)
	}
	if idx.Format != Format || idx.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%w: %s is %q v%d", ErrFormat, dir, idx.Format, idx.SchemaVersion)
	}
	lb, err := os.ReadFile(filepath.Join(dir, idx.LUT))
	if err != nil || len(lb) != 3*256*4 {
		return nil, fmt.Errorf("%w: %s: table unreadable or not 768 floats (%v)", ErrFormat, idx.LUT, err)
	}
	d := &Dataset{Dir: dir, Index: idx}
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			d.LUT[c][v] = math.Float32frombits(binary.LittleEndian.Uint32(lb[4*(256*c+v):]))
		}
	}
	return d, nil
}

// ClipBytes is the size of one stored clip.
func (x Index) ClipBytes() int { return 3 * x.Frames * x.StoreSize * x.StoreSize }

// Clip returns stored clip i of a split converted as the trainer converts it for
// evaluation: the centre S×S window through the table, [3][T][S][S] float32.
func (d *Dataset) Clip(split string, i int) ([]float32, error) {
	sp, ok := d.Index.Splits[split]
	if !ok || i < 0 || i >= sp.Clips {
		return nil, fmt.Errorf("%w: no clip %d in split %q", ErrFormat, i, split)
	}
	f, err := os.Open(filepath.Join(d.Dir, sp.File))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	defer f.Close()
	n := d.Index.ClipBytes()
	raw := make([]byte, n)
	if _, err := f.ReadAt(raw, int64(i)*int64(n)); err != nil {
		return nil, fmt.Errorf("%w: %s clip %d: %w", ErrFormat, sp.File, i, err)
	}
	t, q, s, off := d.Index.Frames, d.Index.StoreSize, d.Index.Size, d.Index.CropOffset
	out := make([]float32, 3*t*s*s)
	for c := 0; c < 3; c++ {
		for k := 0; k < t; k++ {
			src := raw[(c*t+k)*q*q:]
			dst := out[(c*t+k)*s*s:]
			for y := 0; y < s; y++ {
				row := src[(y+off)*q+off:]
				for x := 0; x < s; x++ {
					dst[y*s+x] = d.LUT[c][row[x]]
				}
			}
		}
	}
	return out, nil
}
