package persondet

import (
	"math"

	"github.com/actionstream/actionstream/infer"
)

// padValue is the grey both projects letterbox with (YOLOX data_augment.preproc,
// Ultralytics LetterBox), in 0–255 units.
const padValue = 114

// letterbox is where a source image lands inside the network input.
type letterbox struct {
	scale      float64 // input pixels per source pixel
	newW, newH int     // the resized image
	left, top  int     // its offset in the input
}

// fit computes each project's letterbox for a srcW×srcH image in an inW×inH input.
//
// YOLOX (yolox/data/data_augment.py preproc): r = min(inH/h, inW/w), resized to
// (int(w·r), int(h·r)), placed at the top-left corner. Ultralytics
// (ultralytics/data/augment.py LetterBox, auto=False as exported models run): the same
// r, resized to (round(w·r), round(h·r)), centred with left = round(dw/2 - 0.1) and
// top = round(dh/2 - 0.1).
func fit(format string, srcW, srcH, inW, inH int) letterbox {
	r := math.Min(float64(inH)/float64(srcH), float64(inW)/float64(srcW))
	lb := letterbox{scale: r}
	if format == infer.PersonFormatYOLOX {
		lb.newW, lb.newH = int(float64(srcW)*r), int(float64(srcH)*r)
	} else {
		lb.newW, lb.newH = int(math.RoundToEven(float64(srcW)*r)), int(math.RoundToEven(float64(srcH)*r))
	}
	lb.newW, lb.newH = max(1, min(lb.newW, inW)), max(1, min(lb.newH, inH))
	if format != infer.PersonFormatYOLOX {
		dw, dh := float64(inW-lb.newW)/2, float64(inH-lb.newH)/2
		lb.left, lb.top = int(math.RoundToEven(dw-0.1)), int(math.RoundToEven(dh-0.1))
	}
	return lb
}

// toImage maps a point of the network input back to a fraction of the source image.
func (lb letterbox) toImage(x, y float32, srcW, srcH int) (float32, float32) {
	fx := (float64(x) - float64(lb.left)) / lb.scale / float64(srcW)
	fy := (float64(y) - float64(lb.top)) / lb.scale / float64(srcH)
	return clamp01(float32(fx)), clamp01(float32(fy))
}

func clamp01(v float32) float32 {
	if !(v > 0) {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// preprocess writes im into dst, one [3][inH][inW] input plane set, the way the format's
// project feeds its network: letterboxed with grey 114, resized bilinearly as
// cv2.INTER_LINEAR does (half-pixel centres, result rounded to 8 bits); YOLOX takes BGR
// in 0–255 (preproc; ValTransform without legacy: no normalisation), Ultralytics RGB divided by 255.
func preprocess(format string, im Image, inW, inH int, dst []float32) letterbox {
	lb := fit(format, im.Width, im.Height, inW, inH)
	scale := float32(1)
	order := [3]int{2, 1, 0} // network channel c reads source channel order[c]: BGR
	if format != infer.PersonFormatYOLOX {
		scale = 1.0 / 255
		order = [3]int{0, 1, 2}
	}
	plane := inW * inH
	pad := padValue * scale
	for i := range dst[:3*plane] {
		dst[i] = pad
	}
	xs := axis(im.Width, lb.newW)
	ys := axis(im.Height, lb.newH)
	stride := 3 * im.Width
	for y, sy := range ys {
		row0 := im.Pix[sy.i*stride:]
		row1 := im.Pix[sy.j*stride:]
		out := (lb.top+y)*inW + lb.left
		for x, sx := range xs {
			for c := 0; c < 3; c++ {
				sc := order[c]
				p00, p01 := float32(row0[3*sx.i+sc]), float32(row0[3*sx.j+sc])
				p10, p11 := float32(row1[3*sx.i+sc]), float32(row1[3*sx.j+sc])
				top := p00 + (p01-p00)*sx.w
				bot := p10 + (p11-p10)*sx.w
				v := toByte(top + (bot-top)*sy.w)
				dst[c*plane+out+x] = float32(v) * scale
			}
		}
	}
	return lb
}

// tap is one output coordinate's two source neighbours and the weight of the second.
type tap struct {
	i, j int
	w    float32
}

// axis is cv2.INTER_LINEAR's sampling along one axis: source coordinate
// (d + 0.5)·src/dst - 0.5, clamped at the borders.
func axis(src, dst int) []tap {
	taps := make([]tap, dst)
	ratio := float64(src) / float64(dst)
	for d := range taps {
		f := (float64(d)+0.5)*ratio - 0.5
		i := int(math.Floor(f))
		w := f - float64(i)
		if i < 0 {
			i, w = 0, 0
		}
		if i >= src-1 {
			i, w = src-1, 0
		}
		j := min(i+1, src-1)
		taps[d] = tap{i: i, j: j, w: float32(w)}
	}
	return taps
}
