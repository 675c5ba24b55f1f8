package expand

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"

	"github.com/actionstream/actionstream/training/plot"
	"github.com/actionstream/actionstream/training/x3d"
)

// AxisSymbol is the short name of an axis used in plots: the paper's γ subscripts.
func AxisSymbol(a x3d.Axis) string {
	switch a {
	case x3d.AxisFrameRate:
		return "tau"
	case x3d.AxisFrames:
		return "t"
	case x3d.AxisSpatial:
		return "s"
	case x3d.AxisWidth:
		return "w"
	case x3d.AxisBottleneck:
		return "b"
	case x3d.AxisDepth:
		return "d"
	}
	return string(a)
}

// write saves trajectory.json, trajectory.csv and trajectory.png.
func (s *search) write(tj Trajectory) error {
	b, err := json.MarshalIndent(tj, "", " ")
	if err != nil {
		return fmt.Errorf("expand: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.cfg.Out, TrajectoryJSON), append(b, '\n')); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.cfg.Out, TrajectoryCSV), CSV(tj)); err != nil {
		return err
	}
	if err := Figure(tj).WritePNG(filepath.Join(s.cfg.Out, TrajectoryPNG)); err != nil && !errors.Is(err, plot.ErrNoData) {
		return err
	}
	return nil
}

// CSVHeader is the first row of trajectory.csv.
var CSVHeader = []string{"phase", "step", "axis", "name", "key", "frames", "sampling_rate", "crop", "width",
	"bottleneck", "depth", "macs", "gflops", "params", "macs_ratio", "epochs", "accuracy", "score", "chosen"}

// CSV renders every trained network of the trajectory, one row each, in search order.
func CSV(tj Trajectory) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(CSVHeader)
	row := func(p Point) {
		f := p.Factors
		g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
		w.Write([]string{p.Phase, strconv.Itoa(p.Step), string(p.Axis), p.Name, p.Key,
			strconv.Itoa(f.Frames), strconv.Itoa(f.SamplingRate), strconv.Itoa(f.Crop), g(f.Width), g(f.Bottleneck), g(f.Depth),
			strconv.FormatInt(p.MACs, 10), g(p.GFLOPs), strconv.FormatInt(p.Params, 10), g(p.MACsRatio),
			strconv.Itoa(p.Epochs), g(p.Result.Accuracy), g(p.Score), strconv.FormatBool(p.Chosen)})
	}
	if tj.Base.Key != "" {
		row(tj.Base)
	}
	for _, st := range tj.Steps {
		for _, p := range st.Candidates {
			row(p)
		}
	}
	if tj.Contraction != nil {
		row(tj.Contraction.Final)
	}
	w.Flush()
	return buf.Bytes()
}

// Figure is the paper's Figure 2 for a trajectory: accuracy against GFLOPs (log scale), every
// candidate as a faint dot, the chosen path as a line labelled with each step's axis, and the
// contracted final model.
func Figure(tj Trajectory) plot.Chart {
	var all plot.Series
	all.Faint, all.Points = true, true
	all.Color = color.RGBA{120, 120, 120, 255}
	for _, st := range tj.Steps {
		for _, p := range st.Candidates {
			if !p.Chosen {
				all.X = append(all.X, p.GFLOPs)
				all.Y = append(all.Y, p.Result.Accuracy)
				all.Labels = append(all.Labels, "")
			}
		}
	}
	path := plot.Series{Name: "expansion path", Line: true, Points: true, Color: color.RGBA{31, 119, 180, 255}}
	for i, p := range tj.Path {
		path.X = append(path.X, p.GFLOPs)
		path.Y = append(path.Y, p.Result.Accuracy)
		label := "X2D"
		if i > 0 {
			label = AxisSymbol(p.Axis)
		}
		path.Labels = append(path.Labels, label)
	}
	series := []plot.Series{all, path}
	if tj.Contraction != nil {
		f := tj.Contraction.Final
		last := tj.Path[len(tj.Path)-1]
		series = append(series, plot.Series{
			Name: "contracted to target", Line: true, Points: true, Color: color.RGBA{214, 39, 40, 255},
			X: []float64{last.GFLOPs, f.GFLOPs}, Y: []float64{last.Result.Accuracy, f.Result.Accuracy},
			Labels: []string{"", "-" + AxisSymbol(tj.Contraction.Axis)}, LabelsBelow: true,
		})
	}
	// The target, as a faint vertical line.
	series = append(series, plot.Series{X: []float64{tj.TargetGFLOP, tj.TargetGFLOP}, Y: []float64{0, 1},
		Line: true, Faint: true, Color: color.RGBA{214, 39, 40, 255}})
	return plot.Chart{
		Title:  fmt.Sprintf("Progressive expansion (c=%g, target %.3g GFLOPs)", tj.Factor, tj.TargetGFLOP),
		XLabel: "GFLOPs (multiply-adds per clip, log scale)",
		YLabel: "held-out top-1 accuracy",
		LogX:   true,
		YMin:   0,
		YMax:   1,
		Series: series,
	}
}

// ReadTrajectory reads trajectory.json from a search's output directory.
func ReadTrajectory(out string) (Trajectory, error) {
	b, err := os.ReadFile(filepath.Join(out, TrajectoryJSON))
	if err != nil {
		return Trajectory{}, fmt.Errorf("expand: %w", err)
	}
	var tj Trajectory
	if err := json.Unmarshal(b, &tj); err != nil {
		return Trajectory{}, fmt.Errorf("expand: %s: %w", TrajectoryJSON, err)
	}
	return tj, nil
}
