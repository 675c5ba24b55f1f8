package decode

import (
	"bytes"
	"image"
	"image/jpeg"
	"sync"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/media"
)

// slot holds one converted frame: its RGB bytes (C memory, aligned for swscale) and the
// normalized planar crop handed to the Sampler. The bytes are the model's crop alone
// (resampled from the matching part of the source) or, for a pixel format that cannot be
// scaled in part, the whole resized picture (whole).
type slot struct {
	rgb    []byte // h rows of stride bytes, C-allocated
	stride int
	w, h   int
	frame  clipper.Frame

	whole bool
	// The resized picture's size and where the crop sits in it, for the thumbnail.
	picW, picH, cropX, cropY int
}

// ring is the per-stream set of preallocated conversion slots. The decoding goroutine writes
// the slot after the latest one and then publishes it; readers (thumbnails) read the latest slot
// under the lock, so two slots are enough for the writer never to touch what a reader reads.
type ring struct {
	mu     sync.Mutex
	slots  []slot
	latest int // -1 before the first frame
	// pic is the thumbnail's whole picture when the latest slot holds only the crop (C memory,
	// under mu; allocated at the first thumbnail of a size).
	pic        []byte
	picStride  int
	picW, picH int
	scaleHeld  func(dst []byte, stride, w, h int) error // resamples the frame publish held
}

func newRing(n, size int) *ring {
	r := &ring{slots: make([]slot, n), latest: -1}
	for i := range r.slots {
		r.slots[i].frame.Pixels = make([]float32, 3*size*size)
	}
	return r
}

// next returns the slot to write, sized for a w x h RGB picture (allocates only when the size
// changes).
func (r *ring) next(w, h int) *slot {
	i := 0
	if r.latest >= 0 {
		i = (r.latest + 1) % len(r.slots)
	}
	s := &r.slots[i]
	if s.w != w || s.h != h {
		s.free()
		stride := rgbStride(w)
		if s.rgb = media.AllocBuffer(stride * h); s.rgb == nil {
			return nil
		}
		s.stride, s.w, s.h = stride, w, h
	}
	return s
}

func rgbStride(w int) int { return (w*3 + 63) &^ 63 }

// publish makes s the latest slot; hold (if not nil) runs under the lock, so that the frame
// it keeps for the thumbnail and the slot change together.
func (r *ring) publish(s *slot, hold func() error) error {
	idx := 0
	for i := range r.slots {
		if &r.slots[i] == s {
			idx = i
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if hold != nil {
		if err := hold(); err != nil {
			return err
		}
	}
	r.latest = idx
	return nil
}

func (s *slot) free() {
	if s.rgb != nil {
		media.FreeBuffer(s.rgb)
		s.rgb = nil
		s.w, s.h = 0, 0
	}
}

func (r *ring) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.slots {
		r.slots[i].free()
	}
	if r.pic != nil {
		media.FreeBuffer(r.pic)
		r.pic = nil
	}
	r.latest = -1
}

// image returns the latest converted frame's whole resized picture as a new RGBA image. Where
// the slot holds only the crop, the frame publish held is resampled whole and the crop the
// model saw is pasted over its centre, so the thumbnail's crop is exactly the clip's sample.
func (r *ring) image() (*image.RGBA, time.Duration, time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.latest < 0 {
		return nil, 0, time.Time{}, false
	}
	s := &r.slots[r.latest]
	if s.rgb == nil {
		return nil, 0, time.Time{}, false
	}
	src, stride := s.rgb, s.stride
	if !s.whole {
		if r.pic == nil || r.picW != s.picW || r.picH != s.picH {
			if r.pic != nil {
				media.FreeBuffer(r.pic)
			}
			r.picStride, r.picW, r.picH = rgbStride(s.picW), s.picW, s.picH
			if r.pic = media.AllocBuffer(r.picStride * s.picH); r.pic == nil {
				return nil, 0, time.Time{}, false
			}
		}
		if r.scaleHeld == nil || r.scaleHeld(r.pic, r.picStride, s.picW, s.picH) != nil {
			return nil, 0, time.Time{}, false
		}
		for y := 0; y < s.h; y++ {
			off := (y+s.cropY)*r.picStride + 3*s.cropX
			copy(r.pic[off:off+3*s.w], s.rgb[y*s.stride:y*s.stride+3*s.w])
		}
		src, stride = r.pic, r.picStride
	}
	img := image.NewRGBA(image.Rect(0, 0, s.picW, s.picH))
	for y := 0; y < s.picH; y++ {
		row := src[y*stride : y*stride+3*s.picW]
		dst := img.Pix[y*img.Stride : y*img.Stride+4*s.picW]
		for x := 0; x < s.picW; x++ {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = row[3*x], row[3*x+1], row[3*x+2], 255
		}
	}
	return img, s.frame.PTS, s.frame.Wall, true
}

// Thumbnail returns the latest converted frame (resized so its short side is ResizeShortSide,
// not cropped) as an RGBA image, with its PTS. Safe from any goroutine; ErrNoFrame before the
// first converted frame.
func (d *Decoder) Thumbnail() (*image.RGBA, time.Duration, error) {
	img, pts, _, ok := d.ring.image()
	if !ok {
		return nil, 0, ErrNoFrame
	}
	return img, pts, nil
}

// ThumbnailJPEG is Thumbnail encoded as JPEG (quality 1..100, 0 = 80).
func (d *Decoder) ThumbnailJPEG(quality int) ([]byte, time.Duration, error) {
	img, pts, err := d.Thumbnail()
	if err != nil {
		return nil, 0, err
	}
	if quality <= 0 {
		quality = 80
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), pts, nil
}
