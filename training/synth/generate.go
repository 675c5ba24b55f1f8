package synth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// Files a dataset directory holds (docs/DATASETS.md).
const (
	LabelsFile  = "labels.csv"   // path,label,split
	BoxesFile   = "boxes.jsonl"  // one line per frame: the actors' boxes
	ClassesFile = "classes.txt"  // the label order, one per line
	PlanFile    = "dataset.json" // the Plan: config and every video's parameters
)

// Version is the generator version written into dataset.json; bump it when the same
// Config would render different pixels.
const Version = 1

// Options control Generate.
type Options struct {
	Workers int          // videos encoded in parallel; 0 = runtime.NumCPU()
	FFmpeg  string       // ffmpeg executable; "" = looked up on PATH
	CRF     int          // x264 quality; 0 = 18
	Logger  *slog.Logger // nil = discard
	// Progress, when set, is called after each finished video (from worker goroutines,
	// serialised by Generate).
	Progress func(done, total int)
}

// FrameLine is one line of boxes.jsonl.
type FrameLine struct {
	Path   string  `json:"path"`
	Frame  int     `json:"frame"`
	PTS    float64 `json:"pts"` // seconds: frame / fps
	Actors []Box   `json:"actors"`
}

// planFile is dataset.json.
type planFile struct {
	Generator string   `json:"generator"`
	Version   int      `json:"version"`
	Classes   []string `json:"classes"`
	Plan
}

// Generate renders and encodes every video of p into dir and writes the label, box, class
// and plan files. Videos go to a temporary name and are renamed when complete, and the
// index files are written last, so an interrupted run leaves no half-valid dataset index.
// ctx cancels the run (ffmpeg processes are killed).
func Generate(ctx context.Context, p Plan, dir string, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "synth")
	ff := o.FFmpeg
	if ff == "" {
		ff = "ffmpeg"
	}
	ffPath, err := exec.LookPath(ff)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoFFmpeg, err)
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	workers = min(workers, len(p.Videos))
	if err := os.MkdirAll(filepath.Join(dir, "videos"), 0o755); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	tmpBoxes, err := os.MkdirTemp(dir, ".boxes-")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	defer os.RemoveAll(tmpBoxes)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		done     atomic.Int64
		progMu   sync.Mutex
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				v := p.Videos[i]
				boxPath := filepath.Join(tmpBoxes, strconv.Itoa(i)+".jsonl")
				if err := encodeVideo(ctx, ffPath, o.CRF, v, filepath.Join(dir, v.Path), boxPath); err != nil {
					fail(err)
					continue
				}
				n := int(done.Add(1))
				log.Debug("video written", "path", v.Path, "label", v.Label, "frames", v.Frames, "fps", v.FPS)
				if o.Progress != nil {
					progMu.Lock()
					o.Progress(n, len(p.Videos))
					progMu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range p.Videos {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := writeIndex(p, dir, tmpBoxes); err != nil {
		return err
	}
	log.Info("dataset written", "dir", dir, "videos", len(p.Videos), "classes", len(p.Config.Classes))
	return nil
}

// encodeVideo renders v's frames into ffmpeg's stdin and writes its box lines to boxPath.
func encodeVideo(ctx context.Context, ffmpeg string, crf int, v Video, out, boxPath string) error {
	if crf <= 0 {
		crf = 18
	}
	tmp := out + ".part.mp4"
	args := []string{
		"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", v.Width, v.Height),
		"-r", strconv.Itoa(v.FPS), "-i", "-",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", strconv.Itoa(crf), "-pix_fmt", "yuv420p",
		"-threads", "1", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
		"-movflags", "+faststart", tmp,
	}
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrEncode, v.Path, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrEncode, v.Path, err)
	}
	werr := writeFrames(v, stdin, boxPath)
	stdin.Close()
	cerr := cmd.Wait()
	if werr != nil || cerr != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return fmt.Errorf("synth: %s: %w", v.Path, ctx.Err())
		}
		return fmt.Errorf("%w: %s: %w %w: %s", ErrEncode, v.Path, cerr, werr, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

func writeFrames(v Video, w io.Writer, boxPath string) error {
	bf, err := os.Create(boxPath)
	if err != nil {
		return err
	}
	defer bf.Close()
	bw := bufio.NewWriter(bf)
	enc := json.NewEncoder(bw)
	r := NewRenderer(v)
	rgb := make([]byte, v.Width*v.Height*3)
	img := r.blank()
	for i := range v.Frames {
		var boxes []Box
		img, boxes = r.Frame(i, img)
		ToRGB24(img, rgb)
		if _, err := w.Write(rgb); err != nil {
			return err
		}
		if err := enc.Encode(FrameLine{Path: v.Path, Frame: i, PTS: round6(float64(i) / float64(v.FPS)), Actors: boxes}); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return bf.Close()
}

func (r *Renderer) blank() *image.RGBA { return image.NewRGBA(image.Rect(0, 0, r.v.Width, r.v.Height)) }

// FrameDigest is the SHA-256 of every rendered frame of v (RGB24, in order) and of its box
// lines: the reproducibility check that does not depend on the encoder.
func FrameDigest(v Video) string {
	h := sha256.New()
	r := NewRenderer(v)
	rgb := make([]byte, v.Width*v.Height*3)
	img := r.blank()
	for i := range v.Frames {
		var boxes []Box
		img, boxes = r.Frame(i, img)
		ToRGB24(img, rgb)
		h.Write(rgb)
		b, _ := json.Marshal(boxes)
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// writeIndex writes labels.csv, boxes.jsonl (concatenating the per-video files in video
// order), classes.txt and dataset.json, each atomically.
func writeIndex(p Plan, dir, tmpBoxes string) error {
	var lb bytes.Buffer
	cw := csv.NewWriter(&lb)
	cw.Write([]string{"path", "label", "split"})
	for _, v := range p.Videos {
		cw.Write([]string{v.Path, v.Label, v.Split})
	}
	cw.Flush()
	if err := writeAtomic(filepath.Join(dir, LabelsFile), func(w io.Writer) error { _, err := w.Write(lb.Bytes()); return err }); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, BoxesFile), func(w io.Writer) error {
		for i := range p.Videos {
			f, err := os.Open(filepath.Join(tmpBoxes, strconv.Itoa(i)+".jsonl"))
			if err != nil {
				return err
			}
			_, err = io.Copy(w, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, ClassesFile), func(w io.Writer) error {
		for _, c := range p.Config.Classes {
			if _, err := fmt.Fprintln(w, c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, PlanFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(planFile{Generator: "actionstream train synth", Version: Version, Classes: p.Config.Classes, Plan: p})
	})
}

func writeAtomic(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	bw := bufio.NewWriter(f)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("synth: writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

// ReadPlan reads a dataset directory's dataset.json back.
func ReadPlan(dir string) (Plan, error) {
	b, err := os.ReadFile(filepath.Join(dir, PlanFile))
	if err != nil {
		return Plan{}, fmt.Errorf("synth: %w", err)
	}
	var pf planFile
	if err := json.Unmarshal(b, &pf); err != nil {
		return Plan{}, fmt.Errorf("synth: %s: %w", PlanFile, err)
	}
	return pf.Plan, nil
}
