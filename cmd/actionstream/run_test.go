package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
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
}

func TestRunErrors(t *testing.T) {
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	notAModel := testkit.MakeVideo(t, dir, testkit.Video{FPS: "10", Seconds: 1})
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--model", model}, 2, "-input"},
		{[]string{"run", "--model", model, "--input", dir + "/missing.mp4"}, 1, "missing.mp4"},
		{[]string{"run", "--model", dir + "/missing.onnx", "--input", notAModel}, 1, "model.path"},
		{[]string{"run", "--model", notAModel, "--input", notAModel}, 1, "not an ONNX model"},
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
