package decode

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/media"
)

// Every frame is decoded with its PTS, for H.264 (with B-frames) and MPEG-4 at the frame rates
// cameras use; only the wanted frames are converted.
func TestDecodeFrameRates(t *testing.T) {
	dir := t.TempDir()
	for _, codec := range []string{"libx264", "mpeg4"} {
		for _, rate := range []int{10, 25, 30, 60} {
			dur := 1.0
			if rate == 10 {
				dur = 2
			}
			path := genTestsrc(t, dir, 96, 64, rate, dur, codec, "mp4")
			s := &recSampler{every: 3, lo: -3, hi: 3}
			cfg := Config{Size: 32, ResizeShortSide: 40, Mean: [3]float32{0.45, 0.45, 0.45}, Std: [3]float32{0.225, 0.225, 0.225}}
			d, _, err := decodeFile(t, path, cfg, s)
			if err != nil {
				t.Fatalf("%s@%d: %v", codec, rate, err)
			}
			n := int(float64(rate) * dur)
			st := d.Stats()
			if len(s.all) != n || st.FramesDecoded != int64(n) {
				t.Errorf("%s@%d: %d frames (stats %d), want %d", codec, rate, len(s.all), st.FramesDecoded, n)
				continue
			}
			for i, pts := range s.all {
				want := time.Duration(i) * time.Second / time.Duration(rate)
				if diff := pts - want; diff < -time.Millisecond || diff > time.Millisecond {
					t.Errorf("%s@%d: frame %d pts %v, want %v", codec, rate, i, pts, want)
					break
				}
			}
			wantConv := (n + 2) / 3
			if len(s.converted) != wantConv || st.FramesConverted != int64(wantConv) || s.bad != 0 {
				t.Errorf("%s@%d: converted %d (stats %d, bad %d), want %d", codec, rate, len(s.converted), st.FramesConverted, s.bad, wantConv)
			}
			if st.DecodeErrors != 0 || st.Width != 96 || st.Height != 64 {
				t.Errorf("%s@%d: stats %+v", codec, rate, st)
			}
			wantCodec := map[string]string{"libx264": "h264", "mpeg4": "mpeg4"}[codec]
			if st.Codec != wantCodec {
				t.Errorf("codec %q, want %q", st.Codec, wantCodec)
			}
		}
	}
}

// genVFR writes 1 s at 10 fps followed by 1 s at 30 fps, kept variable in the file.
func genVFR(t testing.TB, dir string) (string, []time.Duration) {
	path := filepath.Join(dir, "vfr.mp4")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=96x64:rate=10:duration=1",
		"-f", "lavfi", "-i", "testsrc=size=96x64:rate=30:duration=1",
		"-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
		"-fps_mode", "vfr", "-video_track_timescale", "90000",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path)
	var want []time.Duration
	for i := 0; i < 10; i++ {
		want = append(want, time.Duration(i)*100*time.Millisecond)
	}
	for i := 0; i < 30; i++ {
		want = append(want, time.Second+time.Duration(i)*time.Second/30)
	}
	return path, want
}

func TestDecodeVariableFrameRate(t *testing.T) {
	path, want := genVFR(t, t.TempDir())
	s := &recSampler{every: 1, lo: -10, hi: 10}
	if _, _, err := decodeFile(t, path, Config{Size: 32}, s); err != nil {
		t.Fatal(err)
	}
	if len(s.all) != len(want) {
		t.Fatalf("%d frames, want %d: %v", len(s.all), len(want), s.all)
	}
	for i := range want {
		if d := s.all[i] - want[i]; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("frame %d pts %v, want %v", i, s.all[i], want[i])
		}
	}
}

// With the real clipper, the clips the decoder produces are exactly what the timestamp
// arithmetic (clipper.Expect) says for the decoded PTS.
func TestDecodeWithClipper(t *testing.T) {
	dir := t.TempDir()
	path, _ := genVFR(t, dir)
	ccfg := clipper.Config{Frames: 4, SamplingRate: 3, Size: 32}
	cl, err := clipper.New("vfr", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []clipper.Clip
	d, err := New(Config{Size: 32, Stream: "vfr"}, cl, func(c *clipper.Clip) {
		got = append(got, clipper.Clip{Start: c.Start, End: c.End, Frames: c.Frames})
		c.Release()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var pts []time.Duration
	rec := &ptsRecorder{Sampler: cl, pts: &pts}
	d.sampler = rec
	if _, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, d.Decode); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	exp, err := clipper.Expect(pts, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(exp.Clips) || len(got) == 0 {
		t.Fatalf("%d clips, expected %d", len(got), len(exp.Clips))
	}
	for i := range got {
		if got[i].Start != exp.Clips[i].Start || got[i].End != exp.Clips[i].End {
			t.Errorf("clip %d spans %v..%v, expected %v..%v", i, got[i].Start, got[i].End, exp.Clips[i].Start, exp.Clips[i].End)
		}
	}
	if st := d.Stats(); st.FramesConverted != int64(exp.Converted) {
		t.Errorf("converted %d frames, expected %d (each sampled frame once)", st.FramesConverted, exp.Converted)
	}
}

type ptsRecorder struct {
	Sampler
	pts *[]time.Duration
}

func (r *ptsRecorder) Want(pts time.Duration) bool {
	*r.pts = append(*r.pts, pts)
	return r.Sampler.Want(pts)
}

// A solid colour comes out as the expected normalized values in the right planes.
func TestConvertColorAndThumbnail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "red.mp4")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "color=c=red:size=128x72:rate=10:duration=0.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path)
	mean := [3]float32{0.4, 0.5, 0.6}
	std := [3]float32{0.2, 0.25, 0.3}
	var last []float32
	s := &funcSampler{want: func(time.Duration) bool { return true }, add: func(f *clipper.Frame) {
		last = append(last[:0], f.Pixels...)
	}}
	d, _, err := decodeFile(t, path, Config{Size: 40, ResizeShortSide: 48, Mean: mean, Std: std}, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 3*40*40 {
		t.Fatalf("pixels %d", len(last))
	}
	want := [3]float32{(1 - mean[0]) / std[0], (0 - mean[1]) / std[1], (0 - mean[2]) / std[2]}
	for c := 0; c < 3; c++ {
		v := last[c*1600+20*40+20]
		if math.Abs(float64(v-want[c])) > 0.1 {
			t.Errorf("channel %d centre = %v, want %v", c, v, want[c])
		}
	}
	b, _, err := d.ThumbnailJPEG(90)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// 128x72 with the short side to 48 is 85x48 (not cropped).
	if r := img.Bounds(); r.Dx() != 85 || r.Dy() != 48 {
		t.Errorf("thumbnail %v, want 85x48", r)
	}
	cr, cg, cb, _ := img.At(40, 24).RGBA()
	if cr>>8 < 200 || cg>>8 > 60 || cb>>8 > 60 {
		t.Errorf("thumbnail centre rgb %d,%d,%d, want red", cr>>8, cg>>8, cb>>8)
	}
	d.Close()
	if _, _, err := d.Thumbnail(); !errors.Is(err, ErrNoFrame) {
		t.Errorf("thumbnail after Close: %v", err)
	}
}

type funcSampler struct {
	want func(time.Duration) bool
	add  func(*clipper.Frame)
}

func (s *funcSampler) Want(p time.Duration) bool { return s.want(p) }
func (s *funcSampler) Add(f *clipper.Frame) []*clipper.Clip {
	s.add(f)
	return nil
}

func TestResolutionCap(t *testing.T) {
	path := genTestsrc(t, t.TempDir(), 320, 240, 10, 0.3, "libx264", "mp4")
	s := &recSampler{every: 1, lo: -10, hi: 10}
	_, _, err := decodeFile(t, path, Config{Size: 32, MaxWidth: 160, MaxHeight: 160}, s)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ingest.ErrPermanent) {
		t.Fatalf("err = %v, want ErrTooLarge (permanent)", err)
	}
	if len(s.all) != 0 {
		t.Errorf("%d frames decoded past the cap", len(s.all))
	}
	// Portrait orientation of an allowed size passes.
	path = genTestsrc(t, t.TempDir(), 64, 96, 10, 0.3, "libx264", "mp4")
	if _, _, err := decodeFile(t, path, Config{Size: 32, MaxWidth: 96, MaxHeight: 64}, s); err != nil {
		t.Fatalf("portrait 64x96 under a 96x64 cap: %v", err)
	}
}

func TestUnsupportedCodec(t *testing.T) {
	d, err := New(Config{Size: 32}, &recSampler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Decode(ingest.Packet{Data: []byte{1, 2, 3}, Codec: &ingest.CodecInfo{Codec: "no-such-codec"}})
	if !errors.Is(err, ErrUnsupportedCodec) || !errors.Is(err, ingest.ErrPermanent) {
		t.Fatalf("err = %v", err)
	}
}

// Flipped bytes in the middle of the bitstream are counted and skipped; decoding continues to
// the end of the file.
func TestCorruptFlippedBytes(t *testing.T) {
	dir := t.TempDir()
	for _, codec := range []string{"libx264", "mpeg4"} {
		path := genTestsrc(t, dir, 160, 120, 25, 2, codec, "ts")
		clean := &recSampler{}
		if _, _, err := decodeFile(t, path, Config{Size: 32}, clean); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Corrupt 16 bytes every 2 KiB across the middle third, skipping TS packet headers so
		// the damage lands in the video payload.
		for off := len(b) / 3; off < 2*len(b)/3; off += 2048 {
			for i := 8; i < 24; i++ {
				b[off-off%188+i] ^= 0x5a
			}
		}
		bad := filepath.Join(dir, "flipped_"+codec+".ts")
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s := &recSampler{every: 1, lo: -10, hi: 10}
		d, _, err := decodeFile(t, bad, Config{Size: 32}, s)
		if err != nil {
			t.Fatalf("%s: corrupted stream stopped decoding: %v", codec, err)
		}
		st := d.Stats()
		t.Logf("%s flipped: %+v (clean %d frames)", codec, st, len(clean.all))
		if st.DecodeErrors+st.CorruptFrames == 0 {
			t.Errorf("%s: no errors counted for a corrupted stream: %+v", codec, st)
		}
		if len(s.all) < len(clean.all)/2 {
			t.Errorf("%s: only %d of %d frames decoded", codec, len(s.all), len(clean.all))
		}
		if last := s.all[len(s.all)-1]; last < 1800*time.Millisecond {
			t.Errorf("%s: decoding stopped at %v, before the end", codec, last)
		}
	}
}

// A file cut short mid-packet ends cleanly with what could be decoded.
func TestCorruptTruncated(t *testing.T) {
	dir := t.TempDir()
	for _, ext := range []string{"ts", "mp4"} {
		path := genTestsrc(t, dir, 160, 120, 25, 2, "libx264", ext, "-movflags", "+faststart")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(dir, "cut."+ext)
		if err := os.WriteFile(cut, b[:len(b)*6/10+77], 0o644); err != nil {
			t.Fatal(err)
		}
		s := &recSampler{every: 1, lo: -10, hi: 10}
		d, _, err := decodeFile(t, cut, Config{Size: 32}, s)
		st := d.Stats()
		t.Logf("%s truncated: err=%v %+v", ext, err, st)
		if err != nil && !errors.Is(err, media.ErrRead) {
			t.Fatalf("%s: truncated input: %v", ext, err)
		}
		if st.DecodeErrors+st.CorruptFrames == 0 {
			t.Errorf("%s: the cut-off last packet was not counted as an error", ext)
		}
		if len(s.all) < 10 || len(s.all) >= 50 {
			t.Errorf("%s: %d frames from 60%% of a 50-frame file", ext, len(s.all))
		}
	}
}
