package x3d_test

import (
	"fmt"

	"github.com/actionstream/actionstream/training/x3d"
)

// One step of the expansion search: scale each axis of the current network in
// turn and look at what it costs.
func ExampleFactors_Scale() {
	base, _ := x3d.PresetFactors("x3d-xs")
	for _, axis := range x3d.Axes() {
		f, err := base.Scale(axis, 2)
		if err != nil {
			fmt.Println(axis, err)
			continue
		}
		a, err := x3d.Build(f, "step", 400)
		if err != nil {
			fmt.Println(axis, err)
			continue
		}
		c := a.Cost()
		fmt.Printf("%-10s %2dx%-2d @%d  %.2f GFLOPs  %.2fM params\n", axis, f.Frames, f.SamplingRate, f.Crop, float64(c.MACs)/1e9, float64(c.Params)/1e6)
	}
	// Output:
	// frame_rate  8x6  @160  1.21 GFLOPs  3.79M params
	// frames      8x12 @160  1.21 GFLOPs  3.79M params
	// spatial     4x12 @320  2.42 GFLOPs  3.79M params
	// width       4x12 @160  2.21 GFLOPs  10.49M params
	// bottleneck  4x12 @160  1.18 GFLOPs  7.00M params
	// depth       4x12 @160  1.07 GFLOPs  5.77M params
}
