package decode

import (
	"context"
	"testing"
)

func TestBenchFile(t *testing.T) {
	path := genTestsrc(t, t.TempDir(), 320, 180, 30, 3, "libx264", "mp4")
	ours, err := BenchFile(context.Background(), path, Config{Size: 64, ResizeShortSide: 72}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := BenchFFmpeg(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ours %+v\nffmpeg %+v", ours, ref)
	if ours.Frames != 90 || ref.Frames != 90 {
		t.Errorf("frames ours %d ffmpeg %d, want 90", ours.Frames, ref.Frames)
	}
	// 13 samples 0.2 s apart span 2.4 s, clips start every 1.4 s: one clip fits in 3 s.
	if ours.Converted == 0 || ours.Clips != 1 || ours.FPS <= 0 {
		t.Errorf("result %+v", ours)
	}
}
