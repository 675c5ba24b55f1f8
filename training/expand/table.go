package expand

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the trajectory as `train expand` shows it: one row per step, the
// base first, the contracted final model last.
func WriteTable(w io.Writer, tj Trajectory) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\taxis\tT×τ\tcrop\twidth\tbottleneck\tdepth\tGFLOPs\taccuracy")
	row := func(step, axis string, p Point) {
		f := p.Factors
		fmt.Fprintf(tw, "%s\t%s\t%d×%d\t%d\t%g\t%g\t%g\t%.4g\t%.4f\n", step, axis, f.Frames, f.SamplingRate, f.Crop,
			f.Width, f.Bottleneck, f.Depth, p.GFLOPs, p.Result.Accuracy)
	}
	for i, p := range tj.Path {
		axis := string(p.Axis)
		if i == 0 {
			axis = "(base)"
		}
		row(fmt.Sprint(i), axis, p)
	}
	if c := tj.Contraction; c != nil {
		note := ""
		if !c.WithinTolerance {
			note = " (outside tolerance)"
		}
		row("final", "-"+string(c.Axis)+note, c.Final)
	}
	return tw.Flush()
}
