package dataset

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
)

// frameBoxes is one line of a boxes file (the format `train synth` writes, docs/DATASETS.md):
// every actor's box in one frame, as fractions of the source frame, x2/y2 exclusive.
type frameBoxes struct {
	Path   string  `json:"path"`
	Frame  int     `json:"frame"`
	PTS    float64 `json:"pts"`
	Actors []struct {
		ID    int     `json:"id"`
		Label string  `json:"label"`
		RawX1 float64 `json:"x1"`
		RawY1 float64 `json:"y1"`
		RawX2 float64 `json:"x2"`
		RawY2 float64 `json:"y2"`
	} `json:"actors"`
}

// Boxes holds a boxes file by video path, each video's frames in PTS order.
type Boxes map[string][]frameBoxes

// ReadBoxes reads a boxes.jsonl file.
func ReadBoxes(path string) (Boxes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBoxes, err)
	}
	defer f.Close()
	out := Boxes{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var fb frameBoxes
		if err := json.Unmarshal(sc.Bytes(), &fb); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", ErrBoxes, path, line, err)
		}
		if fb.Path == "" {
			return nil, fmt.Errorf("%w: %s:%d: no path", ErrBoxes, path, line)
		}
		out[fb.Path] = append(out[fb.Path], fb)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBoxes, path, err)
	}
	for _, fs := range out {
		sort.SliceStable(fs, func(a, b int) bool { return fs[a].PTS < fs[b].PTS })
	}
	return out, nil
}

// at returns the frame of video whose PTS is nearest to pts (seconds), or false when the
// video has no frames or the nearest one is more than half a frame at 10 fps away.
func (b Boxes) at(video string, pts float64) (frameBoxes, bool) {
	fs := b[video]
	if len(fs) == 0 {
		return frameBoxes{}, false
	}
	i := sort.Search(len(fs), func(i int) bool { return fs[i].PTS >= pts })
	best := -1
	for _, j := range []int{i - 1, i} {
		if j >= 0 && j < len(fs) && (best < 0 || math.Abs(fs[j].PTS-pts) < math.Abs(fs[best].PTS-pts)) {
			best = j
		}
	}
	if math.Abs(fs[best].PTS-pts) > 0.05 {
		return frameBoxes{}, false
	}
	return fs[best], true
}

// BoxActor is one actor of a frame: its label and box in source-frame fractions.
type BoxActor struct {
	ID    int
	Label string
	Box   [4]float64 // x1, y1, x2, y2, x2/y2 exclusive
}

// At returns the actors of video at the frame nearest to pts (seconds).
func (b Boxes) At(video string, pts float64) ([]BoxActor, error) {
	fb, ok := b.at(video, pts)
	if !ok {
		return nil, fmt.Errorf("%w: %s: no boxes at %.3fs", ErrBoxes, video, pts)
	}
	out := make([]BoxActor, len(fb.Actors))
	for i, a := range fb.Actors {
		out[i] = BoxActor{ID: a.ID, Label: a.Label, Box: [4]float64{a.RawX1, a.RawY1, a.RawX2, a.RawY2}}
	}
	return out, nil
}

// CropBox maps a box in source-frame fractions into crop fractions: the frame resized to a
// w×h picture (short side R), its centre S×S crop. The result is clamped to [0,1]; ok is
// false when nothing of the box is inside the crop.
func CropBox(src [4]float64, w, h, s int) ([4]float32, bool) {
	x0, y0 := float64((w-s)/2), float64((h-s)/2)
	var out [4]float32
	for k := range 4 {
		side, origin := float64(w), x0
		if k%2 == 1 {
			side, origin = float64(h), y0
		}
		v := (src[k]*side - origin) / float64(s)
		out[k] = float32(min(max(v, 0), 1))
	}
	return out, out[2] > out[0] && out[3] > out[1]
}

// keyActors are the actors of video at the key frame pts, in crop coordinates of a w×h
// picture's S×S centre crop, labels as indices (an unknown label is an error).
func (b Boxes) keyActors(video string, pts float64, w, h, s int, labelIdx map[string]int) ([]ItemActor, error) {
	fb, ok := b.at(video, pts)
	if !ok {
		return nil, fmt.Errorf("%w: %s: no boxes at %.3fs", ErrBoxes, video, pts)
	}
	out := []ItemActor{}
	for _, a := range fb.Actors {
		li, ok := labelIdx[a.Label]
		if !ok {
			return nil, fmt.Errorf("%w: %s frame %d: actor label %q is not in the label list", ErrLabels, video, fb.Frame, a.Label)
		}
		box, in := CropBox([4]float64{a.RawX1, a.RawY1, a.RawX2, a.RawY2}, w, h, s)
		if in {
			out = append(out, ItemActor{ID: a.ID, Label: li, Box: box})
		}
	}
	return out, nil
}
