package persondet

import (
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/infer"
)

// Letterbox geometry as each project computes it.
func TestFit(t *testing.T) {
	for _, tc := range []struct {
		format               string
		srcW, srcH, inW, inH int
		want                 letterbox
	}{
		// YOLOX: int() truncates, top-left.
		{infer.PersonFormatYOLOX, 333, 120, 64, 64, letterbox{scale: 64.0 / 333, newW: 64, newH: 23}},
		{infer.PersonFormatYOLOX, 112, 112, 416, 416, letterbox{scale: 416.0 / 112, newW: 416, newH: 416}},
		// Ultralytics: round() (half to even), centred: 120·64/333 = 23.06 -> 23, dh = 41/2 = 20.5,
		// top = round(20.4) = 20 (the extra row goes to the bottom).
		{infer.PersonFormatYOLOv8, 333, 120, 64, 64, letterbox{scale: 64.0 / 333, newW: 64, newH: 23, top: 20}},
		// 25·0.5 = 12.5 rounds to 12 (Python's round), dw = 4/2 = 2 -> left 2.
		{infer.PersonFormatYOLOv8, 25, 32, 16, 16, letterbox{scale: 0.5, newW: 12, newH: 16, left: 2}},
	} {
		if got := fit(tc.format, tc.srcW, tc.srcH, tc.inW, tc.inH); got != tc.want {
			t.Errorf("%s %dx%d in %dx%d: %+v, want %+v", tc.format, tc.srcW, tc.srcH, tc.inW, tc.inH, got, tc.want)
		}
	}
}

// cv2.resize(INTER_LINEAR) of [0, 100] to 4 pixels is [0, 25, 75, 100] (half-pixel
// centres, clamped at the borders); down to 1 pixel it is the mean.
func TestBilinearLikeOpenCV(t *testing.T) {
	im := Image{Width: 2, Height: 1, Pix: []uint8{0, 0, 0, 100, 100, 100}}
	dst := make([]float32, 3*4*4)
	preprocess(infer.PersonFormatYOLOv8, im, 4, 4, dst) // r = 2: 4x2, centred at rows 1..2
	for x, want := range []float32{0, 25, 75, 100} {
		for _, y := range []int{1, 2} {
			if got := dst[y*4+x] * 255; !nearPx(got, want) {
				t.Errorf("pixel (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
		if got := dst[x] * 255; !nearPx(got, 114) {
			t.Errorf("pad pixel (%d,0) = %v, want 114", x, got)
		}
	}
	one := make([]float32, 3)
	preprocess(infer.PersonFormatYOLOX, im, 1, 1, one)
	if one[0] != 50 {
		t.Errorf("2->1 pixel = %v, want 50", one[0])
	}
}

func nearPx(a, b float32) bool { return a-b < 0.01 && b-a < 0.01 }

// Channel order and scale: YOLOX BGR 0-255, Ultralytics RGB 0-1.
func TestChannelsAndScale(t *testing.T) {
	im := uniform(2, 2, 10, 20, 30)
	dst := make([]float32, 3*2*2)
	preprocess(infer.PersonFormatYOLOX, im, 2, 2, dst)
	if dst[0] != 30 || dst[4] != 20 || dst[8] != 10 {
		t.Errorf("yolox channels %v %v %v, want B G R = 30 20 10", dst[0], dst[4], dst[8])
	}
	preprocess(infer.PersonFormatYOLOv8, im, 2, 2, dst)
	if !near(dst[0], 10.0/255) || !near(dst[4], 20.0/255) || !near(dst[8], 30.0/255) {
		t.Errorf("yolov8 channels %v %v %v, want R G B /255", dst[0], dst[4], dst[8])
	}
}

func TestNMSIsClassWise(t *testing.T) {
	a := Detection{Box: [4]float32{0, 0, 0.5, 0.5}, Score: 0.9}
	b := Detection{Box: [4]float32{0.05, 0, 0.55, 0.5}, Score: 0.95}      // IoU with a 0.82
	c := Detection{Box: [4]float32{0, 0, 0.5, 0.5}, Score: 0.7, Class: 1} // same place, other class
	d := Detection{Box: [4]float32{0.3, 0, 0.8, 0.5}, Score: 0.8}         // IoU with b 1/3: kept
	got := NMS([]Detection{a, b, c, d}, 0.5)
	want := []Detection{b, d, c}
	if len(got) != len(want) {
		t.Fatalf("NMS = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("NMS[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if v := IoU(a.Box, b.Box); !near(v, 0.45/0.55) {
		t.Errorf("IoU = %v, want %v", v, 0.45/0.55)
	}
}

// KeyFrame takes sample T/2 and undoes the clip's normalisation.
func TestKeyFrame(t *testing.T) {
	const frames, size = 3, 2
	mean, std := [3]float32{0.5, 0.25, 0}, [3]float32{0.5, 0.25, 1}
	c := &clipper.Clip{Frames: frames, Size: size, Start: time.Second, Tensor: make([]float32, 3*frames*size*size)}
	for ch := 0; ch < 3; ch++ {
		for i := 0; i < size*size; i++ {
			want := float32(10*ch+i+1) / 255 // the key frame's pixel value in [0, 1]
			c.Tensor[(ch*frames+1)*size*size+i] = (want - mean[ch]) / std[ch]
		}
	}
	im, err := KeyFrame(c, mean, std)
	if err != nil {
		t.Fatal(err)
	}
	if im.Width != size || im.Height != size {
		t.Fatalf("key frame %dx%d", im.Width, im.Height)
	}
	for i := 0; i < size*size; i++ {
		for ch := 0; ch < 3; ch++ {
			if got, want := im.Pix[3*i+ch], uint8(10*ch+i+1); got != want {
				t.Errorf("pixel %d channel %d = %d, want %d", i, ch, got, want)
			}
		}
	}
	c.Release()
	if _, err := KeyFrame(c, mean, std); err == nil {
		t.Error("KeyFrame of a released clip: no error")
	}
}
