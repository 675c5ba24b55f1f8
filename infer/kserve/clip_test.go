package kserve_test

import "github.com/actionstream/actionstream/clipper"

// clipperClip builds a clip of the tiny contract carrying values.
type clipperClip struct {
	stream string
	values []float32
}

func (c clipperClip) clip() *clipper.Clip {
	m := meta()
	return &clipper.Clip{Stream: c.stream, Frames: m.Frames, Size: m.CropSize, Tensor: append([]float32(nil), c.values...)}
}
