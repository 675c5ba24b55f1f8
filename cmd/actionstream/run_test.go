package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

func TestRunPrintsOneLinePerClipAndExits(t *testing.T) {
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "25", Seconds: 3})
	var stdout, stderr bytes.Buffer
	if code := runMain(context.Background(), []string{"run", "--model", model, "--input", video}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// T=4, τ=6 (0.2 s apart), hop 0.4 s: clips end at 0.6, 1.0, ... <= 2.96 s → 6 clips.
	var clips, ups, downs int
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		e, err := events.ParseJSON([]byte(line))
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch e.Type {
		case events.TypeClipScored:
			clips++
		case events.TypeStreamUp:
			ups++
		case events.TypeStreamDown:
			downs++
		}
	}
	if clips != 6 || ups != 1 || downs != 1 {
		t.Fatalf("clips %d (want 6), stream.up %d, stream.down %d\n%s", clips, ups, downs, stdout.String())
	}
	// stderr holds the summary line only.
	want := "actionstream run: " + video + ": frames decoded 75, clips scored 6, clips dropped 0 (backward 0, gap 0, gated 0, reset 0, stale 0), gaps 0, backward frame-time steps 0, decode errors 0\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

func TestRunErrors(t *testing.T) {
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	notAModel := testkit.MakeVideo(t, dir, testkit.Video{FPS: "10", Seconds: 1})
	// A valid contract ONNX Runtime cannot build a session for (an op it does not know): the
	// session is built while the input decodes, and its failure still ends the run at once.
	raw, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	unknownOp := filepath.Join(dir, "unknown-op.onnx")
	if err := os.WriteFile(unknownOp, bytes.Replace(raw, []byte("\x22\x04Conv"), []byte("\x22\x04Cxnv"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	long := testkit.MakeVideo(t, dir, testkit.Video{FPS: "10", Seconds: 30})
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--model", model}, 2, "-input"},
		{[]string{"run", "--model", model, "--input", dir + "/missing.mp4"}, 3, "missing.mp4 cannot be read"},
		{[]string{"run", "--model", model, "--input", notAModel, "--retries", "-1"}, 2, "-retries"},
		{[]string{"run", "--model", dir + "/missing.onnx", "--input", notAModel}, 1, "model.path"},
		{[]string{"run", "--model", notAModel, "--input", notAModel}, 1, "not an ONNX model"},
		{[]string{"run", "--model", unknownOp, "--input", long}, 1, "model.path: " + unknownOp + ": infer: create onnx runtime session"},
		{[]string{"run", "--model", model, "--input", "http://example.invalid/x"}, 1, "streams[0].url"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := runMain(context.Background(), c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", c.args, code, c.code, stderr.String(), c.want)
		}
	}
}

// TestRunBadInputs feeds run each input a user may hand it by mistake and reads what the user
// sees: the exit status, the summary line and one last line naming the input and the reason,
// all within 10 s. The inputs are made here: empty, random bytes, text, a PNG and an MP4 cut
// before its index (both by ffmpeg) under a .mp4 name, a video too short for one clip, an MP4
// cut after 12 frames, one whose frames come in bursts between gaps, and an rtsp:// port
// nobody listens on.
func TestRunBadInputs(t *testing.T) {
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	noise := make([]byte, 64<<10)
	rand.Read(noise)
	png := filepath.Join(dir, "still.mp4")
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=96x72",
		"-frames:v", "1", "-c:v", "png", "-f", "image2", png).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg png: %v\n%s", err, b)
	}
	truncated := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "25", Seconds: 2})
	if fi, err := os.Stat(truncated); err != nil || os.Truncate(truncated, fi.Size()/2) != nil {
		t.Fatalf("truncate %s: %v", truncated, err)
	}
	// The index first (faststart), then cut after 15% of its 4 s: about 12 frames remain.
	cut := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "25", Seconds: 4, ExtraOut: []string{"-movflags", "+faststart"}})
	if fi, err := os.Stat(cut); err != nil || os.Truncate(cut, fi.Size()*15/100) != nil {
		t.Fatalf("truncate %s: %v", cut, err)
	}
	// The tiny model's clip spans 0.6 s (4 frames 0.2 s apart): 14 frames at 25 fps are 0.52 s.
	short := testkit.MakeVideo(t, dir, testkit.Video{FPS: "25", Seconds: 0.56})
	// 30 fps, 9 frames out of every 30: bursts of 0.27 s between 0.73 s gaps (tolerance 0.5 s).
	bursts := testkit.MakeVideo(t, dir, testkit.Video{FPS: "30", Seconds: 4, Size: "80x64",
		Filter: `select='lt(mod(n\,30)\,9)'`, ExtraOut: []string{"-fps_mode", "vfr"}})
	closed := "rtsp://127.0.0.1:" + strconv.Itoa(testutil.FreePort(t)) + "/cam"

	cases := []struct {
		name, input string
		code        int
		want        []string // in the last stderr line, after the input's name
		frames      string   // in the summary line
	}{
		{"empty", write("empty.mp4", nil), 3, []string{"cannot be read", "(the file is empty)"}, "frames decoded 0,"},
		{"random bytes", write("random.mp4", noise), 3, []string{"cannot be read", "not a video file"}, "frames decoded 0,"},
		{"text", write("notes.mp4", []byte("meeting notes, not a video\n")), 3, []string{"cannot be read", "not a video file"}, "frames decoded 0,"},
		{"png", png, 3, []string{"is not a video stream", "single png frame, a still image"}, "frames decoded 1,"},
		{"truncated mp4", truncated, 3, []string{"cannot be read", "header is damaged"}, "frames decoded 0,"},
		{"too short", short, 4, []string{"yielded no clip: too short for one clip: its 14 frames span 0.52 s, a clip spans 0.60 s"}, "frames decoded 14,"},
		{"cut mp4", cut, 4, []string{"yielded no clip: too short for one clip: its ", "a clip spans 0.60 s"}, "clips dropped 0"},
		{"gaps", bursts, 4, []string{"yielded no clip: 3 gaps over 500ms and 0 backward frame-time steps broke every clip"}, "gaps 3,"},
		{"closed rtsp port", closed, 3, []string{"cannot be read: gave up after 4 attempts", "Connection refused"}, "frames decoded 0,"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := runMain(context.Background(), []string{"run", "--model", model, "--input", c.input}, &stdout, &stderr)
			took := time.Since(start)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			if code != c.code || took > 10*time.Second {
				t.Errorf("exit %d after %v, want %d within 10s; stderr:\n%s", code, took.Round(time.Millisecond), c.code, stderr.String())
			}
			if !strings.HasPrefix(last, "actionstream run: "+c.input+" ") {
				t.Errorf("last stderr line %q does not start with the input's name", last)
			}
			for _, w := range c.want {
				if !strings.Contains(last, w) {
					t.Errorf("last stderr line %q lacks %q", last, w)
				}
			}
			if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-2], "actionstream run: "+c.input+": frames decoded") ||
				!strings.Contains(lines[len(lines)-2], c.frames) || !strings.Contains(lines[len(lines)-2], "clips scored 0,") {
				t.Errorf("no summary line with %q before the reason; stderr:\n%s", c.frames, stderr.String())
			}
			// Files say it in those two lines; rtsp adds one warning per retry, no more.
			if extra := len(lines) - 2; (strings.HasPrefix(c.input, "rtsp:") && extra != 3) || (!strings.HasPrefix(c.input, "rtsp:") && extra != 0) {
				t.Errorf("%d lines besides the summary and the reason:\n%s", extra, stderr.String())
			}
		})
	}
}
