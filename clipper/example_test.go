package clipper_test

import (
	"fmt"
	"time"

	"github.com/actionstream/actionstream/clipper"
)

// Expect tells an end-to-end test which clips a pipeline must produce from the frames it decoded.
func ExampleExpect() {
	var pts []time.Duration
	for i := 0; i < 50; i++ { // 2 s at 25 fps
		pts = append(pts, time.Duration(i)*40*time.Millisecond)
	}
	e, _ := clipper.Expect(pts, clipper.Config{Frames: 4, SamplingRate: 12, Size: 160})
	for _, c := range e.Clips {
		fmt.Println(c.Start, c.End, c.Samples)
	}
	fmt.Println("pending:", e.Pending)
	// Output:
	// 0s 1.2s [0 10 20 30]
	// pending: 2
}
