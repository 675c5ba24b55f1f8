package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
)

// ONNX Runtime 1.30 on Linux records telemetry unless told not to: a device id and an event
// database under ~/.cache/Microsoft/DeveloperTools and a /tmp/mat-debug-PID.log. `run`, in a
// process of its own with a fresh HOME and no ORT_DISABLE_TELEMETRY, must leave neither.
func TestRunLeavesNoONNXRuntimeTelemetry(t *testing.T) {
	home := t.TempDir()
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "25", Seconds: 1})
	cmd := exec.Command(os.Args[0], "run", "--model", testkit.TinyModel(t), "--input", video)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "HOME=") && !strings.HasPrefix(e, infer.TelemetryEnv+"=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, envRunCLI+"=1", "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "clips scored") {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, ".cache", "Microsoft")); !os.IsNotExist(err) {
		t.Errorf("run wrote ONNX Runtime's telemetry store under HOME (stat: %v)", err)
	}
	log := fmt.Sprintf("/tmp/mat-debug-%d.log", cmd.Process.Pid)
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		os.Remove(log)
		t.Errorf("run left %s (stat: %v)", log, err)
	}
}
