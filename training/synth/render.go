package synth

import (
	"image"
	"math"
	"math/rand/v2"
)

// Box is one actor's extent in one frame: the pixels its shape covers (before any other
// actor is drawn over it), as fractions of the frame size, x2/y2 exclusive.
type Box struct {
	ActorID int     `json:"id"`
	Label   string  `json:"label"`
	X1      float64 `json:"x1"`
	Y1      float64 `json:"y1"`
	X2      float64 `json:"x2"`
	Y2      float64 `json:"y2"`
}

// Renderer draws the frames of one video. Frames are a pure function of the Video and the
// frame index, so a dataset re-rendered from its Plan is pixel-identical. Not safe for
// concurrent use (it holds the cached background).
type Renderer struct {
	v  Video
	bg []uint8 // the static background, RGBA
}

// NewRenderer prepares v's background.
func NewRenderer(v Video) *Renderer {
	r := &Renderer{v: v, bg: make([]uint8, v.Width*v.Height*4)}
	r.drawBackground()
	return r
}

// Frame draws frame i into img (which must be v.Width×v.Height; nil allocates) and
// returns it with the actors' boxes (actors entirely outside the frame have none).
func (r *Renderer) Frame(i int, img *image.RGBA) (*image.RGBA, []Box) {
	v := r.v
	if img == nil || img.Rect.Dx() != v.Width || img.Rect.Dy() != v.Height {
		img = image.NewRGBA(image.Rect(0, 0, v.Width, v.Height))
	}
	copy(img.Pix, r.bg)
	fr := rand.New(rand.NewPCG(v.Seed, uint64(i)))
	jx := (2*fr.Float64() - 1) * v.Jitter
	jy := (2*fr.Float64() - 1) * v.Jitter
	boxes := make([]Box, 0, len(v.Actors))
	for _, a := range v.Actors {
		s := v.StateAt(a, i)
		s.CX += jx
		s.CY += jy
		if b, ok := drawActor(img, a, s); ok {
			b.ActorID, b.Label = a.ID, a.Label
			boxes = append(boxes, b)
		}
	}
	if v.Noise > 0 {
		pix := img.Pix
		for p := 0; p < len(pix); p += 4 {
			for k := range 3 {
				x := float64(pix[p+k]) + fr.NormFloat64()*v.Noise
				pix[p+k] = clamp8(x)
			}
		}
	}
	return img, boxes
}

func clamp8(x float64) uint8 {
	switch {
	case x <= 0:
		return 0
	case x >= 255:
		return 255
	}
	return uint8(x + 0.5)
}

func (r *Renderer) drawBackground() {
	v := r.v
	b := v.Background
	w, h := v.Width, v.Height
	ca, sa := math.Cos(b.Angle), math.Sin(b.Angle)
	minSide := float64(min(w, h))
	for y := range h {
		for x := range w {
			c := b.Color
			if b.Kind == "gradient" {
				t := ((float64(x)+0.5)/float64(w)-0.5)*ca + ((float64(y)+0.5)/float64(h)-0.5)*sa + 0.5
				t = math.Max(0, math.Min(1, t))
				for k := range 3 {
					c[k] = clamp8(float64(b.Color[k]) + (float64(b.Color2[k])-float64(b.Color[k]))*t)
				}
			}
			for _, bl := range b.Blobs {
				dx := float64(x) + 0.5 - bl.X*float64(w)
				dy := float64(y) + 0.5 - bl.Y*float64(h)
				rr := bl.R * minSide
				if dx*dx+dy*dy <= rr*rr {
					c = bl.Color
				}
			}
			o := (y*w + x) * 4
			r.bg[o], r.bg[o+1], r.bg[o+2], r.bg[o+3] = c[0], c[1], c[2], 255
		}
	}
}

// drawActor rasterises one shape (no antialiasing: a pixel belongs to it when its centre
// does) and returns the box of the pixels it covered.
func drawActor(img *image.RGBA, a Actor, s State) (Box, bool) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if s.R <= 0 {
		return Box{}, false
	}
	reach := 1.5 * s.R
	x0 := max(0, int(math.Floor(s.CX-reach)))
	x1 := min(w-1, int(math.Ceil(s.CX+reach)))
	y0 := max(0, int(math.Floor(s.CY-reach)))
	y1 := min(h-1, int(math.Ceil(s.CY+reach)))
	ca, sa := math.Cos(s.Angle), math.Sin(s.Angle)
	inv := 1 / s.R
	bx0, by0, bx1, by1 := w, h, -1, -1
	for y := y0; y <= y1; y++ {
		dy := float64(y) + 0.5 - s.CY
		for x := x0; x <= x1; x++ {
			dx := float64(x) + 0.5 - s.CX
			// Inverse rotation: local axes turn with the actor (positive = clockwise on screen).
			lx := (dx*ca + dy*sa) * inv
			ly := (-dx*sa + dy*ca) * inv
			if !inside(a.Shape, a.Aspect, lx, ly) {
				continue
			}
			c := texel(a, lx, ly)
			o := y*img.Stride + x*4
			img.Pix[o], img.Pix[o+1], img.Pix[o+2] = c[0], c[1], c[2]
			bx0, by0 = min(bx0, x), min(by0, y)
			bx1, by1 = max(bx1, x), max(by1, y)
		}
	}
	if bx1 < 0 {
		return Box{}, false
	}
	return Box{
		X1: round6(float64(bx0) / float64(w)), Y1: round6(float64(by0) / float64(h)),
		X2: round6(float64(bx1+1) / float64(w)), Y2: round6(float64(by1+1) / float64(h)),
	}, true
}

// inside tests a point in the shape's local frame (half-extent 1 along x). Every shape is
// asymmetric enough under rotation by less than 90° that its turning is visible.
func inside(shape string, asp, x, y float64) bool {
	switch shape {
	case "rect":
		return math.Abs(x) <= 1 && math.Abs(y) <= asp
	case "ellipse":
		yy := y / asp
		return x*x+yy*yy <= 1
	case "triangle": // tip at +x
		return x >= -1 && x <= 1 && math.Abs(y) <= asp*(1-x)/2*1.6
	case "cross":
		yy := y / math.Max(asp, 0.6)
		return (math.Abs(x) <= 1 && math.Abs(y) <= 0.28) || (math.Abs(x) <= 0.28 && math.Abs(yy) <= 1)
	case "lshape":
		return (x >= -1 && x <= -0.35 && math.Abs(y) <= 1) || (x >= -1 && x <= 1 && y >= 1-2*asp*0.6 && y <= 1)
	}
	return false
}

func texel(a Actor, x, y float64) [3]uint8 {
	p := a.Period
	odd := false
	switch a.Texture {
	case "stripes":
		odd = int(math.Floor(x/p))%2 != 0
	case "checker":
		odd = (int(math.Floor(x/p))+int(math.Floor(y/p)))%2 != 0
	case "rings":
		odd = int(math.Floor(math.Hypot(x, y)/p))%2 != 0
	}
	if odd {
		return a.Color2
	}
	return a.Color
}

// ToRGB24 packs img's pixels as RGB24 into dst (len ≥ 3·W·H), the layout ffmpeg's rawvideo
// rgb24 input expects.
func ToRGB24(img *image.RGBA, dst []byte) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	o := 0
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for x := 0; x < len(row); x += 4 {
			dst[o], dst[o+1], dst[o+2] = row[x], row[x+1], row[x+2]
			o += 3
		}
	}
}

// round6 keeps box files short; 1e-6 is far below a pixel at any supported size.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
