package configs

import (
	"path/filepath"
	"testing"

	"github.com/actionstream/actionstream/infer"
)

// The detection demo config points at the bundled single-stage detection model and its sample.
func TestDemoDetectionConfig(t *testing.T) {
	cfg, err := Load("demo-detection.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model.Path != "models/demo-detection.onnx" || len(cfg.Streams) != 1 || cfg.Streams[0].URL != "models/demo-detection-sample.mp4" {
		t.Fatalf("model %q, streams %+v", cfg.Model.Path, cfg.Streams)
	}
	meta, err := infer.ReadMetadata(filepath.Join("..", cfg.Model.Path))
	if err != nil {
		t.Fatal(err)
	}
	if !meta.IsDetection() || meta.Mode != infer.ModeSingleStage || meta.Grid() != 16 || len(meta.Labels) != 9 {
		t.Errorf("bundled detection model: task %q mode %q grid %d labels %v", meta.Task, meta.Mode, meta.Grid(), meta.Labels)
	}
}
