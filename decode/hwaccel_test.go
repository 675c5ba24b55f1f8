package decode

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// hwaccel cuda on a host without a CUDA device (or for a codec NVDEC lacks) decodes every
// frame in software, converting the same frames, after one warning per stream.
func TestHWAccelCUDAFallsBackToSoftware(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, enc, ext string
		codecHasNVDEC  bool
	}{
		{"h264", "libx264", "mp4", true},
		{"png", "png", "mkv", false}, // no CUDA hwaccel for PNG in FFmpeg: always software
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := genTestsrc(t, dir, 96, 64, 10, 1, c.enc, c.ext)
			soft := &recSampler{every: 2, lo: -10, hi: 10}
			ds, _, err := decodeFile(t, path, Config{Size: 32}, soft)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			hw := &recSampler{every: 2, lo: -10, hi: 10}
			dh, _, err := decodeFile(t, path, Config{Size: 32, HWAccel: HWAccelCUDA, Stream: "cam-9",
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}, hw)
			if err != nil {
				t.Fatalf("hwaccel cuda: %v", err)
			}
			a, b := ds.Stats(), dh.Stats()
			if b.FramesDecoded != 10 || b.FramesConverted != a.FramesConverted || hw.bad != 0 || len(hw.all) != len(soft.all) {
				t.Fatalf("hwaccel cuda stats %+v (bad %d), software %+v", b, hw.bad, a)
			}
			out := logs.String()
			onGPU := b.HWAccel == HWAccelCUDA
			if onGPU {
				if !c.codecHasNVDEC || strings.Contains(out, "decoding in software") {
					t.Fatalf("on the GPU yet: %s", out)
				}
				return
			}
			if n := strings.Count(out, "hardware decoding unavailable"); n != 1 {
				t.Fatalf("%d fallback warnings, want 1:\n%s", n, out)
			}
			for _, want := range []string{"level=WARN", "component=decode", "stream=cam-9", "decoding in software", "codec=" + c.name} {
				if !strings.Contains(out, want) {
					t.Errorf("warning lacks %q:\n%s", want, out)
				}
			}
			want := "no hardware decoding device"
			if !c.codecHasNVDEC {
				want = "has no CUDA hwaccel"
			}
			if !strings.Contains(out, want) {
				t.Errorf("warning does not say why (%q):\n%s", want, out)
			}
		})
	}
}
