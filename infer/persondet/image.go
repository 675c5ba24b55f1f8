package persondet

import (
	"fmt"
	"math"

	"github.com/actionstream/actionstream/clipper"
)

// Image is an 8-bit RGB picture: 3 bytes per pixel (R, G, B), rows top to bottom, no
// padding, len(Pix) = 3·Width·Height.
type Image struct {
	Width, Height int
	Pix           []uint8
}

func (im Image) check() error {
	if im.Width <= 0 || im.Height <= 0 {
		return fmt.Errorf("%w: %dx%d", ErrBadImage, im.Width, im.Height)
	}
	if len(im.Pix) != 3*im.Width*im.Height {
		return fmt.Errorf("%w: %dx%d RGB needs %d bytes, got %d", ErrBadImage, im.Width, im.Height, 3*im.Width*im.Height, len(im.Pix))
	}
	return nil
}

// KeyFrameIndex is the sample of a T-frame clip the detector looks at: its middle, T/2
// (the detection contract's key frame).
func KeyFrameIndex(frames int) int { return frames / 2 }

// KeyFrame turns a clip's key frame back into 8-bit RGB: the clip's tensor is
// [3][T][S][S] normalised (x/255-mean)/std, so the result is the S×S centre crop the
// action model sees, and boxes detected on it are fractions of that crop (what the RoI
// model's `rois` input takes). mean and std are the action model's (its metadata).
func KeyFrame(c *clipper.Clip, mean, std [3]float32) (Image, error) {
	if c == nil || c.Tensor == nil {
		return Image{}, fmt.Errorf("%w: clip has no tensor (released?)", ErrBadImage)
	}
	t, s := c.Frames, c.Size
	if t <= 0 || s <= 0 || len(c.Tensor) != 3*t*s*s {
		return Image{}, fmt.Errorf("%w: clip tensor has %d values, T=%d S=%d needs %d", ErrBadImage, len(c.Tensor), t, s, 3*t*s*s)
	}
	plane := s * s
	k := KeyFrameIndex(t)
	im := Image{Width: s, Height: s, Pix: make([]uint8, 3*plane)}
	for ch := 0; ch < 3; ch++ {
		src := c.Tensor[(ch*t+k)*plane : (ch*t+k+1)*plane]
		m, sd := mean[ch], std[ch]
		for i, v := range src {
			im.Pix[3*i+ch] = toByte((v*sd + m) * 255)
		}
	}
	return im, nil
}

// toByte rounds and saturates like OpenCV's float-to-uint8 conversion.
func toByte(v float32) uint8 {
	switch {
	case !(v > 0): // also NaN
		return 0
	case v >= 255:
		return 255
	}
	return uint8(math.RoundToEven(float64(v)))
}
