package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// envRunCLI makes the test binary act as the actionstream binary (TestMain).
const envRunCLI = "TEST_ACTIONSTREAM_RUN_CLI" // not ACTIONSTREAM_*: serve reads those as settings

// cliCommand is this test binary as `actionstream args...` in a process of its own (ONNX
// Runtime loads once per process), with env replacing the variables it names.
func cliCommand(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	replaced := func(e string) bool {
		for _, r := range env {
			if strings.HasPrefix(e, r[:strings.IndexByte(r, '=')+1]) {
				return true
			}
		}
		return false
	}
	for _, e := range os.Environ() {
		if !replaced(e) {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(append(cmd.Env, envRunCLI+"=1"), env...)
	return cmd
}

// runOwnProcess starts cliCommand(nil, args...) with its output going to stdout and stderr.
func runOwnProcess(t *testing.T, stdout, stderr *testutil.SyncBuffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := cliCommand(nil, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// gpuRuntime is the GPU build scripts/setup --gpu installs and the CUDA libraries this
// host lacks for it (none on a host with CUDA 13 and cuDNN 9).
func gpuRuntime(t *testing.T) (lib string, missing []infer.MissingLibrary) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the GPU runtime (scripts/setup --gpu, ~290 MB); run without -short")
	}
	lib, err := infer.GPULibraryPath("")
	if err != nil {
		t.Fatalf("%v (scripts/test runs scripts/setup --gpu)", err)
	}
	missing, err = infer.MissingGPULibraries(filepath.Dir(lib), infer.ProviderCUDA)
	if err != nil {
		t.Fatal(err)
	}
	return lib, missing
}

// checkCUDAOutcome reads what the user sees on stderr: the 1.29.0 GPU core named, and
// either each missing CUDA library named with the CPU fallback, or no fallback at all.
func checkCUDAOutcome(t *testing.T, stderr, lib string, missing []infer.MissingLibrary) {
	t.Helper()
	if len(missing) == 0 {
		if strings.Contains(stderr, "falling back") {
			t.Fatalf("CUDA libraries all present, yet a fallback:\n%s", stderr)
		}
		return
	}
	warn := regexp.MustCompile(`level=WARN msg="execution provider unavailable, falling back".* want=cuda using=cpu`).FindString(stderr)
	if warn == "" {
		t.Fatalf("no fallback warning on stderr:\n%s", stderr)
	}
	for _, want := range []string{"library=" + lib, "version=1.29.0", "cuda libraries missing"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, m := range missing {
		if !strings.Contains(stderr, m.Name+" (needed by ") {
			t.Errorf("stderr does not name missing %s:\n%s", m.Name, stderr)
		}
	}
	if !strings.Contains(stderr, "pip install nvidia-") {
		t.Errorf("stderr does not say how to get the libraries:\n%s", stderr)
	}
}

func TestRunProviderCUDALoadsGPUCoreAndFallsBack(t *testing.T) {
	lib, missing := gpuRuntime(t)
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "25", Seconds: 3})
	var stdout, stderr testutil.SyncBuffer
	cmd := runOwnProcess(t, &stdout, &stderr, "run", "--provider", "cuda", "--model", model, "--input", video)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run --provider cuda: %v\n%s", err, stderr.String())
	}
	checkCUDAOutcome(t, stderr.String(), lib, missing)
	if n := strings.Count(stdout.String(), `"type":"clip.scored"`); n != 6 {
		t.Errorf("clip.scored lines %d, want 6 (scoring as usual)", n)
	}
	if !strings.Contains(stderr.String(), "clips scored 6,") {
		t.Errorf("summary line:\n%s", stderr.String())
	}
}

func TestServeProviderCUDALoadsGPUCoreAndFallsBack(t *testing.T) {
	lib, missing := gpuRuntime(t)
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	video := testkit.MakeVideo(t, dir, testkit.Video{FPS: "30", Seconds: 2})
	eventsPath := filepath.Join(dir, "events.jsonl")
	cfgPath := filepath.Join(dir, "serve.yaml")
	cfg := fmt.Sprintf(`model: {path: %q, runtime: {threads: 1, provider: cuda}}
streams:
  - {id: cam-1, url: %q, loop: true}
events: {clip_scored: true}
sinks: {jsonl: {enabled: true, path: %q}}
http: {addr: "127.0.0.1:0"}
state_dir: %q
shutdown_timeout: 20s
`, model, video, eventsPath, filepath.Join(dir, "state"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testutil.SyncBuffer
	cmd := runOwnProcess(t, &stdout, &stderr, "serve", "--config", cfgPath)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	scored := func() int {
		b, _ := os.ReadFile(eventsPath)
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"type":"clip.scored"`) {
				n++
			}
		}
		return n
	}
	testutil.WaitFor(t, 60*time.Second, func() bool { return scored() >= 3 },
		func() string { return fmt.Sprintf("%d clips scored; stderr:\n%s", scored(), stderr.String()) })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("serve exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down on SIGINT")
	}
	checkCUDAOutcome(t, stderr.String(), lib, missing)
}
