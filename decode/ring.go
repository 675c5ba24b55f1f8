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

// slot holds one converted frame: the resized RGB picture (C memory, aligned for swscale) and
// the normalized planar crop handed to the Sampler.
type slot struct {
	rgb    []byte // rh rows of stride bytes, C-allocated
	stride int
	w, h   int
	frame  clipper.Frame
}

// ring is the per-stream set of preallocated conversion slots. The decoding goroutine writes
// the slot after the latest one and then publishes it; readers (thumbnails) copy the latest slot
// under the lock, so two slots are enough for the writer never to touch what a reader reads.
type ring struct {
	mu     sync.Mutex
	slots  []slot
	latest int // -1 before the first frame
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
		stride := (w*3 + 63) &^ 63
		if s.rgb = media.AllocBuffer(stride * h); s.rgb == nil {
			return nil
		}
		s.stride, s.w, s.h = stride, w, h
	}
	return s
}

func (r *ring) publish(s *slot) {
	idx := 0
	for i := range r.slots {
		if &r.slots[i] == s {
			idx = i
		}
	}
	r.mu.Lock()
	r.latest = idx
	r.mu.Unlock()
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
	r.latest = -1
}

// image copies the latest converted frame (resized, uncropped) into a new RGBA image.
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
	img := image.NewRGBA(image.Rect(0, 0, s.w, s.h))
	for y := 0; y < s.h; y++ {
		src := s.rgb[y*s.stride : y*s.stride+3*s.w]
		dst := img.Pix[y*img.Stride : y*img.Stride+4*s.w]
		for x := 0; x < s.w; x++ {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = src[3*x], src[3*x+1], src[3*x+2], 255
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
