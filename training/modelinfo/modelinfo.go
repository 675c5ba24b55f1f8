// Package modelinfo is `model info --model FILE`: a model file's contract metadata beside the X3D
// counter's numbers for the architecture spec it carries.
package modelinfo

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/x3d"
)

// ModelFile is `model info --model FILE`: the contract's metadata under its own key
// names, plus this counter's numbers when the file carries an X3D spec.
type ModelFile struct {
	Path            string          `json:"path"`
	SchemaVersion   int             `json:"schema_version"`
	Name            string          `json:"name"`
	Task            string          `json:"task"`
	Labels          []string        `json:"labels"`
	Frames          int             `json:"frames"`
	SamplingRate    int             `json:"sampling_rate"`
	CropSize        int             `json:"crop_size"`
	ResizeShortSide int             `json:"resize_short_side"`
	Mean            [3]float32      `json:"mean"`
	Std             [3]float32      `json:"std"`
	Score           string          `json:"score"`
	MACs            int64           `json:"macs,omitempty"`
	Params          int64           `json:"params,omitempty"`
	TrainedOn       string          `json:"trained_on,omitempty"`
	Architecture    json.RawMessage `json:"architecture,omitempty"`
	CountedMACs     int64           `json:"counted_macs,omitempty"`
	CountedParams   int64           `json:"counted_params,omitempty"`
	archNote        string
}

// DescribeModel reads a model file's metadata and counts its architecture spec at the
// file's crop; a spec this build cannot parse is noted, not an error.
func Describe(path string) (ModelFile, error) {
	m, err := infer.ReadMetadata(path)
	if err != nil {
		return ModelFile{}, err
	}
	mf := ModelFile{Path: path, SchemaVersion: m.SchemaVersion, Name: m.Name, Task: m.Task, Labels: m.Labels,
		Frames: m.Frames, SamplingRate: m.SamplingRate, CropSize: m.CropSize, ResizeShortSide: m.ResizeShortSide,
		Mean: m.Mean, Std: m.Std, Score: m.Score, MACs: m.MACs, Params: m.Params, TrainedOn: m.TrainedOn, Architecture: m.Architecture}
	if len(m.Architecture) > 0 {
		if a, err := x3d.ParseArch(m.Architecture); err == nil {
			c := a.CostAt(m.CropSize)
			mf.CountedMACs, mf.CountedParams = c.MACs, c.Params
			mf.archNote = fmt.Sprintf("counted from spec: %d multiply-adds, %d params", c.MACs, c.Params)
		} else {
			mf.archNote = "not an X3D spec this build understands: " + err.Error()
		}
	}
	return mf, nil
}

// WriteText prints the metadata as aligned key/value lines.
func (mf ModelFile) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range [][2]any{{"path", mf.Path}, {"name", mf.Name}, {"task", mf.Task}, {"schema version", mf.SchemaVersion},
		{"labels", fmt.Sprintf("%d: %s", len(mf.Labels), strings.Join(mf.Labels, ", "))},
		{"clip T×τ, crop", fmt.Sprintf("%d×%d (τ in frames at 30 fps), crop %d, resize short side %d", mf.Frames, mf.SamplingRate, mf.CropSize, mf.ResizeShortSide)},
		{"mean / std", fmt.Sprintf("%v / %v", mf.Mean, mf.Std)}, {"score", mf.Score}, {"multiply-adds", mf.MACs},
		{"params", mf.Params}, {"trained on", mf.TrainedOn}, {"architecture", mf.archNote}} {
		fmt.Fprintf(tw, "%s\t%v\n", kv[0], kv[1])
	}
	return tw.Flush()
}
