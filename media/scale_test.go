package media

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit"
)

// ScaleRect converts limited-range YUV itself (resampling to planar YUV, then the BT.601
// matrix) instead of letting swscale write RGB24: the result is swscale's own RGB24 within a
// rounding, on 4:2:0, 4:2:2 and 4:4:4, on sharp synthetic colour edges with chroma grain.
func TestScaleRectYUVMatchesSwscaleRGB(t *testing.T) {
	dir := t.TempDir()
	for _, pixFmt := range []string{"yuv420p", "yuv422p", "yuv444p"} {
		t.Run(pixFmt, func(t *testing.T) {
			path := filepath.Join(dir, pixFmt+".mkv")
			testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=10:duration=0.3", "-vf", "noise=alls=12:allf=t",
				"-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", pixFmt, path)
			d, err := NewDecoder()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			const w, stride = 160, 512
			ours, ref := AllocBuffer(stride*w), AllocBuffer(stride*w)
			defer FreeBuffer(ours)
			defer FreeBuffer(ref)
			var diffs []float64
			var sum float64
			var signed [3]float64
			frames := 0
			compare := func() {
				for _, r := range []Rect{{X: 281, Y: 0, W: 719, H: 720}, {X: 0, Y: 0, W: 1280, H: 720}, {X: 10, Y: 5, W: 333, H: 161}} {
					d.swscaleRGB(false)
					if _, err := d.ScaleRect(ours, stride, w, w, r, nil, nil); err != nil {
						t.Fatal(err)
					}
					d.swscaleRGB(true)
					if _, err := d.ScaleRect(ref, stride, w, w, r, nil, nil); err != nil {
						t.Fatal(err)
					}
					for y := range w {
						for x := range 3 * w {
							v := math.Abs(float64(ours[y*stride+x]) - float64(ref[y*stride+x]))
							sum += v
							signed[x%3] += float64(ours[y*stride+x]) - float64(ref[y*stride+x])
							diffs = append(diffs, v)
						}
					}
				}
				frames++
			}
			_, err = Demux(context.Background(), DemuxConfig{URL: path}, func(p Packet) error {
				if p.Info != nil {
					if err := d.Open(*p.Info, 1); err != nil {
						return err
					}
				}
				d.Send(p.Data, int64(p.PTS), int64(p.DTS), int64(p.Duration), p.Key, p.Discard, false)
				for _, st := d.Receive(); st == OK; _, st = d.Receive() {
					compare()
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			d.SendEOF()
			for _, st := d.Receive(); st == OK; _, st = d.Receive() {
				compare()
			}
			if frames != 3 {
				t.Fatalf("%d frames compared, want 3", frames)
			}
			slices.Sort(diffs)
			mean, p99, most := sum/float64(len(diffs)), diffs[len(diffs)*99/100], diffs[len(diffs)-1]
			n := float64(len(diffs) / 3)
			t.Logf("ours - swscale's RGB24, mean per channel: %.2f %.2f %.2f levels", signed[0]/n, signed[1]/n, signed[2]/n)
			t.Logf("|ours - swscale's RGB24| in levels: mean %.3f, 99th percentile %.0f, largest %.0f", mean, p99, most)
			// swscale's writer for half-width chroma floors the chroma term in whole luma steps,
			// so it runs 0.6-1.2 levels darker than its full-chroma writer, which ours (rounded
			// fixed point) matches to 0.05: the mean allows for that bias, the tails do not.
			if mean > 1.2 || p99 > 3 || most > 8 {
				t.Errorf("mean %.3f (want <= 1.2), 99th percentile %.0f (want <= 3), largest %.0f (want <= 8)", mean, p99, most)
			}
			if pixFmt == "yuv444p" && mean > 0.3 {
				t.Errorf("4:4:4: mean %.3f, want <= 0.3 (the same writer on both sides)", mean)
			}
		})
	}
}
