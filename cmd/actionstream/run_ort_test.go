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

// runCLIProcess runs cliCommand(env, args...) and returns its combined output.
func runCLIProcess(t *testing.T, env []string, args ...string) (*exec.Cmd, string, error) {
	t.Helper()
	cmd := cliCommand(env, args...)
	out, err := cmd.CombinedOutput()
	return cmd, string(out), err
}

// ONNX Runtime 1.30 on Linux records telemetry unless told not to: a device id and an event
// database under ~/.cache/Microsoft/DeveloperTools and a /tmp/mat-debug-PID.log. `run`, with a
// fresh HOME and no ORT_DISABLE_TELEMETRY, must leave neither.
func TestRunLeavesNoONNXRuntimeTelemetry(t *testing.T) {
	home := t.TempDir()
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "25", Seconds: 1})
	cmd, out, err := runCLIProcess(t, []string{"HOME=" + home, infer.TelemetryEnv + "="},
		"run", "--model", testkit.TinyModel(t), "--input", video)
	if err != nil || !strings.Contains(out, "clips scored") {
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

// `run` loads ONNX Runtime while its input opens: a file that is not the library still stops
// it with exit status 1 and the config key, on an input long enough for clips and on one too
// short for any.
func TestRunReportsALibraryThatDoesNotLoad(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(bad, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, seconds := range map[string]float64{"clips": 3, "short": 0.2} {
		video := testkit.MakeVideo(t, dir, testkit.Video{FPS: "25", Seconds: seconds})
		cmd, out, _ := runCLIProcess(t, []string{infer.EnvLibrary + "=" + bad}, "run", "--model", testkit.TinyModel(t), "--input", video)
		want := "actionstream run: model.runtime: infer: initialise onnx runtime from " + bad
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, output:\n%s\nwant exit 1 and %q", name, code, out, want)
		}
	}
}
