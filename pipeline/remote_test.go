package pipeline

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/kserve"
	"github.com/actionstream/actionstream/infer/kserve/kservetest"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/sink"
)

// remoteOf serves the model file at path the way Triton would: the same ONNX model run by ONNX
// Runtime behind the KServe v2 protocol.
func remoteOf(t *testing.T, path string) (*kservetest.Server, infer.Metadata) {
	t.Helper()
	rt, err := infer.NewRuntime(infer.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	m, err := rt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := int64(m.Meta.CropSize)
	srv := kservetest.New(kservetest.Model{
		Name:    "x3d",
		Inputs:  []kserve.TensorMetadata{{Name: "clip", Datatype: "FP32", Shape: []int64{-1, 3, int64(m.Meta.Frames), s, s}}},
		Outputs: []kserve.TensorMetadata{{Name: "logits", Datatype: "FP32", Shape: []int64{-1, int64(m.Classes())}}},
		Score: func(in []float32, shape []int64) [][]float32 {
			out, err := m.Run(in, int(shape[0]))
			if err != nil {
				t.Errorf("the fake's model call: %v", err)
			}
			return [][]float32{out}
		},
	})
	t.Cleanup(srv.Close)
	return srv, m.Meta
}

// With infer.remote the clips are scored on the server, and the events are those of the
// in-process session: same clips, same scores.
func TestRemoteInferenceMatchesInProcess(t *testing.T) {
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "30", Seconds: 3})
	srv, _ := remoteOf(t, model)

	run := func(cfg configs.Config) []events.Event {
		out := &collect{}
		p, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{out}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
		return out.ofType(events.TypeClipScored)
	}
	local := run(oneShotConfig(model, video))
	cfg := oneShotConfig(model, video)
	cfg.Infer.Remote = kserve.Config{URL: srv.URL, Model: "x3d", Timeout: configs.Duration(10 * time.Second)}
	remote := run(cfg)

	if len(local) == 0 || len(remote) != len(local) {
		t.Fatalf("%d clips scored remotely, %d in process", len(remote), len(local))
	}
	sent := 0
	for _, n := range srv.Batches() {
		sent += n
	}
	if sent != len(remote) {
		t.Fatalf("the server scored %d clips, the pipeline reported %d", sent, len(remote))
	}
	for i := range local {
		l, r := local[i].Data, remote[i].Data
		if r.ModelDigest != l.ModelDigest || r.Model != l.Model || len(r.TopK) != len(l.TopK) {
			t.Fatalf("clip %d: remote %+v, local %+v", i, r, l)
		}
		for k := range l.TopK {
			if r.TopK[k].Label != l.TopK[k].Label || math.Abs(float64(r.TopK[k].Score-l.TopK[k].Score)) > 1e-5 {
				t.Fatalf("clip %d top-%d: remote %v, local %v", i, k, r.TopK, l.TopK)
			}
		}
	}
}

// A remote model that is not ready stops start-up with the server's answer, naming the key.
func TestRemoteNotReadyFailsStartup(t *testing.T) {
	model := testkit.TinyModel(t)
	srv, _ := remoteOf(t, model)
	srv.SetReady(false)
	cfg := oneShotConfig(model, "unused.mp4")
	cfg.Infer.Remote = kserve.Config{URL: srv.URL, Model: "x3d", Timeout: configs.Duration(time.Second)}
	_, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{&collect{}}})
	want := "infer.remote: model not ready on the inference server: GET " + srv.URL + "/v2/models/x3d/ready: 400 Bad Request"
	if !errors.Is(err, kserve.ErrNotReady) || err.Error() != want {
		t.Fatalf("error %q\nwant  %q", err, want)
	}
}
