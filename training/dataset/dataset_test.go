package dataset

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/media"
	"github.com/actionstream/actionstream/training/python"
)

// makeVideo encodes a moving test pattern with the ffmpeg CLI.
func makeVideo(t *testing.T, path string, fps int, seconds float64, w, h int) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d,noise=alls=20:allf=t", w, h, fps),
		"-t", strconv.FormatFloat(seconds, 'f', -1, 64), "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
}

// servingClips runs what the server runs for a file: Demux -> Decoder -> Clipper.
func servingClips(t *testing.T, path string, cfg Config) [][]float32 {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := clipper.New("serve", cfg.clipperConfig())
	if err != nil {
		t.Fatal(err)
	}
	var clips [][]float32
	dec, err := decode.New(decode.Config{Size: cfg.Size, ResizeShortSide: cfg.ResizeShortSide, Mean: cfg.Mean, Std: cfg.Std},
		cl, func(c *clipper.Clip) {
			clips = append(clips, append([]float32(nil), c.Tensor...))
			c.Release()
		})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	if _, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, func(p ingest.Packet) error { return dec.Decode(p) }); err != nil {
		t.Fatal(err)
	}
	if err := dec.Flush(); err != nil {
		t.Fatal(err)
	}
	return clips
}

func sameBits(a, b []float32) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i, false
		}
	}
	return 0, true
}

// The clips a prepared dataset holds are, bit for bit, the clips the serving
// pipeline cuts from the same videos — read back in Go and through the PyTorch
// trainer's own loader — for odd sizes, 30/25/15 fps, and landscape and portrait.
func TestPreparedClipsEqualServing(t *testing.T) {
	testkit.NeedsPython(t)
	dir := t.TempDir()
	vids := []struct {
		name, label, split string
		fps                int
		w, h               int
	}{
		{"a.mp4", "left", "train", 30, 96, 72},
		{"b.mp4", "right", "train", 25, 72, 96},
		{"c.mp4", "left", "val", 15, 90, 64},
	}
	csv := "path,label,split\n"
	for _, v := range vids {
		makeVideo(t, filepath.Join(dir, v.name), v.fps, 2.2, v.w, v.h)
		csv += v.name + "," + v.label + "," + v.split + "\n"
	}
	labels := filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(labels, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Frames: 4, SamplingRate: 6, Size: 31, ResizeShortSide: 38, StoreSize: 36,
		Mean: [3]float32{0.43, 0.45, 0.47}, Std: [3]float32{0.22, 0.225, 0.23}, Workers: 2}
	out := filepath.Join(dir, "ds")
	var progress int
	cfg.Progress = func(done, total int) { progress = done }
	idx, err := Prepare(context.Background(), labels, out, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if progress != 3 || len(idx.Labels) != 2 || idx.Labels[0] != "left" || idx.CropOffset != 2 {
		t.Fatalf("progress %d, index %+v", progress, idx)
	}
	ds, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	var all [][]float32
	var allSplit []string
	var allIdx []int
	for _, v := range vids {
		want := servingClips(t, filepath.Join(dir, v.name), cfg)
		if len(want) < 3 {
			t.Fatalf("%s: only %d serving clips", v.name, len(want))
		}
		for k, w := range want {
			i := pos[v.split]
			pos[v.split]++
			it := idx.Splits[v.split].Items[i]
			if it.Video != v.name || it.Clip != k {
				t.Fatalf("%s clip %d: index item %+v", v.name, k, it)
			}
			got, err := ds.Clip(v.split, i)
			if err != nil {
				t.Fatal(err)
			}
			if j, ok := sameBits(got, w); !ok {
				t.Fatalf("%s clip %d: stored clip differs from serving at %d", v.name, k, j)
			}
			all = append(all, w)
			allSplit = append(allSplit, v.split)
			allIdx = append(allIdx, i)
		}
	}
	for s, n := range pos {
		if idx.Splits[s].Clips != n {
			t.Fatalf("split %s: %d clips stored, serving made %d", s, idx.Splits[s].Clips, n)
		}
	}

	// The PyTorch side's conversion (data.to_float + centre crop) gives the same bits.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := python.New(ctx, python.Options{CacheDir: t.TempDir(), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"train", "val"} {
		f := filepath.Join(dir, split+".f32")
		if _, err := r.Run(ctx, []string{"clips", "--data", out, "--split", split, "--out", f}, nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		py := make([]float32, len(b)/4)
		for i := range py {
			py[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		n := 3 * cfg.Frames * cfg.Size * cfg.Size
		checked := 0
		for k := range all {
			if allSplit[k] != split {
				continue
			}
			i := allIdx[k]
			if j, ok := sameBits(py[i*n:(i+1)*n], all[k]); !ok {
				t.Fatalf("%s clip %d: python's float conversion differs from serving at %d", split, i, j)
			}
			checked++
		}
		if checked*n != len(py) {
			t.Fatalf("%s: python gave %d floats for %d clips", split, len(py), checked)
		}
	}
}

func TestPrepareClipsPerVideoAndErrors(t *testing.T) {
	dir := t.TempDir()
	makeVideo(t, filepath.Join(dir, "a.mp4"), 30, 3, 64, 48)
	csv := filepath.Join(dir, "l.csv")
	os.WriteFile(csv, []byte("path,label\na.mp4,x\n"), 0o644)
	cfg := Config{Frames: 2, SamplingRate: 3, Size: 24, ClipsPerVideo: 3}
	idx, err := Prepare(context.Background(), csv, filepath.Join(dir, "ds"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sp := idx.Splits["train"]
	if sp.Clips != 3 || idx.ResizeShortSide != 27 || idx.StoreSize != 27 {
		t.Fatalf("index %+v", idx)
	}
	all := servingClips(t, filepath.Join(dir, "a.mp4"), cfg)
	if sp.Items[0].Clip != 0 || sp.Items[2].Clip != len(all)-1 {
		t.Fatalf("uniform pick: %+v of %d", sp.Items, len(all))
	}
	fi, err := os.Stat(filepath.Join(dir, "ds", "train.u8"))
	if err != nil || fi.Size() != int64(3*idx.ClipBytes()) {
		t.Fatalf("train.u8: %v %v", fi, err)
	}

	cfg.Labels = []string{"y"}
	if _, err := Prepare(context.Background(), csv, filepath.Join(dir, "ds2"), cfg); !errors.Is(err, ErrLabels) {
		t.Fatalf("unknown label: %v", err)
	}
	os.WriteFile(csv, []byte("file,label\na.mp4,x\n"), 0o644)
	if _, err := Prepare(context.Background(), csv, filepath.Join(dir, "ds3"), Config{Frames: 2, SamplingRate: 3, Size: 24}); !errors.Is(err, ErrLabels) {
		t.Fatalf("bad header: %v", err)
	}
	os.WriteFile(csv, []byte("path,label\nmissing.mp4,x\n"), 0o644)
	if _, err := Prepare(context.Background(), csv, filepath.Join(dir, "ds4"), Config{Frames: 2, SamplingRate: 3, Size: 24}); !errors.Is(err, ErrVideo) {
		t.Fatalf("missing video: %v", err)
	}
	if _, err := Prepare(context.Background(), csv, filepath.Join(dir, "ds5"), Config{Frames: 2, SamplingRate: 3, Size: 24, StoreSize: 30}); !errors.Is(err, ErrConfig) {
		t.Fatalf("store > resize: %v", err)
	}
}
