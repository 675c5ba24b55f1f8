package detect

import "fmt"

// Crop is how a source frame became the model's input: resized (whole frame) to ResizedW x
// ResizedH, then the centre Size x Size window taken. It is the decoder's geometry (decode:
// short side to resize_short_side, rounded to nearest, never below Size; crop offset
// (resized-Size)/2, rounded down).
type Crop struct {
	ResizedW, ResizedH int
	Size               int
}

// CropOf computes the crop of a srcW x srcH frame for a model with crop Size and the given
// short side (0 means Size), the same arithmetic as the decoder.
func CropOf(srcW, srcH, resizeShortSide, size int) (Crop, error) {
	if resizeShortSide == 0 {
		resizeShortSide = size
	}
	if srcW <= 0 || srcH <= 0 || size <= 0 || resizeShortSide < size {
		return Crop{}, fmt.Errorf("%w: frame %dx%d, short side %d, crop %d", ErrBadGeometry, srcW, srcH, resizeShortSide, size)
	}
	short := min(srcW, srcH)
	return Crop{
		ResizedW: max((srcW*resizeShortSide+short/2)/short, size),
		ResizedH: max((srcH*resizeShortSide+short/2)/short, size),
		Size:     size,
	}, nil
}

// Valid reports whether the crop fits in the resized frame.
func (c Crop) Valid() bool { return c.Size > 0 && c.ResizedW >= c.Size && c.ResizedH >= c.Size }

// offsets are the crop window's top-left corner in resized pixels.
func (c Crop) offsets() (x0, y0 int) { return (c.ResizedW - c.Size) / 2, (c.ResizedH - c.Size) / 2 }

// ToSource maps a box in crop fractions to fractions of the source frame. The resize scales the
// whole frame, so a resized pixel's fraction of the resized frame is its fraction of the source.
// An invalid crop returns the box unchanged.
func (c Crop) ToSource(b Box) Box {
	if !c.Valid() {
		return b
	}
	x0, y0 := c.offsets()
	s, w, h := float32(c.Size), float32(c.ResizedW), float32(c.ResizedH)
	return Box{
		(float32(x0) + b[0]*s) / w, (float32(y0) + b[1]*s) / h,
		(float32(x0) + b[2]*s) / w, (float32(y0) + b[3]*s) / h,
	}
}

// ToCrop maps a box in source-frame fractions to crop fractions (the inverse of ToSource), clamped
// to [0,1]: the part of the box outside the crop is cut off, and a box wholly outside has no area.
// An invalid crop returns the box unchanged.
func (c Crop) ToCrop(b Box) Box {
	if !c.Valid() {
		return b
	}
	x0, y0 := c.offsets()
	s, w, h := float32(c.Size), float32(c.ResizedW), float32(c.ResizedH)
	return Box{
		clamp01((b[0]*w - float32(x0)) / s), clamp01((b[1]*h - float32(y0)) / s),
		clamp01((b[2]*w - float32(x0)) / s), clamp01((b[3]*h - float32(y0)) / s),
	}
}
