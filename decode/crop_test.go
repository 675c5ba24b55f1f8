package decode

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/media"
)

// sampleAll decodes path with every frame sampled and returns each frame's normalized crop;
// whole forces the old conversion (resize the whole frame, then crop). check, if set, runs
// in Add with the decoder (thumbnails are read there).
func sampleAll(t *testing.T, path string, cfg Config, whole bool, check func(*Decoder, *clipper.Frame)) [][]float32 {
	t.Helper()
	var frames [][]float32
	var d *Decoder
	s := &funcSampler{want: func(time.Duration) bool { return true }, add: func(f *clipper.Frame) {
		frames = append(frames, append([]float32(nil), f.Pixels...))
		if check != nil {
			check(d, f)
		}
	}}
	d, err := New(cfg, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.alwaysWhole = whole
	if _, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, d.Decode); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if whole != d.whole {
		t.Fatalf("whole %v after decoding, want %v", d.whole, whole)
	}
	return frames
}

// Resampling only the part of the frame the crop covers gives the samples of resizing the
// whole frame and cropping, within a stated tolerance (per case below): the two differ by
// where the source window falls (rounded to whole pixels, even ones for 4:2:0 chroma), by the
// rounding of its size, and at the crop's border, where the whole resize also reads the pixels
// just outside. At X3D-S's geometry (short side 182, crop 160) from 720p and 1080p, 4:2:0,
// 4:2:2 and 4:4:4, and from 480p.
func TestCropOnlyMatchesWholeResize(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Size: 160, ResizeShortSide: 182, Mean: [3]float32{0.45, 0.45, 0.45}, Std: [3]float32{0.225, 0.225, 0.225}}
	level := float64(1 / (255 * cfg.Std[0])) // one 8-bit level, normalized
	for _, tc := range []struct {
		size, pixFmt string
		mean, p99    float64 // the tolerance, in levels of 255
	}{
		// 4:2:0 and 4:2:2 also carry the ~1 level by which swscale's RGB writer (the whole
		// resize) is darker than our conversion of the crop (media's TestScaleRectYUVMatchesSwscaleRGB).
		{"1280x720", "yuv420p", 2, 24}, {"1920x1080", "yuv420p", 2, 24}, {"1280x720", "yuv444p", 1.5, 24}, {"1280x720", "yuv422p", 2, 24},
		// A 2.6× downscale to an odd width (243): the window's width rounds by 0.4 of a
		// source pixel, so the samples drift by up to 0.15 of a pixel across the crop.
		{"640x480", "yuv420p", 6, 72}, {"640x480", "yuv422p", 6, 72},
	} {
		t.Run(tc.size+"_"+tc.pixFmt, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%s_%s.mkv", tc.size, tc.pixFmt))
			testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size="+tc.size+":rate=10:duration=0.5", "-vf", "noise=alls=12:allf=t",
				"-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", tc.pixFmt, path)
			crop := sampleAll(t, path, cfg, false, nil)
			whole := sampleAll(t, path, cfg, true, nil)
			if len(crop) != 5 || len(whole) != len(crop) {
				t.Fatalf("%d and %d frames, want 5", len(crop), len(whole))
			}
			var diffs []float64
			var sum float64
			for i := range crop {
				for j := range crop[i] {
					d := math.Abs(float64(crop[i][j]-whole[i][j])) / level
					sum += d
					diffs = append(diffs, d)
				}
			}
			slices.Sort(diffs)
			mean, p99 := sum/float64(len(diffs)), diffs[len(diffs)*99/100]
			t.Logf("|difference| in levels of 255: mean %.3f, 99th percentile %.1f, largest %.0f", mean, p99, diffs[len(diffs)-1])
			// The tolerance holds on this worst case: sharp synthetic colour edges and pixel
			// grain, where a sub-pixel shift shows most.
			if mean > tc.mean || p99 > tc.p99 {
				t.Errorf("mean |difference| %.3f levels (want <= %g), 99th percentile %.1f (want <= %g)", mean, tc.mean, p99, tc.p99)
			}
		})
	}
}

// The thumbnail is the whole resized picture of the latest sampled frame, with exactly the
// crop the model saw at its centre.
func TestThumbnailHoldsTheSampledCrop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.mp4")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10:duration=0.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path)
	cfg := Config{Size: 64, ResizeShortSide: 72}
	var wholeThumbs [][]byte
	sampleAll(t, path, cfg, true, func(d *Decoder, f *clipper.Frame) {
		img, _, err := d.Thumbnail()
		if err != nil {
			t.Fatal(err)
		}
		wholeThumbs = append(wholeThumbs, img.Pix)
	})
	i := 0
	sampleAll(t, path, cfg, false, func(d *Decoder, f *clipper.Frame) {
		img, pts, err := d.Thumbnail()
		if err != nil || pts != f.PTS {
			t.Fatalf("thumbnail at %v: %v, %v", f.PTS, pts, err)
		}
		if r := img.Bounds(); r.Dx() != 128 || r.Dy() != 72 {
			t.Fatalf("thumbnail %v, want 128x72", r)
		}
		x0, y0, plane := (128-64)/2, (72-64)/2, 64*64
		for c := range 3 {
			for y := range 64 {
				for x := range 64 {
					got := d.lut[c][img.Pix[(y+y0)*img.Stride+4*(x+x0)+c]]
					if math.Float32bits(got) != math.Float32bits(f.Pixels[c*plane+y*64+x]) {
						t.Fatalf("frame %v channel %d (%d,%d): thumbnail %v, sample %v", f.PTS, c, x, y, got, f.Pixels[c*plane+y*64+x])
					}
				}
			}
		}
		// Outside the crop it is the whole resize's thumbnail, unchanged.
		for y := range 72 {
			for x := range 128 {
				if x >= x0 && x < x0+64 && y >= y0 && y < y0+64 {
					continue
				}
				o := y*img.Stride + 4*x
				if img.Pix[o] != wholeThumbs[i][o] || img.Pix[o+1] != wholeThumbs[i][o+1] || img.Pix[o+2] != wholeThumbs[i][o+2] {
					t.Fatalf("frame %v (%d,%d) outside the crop differs from the whole resize", f.PTS, x, y)
				}
			}
		}
		i++
	})
	if i != len(wholeThumbs) || i == 0 {
		t.Fatalf("%d thumbnails, %d before", i, len(wholeThumbs))
	}
}
