package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/infer/kserve"
	"github.com/actionstream/actionstream/infer/kserve/kservetest"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// serve with infer.remote at a server whose model is not loaded exits 1 with one line that
// says which key, which URL and what the server answered.
func TestServeRemoteModelNotReady(t *testing.T) {
	model := testkit.TinyModel(t)
	srv := kservetest.New(kservetest.Model{Name: "x3d",
		Inputs:  []kserve.TensorMetadata{{Name: "clip", Datatype: "FP32", Shape: []int64{-1, 3, 4, 32, 32}}},
		Outputs: []kserve.TensorMetadata{{Name: "logits", Datatype: "FP32", Shape: []int64{-1, 3}}}})
	defer srv.Close()
	srv.SetReady(false)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "serve.yaml")
	cfg := fmt.Sprintf("model: {path: %q}\ninfer: {remote: {url: %q, model: x3d, timeout: 2s}}\nhttp: {addr: \"\"}\nstate_dir: %q\n", model, srv.URL, filepath.Join(dir, "state"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testutil.SyncBuffer
	code := runMain(context.Background(), []string{"serve", "--config", cfgPath}, &stdout, &stderr)
	want := "actionstream serve: infer.remote: model not ready on the inference server: GET " + srv.URL + "/v2/models/x3d/ready: 400 Bad Request\n"
	if code != 1 || !strings.HasSuffix(stderr.String(), want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant the last line %q", code, stderr.String(), want)
	}
}
