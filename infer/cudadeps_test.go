package infer

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func missingNames(m []MissingLibrary) []string {
	var names []string
	for _, l := range m {
		names = append(names, l.Name)
	}
	return names
}

// The loader's search path decides: a library put into a folder on LD_LIBRARY_PATH is no
// longer reported, the others still are, each with how to get it.
func TestMissingGPULibrariesFollowsLoaderPath(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the GPU runtime (scripts/setup --gpu, ~290 MB); run without -short")
	}
	lib, err := GPULibraryPath("")
	if err != nil {
		t.Fatalf("%v (scripts/test runs scripts/setup --gpu)", err)
	}
	dir := filepath.Dir(lib)
	t.Setenv("LD_LIBRARY_PATH", "")
	before, err := MissingGPULibraries(dir, ProviderCUDA)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(missingNames(before), "libcudart.so.13") {
		t.Skipf("this host has the CUDA 13 runtime (missing: %v)", missingNames(before))
	}
	for _, m := range before {
		if m.Hint == "" || m.Needed == "" {
			t.Errorf("%s: no hint or requester: %+v", m.Name, m)
		}
	}
	// A real ELF file standing in for the CUDA runtime: its own dependencies resolve.
	libc := ""
	for _, d := range loaderDirs() {
		if p := filepath.Join(d, "libdl.so.2"); isFile(p) {
			libc = p
			break
		}
	}
	if libc == "" {
		t.Fatal("no libdl.so.2 in the loader's directories")
	}
	b, err := os.ReadFile(libc)
	if err != nil {
		t.Fatal(err)
	}
	cuda := t.TempDir()
	if err := os.WriteFile(filepath.Join(cuda, "libcudart.so.13"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LD_LIBRARY_PATH", "/nonexistent:"+cuda)
	after, err := MissingGPULibraries(dir, ProviderCUDA)
	if err != nil {
		t.Fatal(err)
	}
	got := missingNames(after)
	if slices.Contains(got, "libcudart.so.13") || len(got) != len(before)-1 {
		t.Fatalf("with libcudart on LD_LIBRARY_PATH: missing %v, before %v", got, missingNames(before))
	}
	if !slices.Contains(got, "libcudnn.so.9") {
		t.Errorf("cuDNN (loaded at run time) not reported: %v", got)
	}
}

func TestMissingGPULibrariesCPUOnlyBuild(t *testing.T) {
	_, err := MissingGPULibraries(t.TempDir(), ProviderTensorRT)
	if !errors.Is(err, ErrNoProvider) {
		t.Fatalf("err %v, want ErrNoProvider", err)
	}
}

func TestLdSoConfIncludes(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "ld.so.conf.d")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ld.so.conf"), []byte("# comment\ninclude ld.so.conf.d/*.conf\n/opt/a/lib\n"), 0o644)
	os.WriteFile(filepath.Join(sub, "cuda.conf"), []byte("/usr/local/cuda-13/lib64 # toolkit\n"), 0o644)
	got := ldSoConf(filepath.Join(dir, "ld.so.conf"), 0)
	if !slices.Equal(got, []string{"/usr/local/cuda-13/lib64", "/opt/a/lib"}) {
		t.Fatalf("dirs %v", got)
	}
}

func TestLibraryHints(t *testing.T) {
	for name, want := range map[string]string{
		"libcudart.so.13":   "pip install nvidia-cuda-runtime",
		"libcublasLt.so.13": "pip install nvidia-cublas",
		"libcudnn.so.9":     "nvidia-cudnn-cu13",
		"libcuda.so.1":      "NVIDIA driver",
		"libnvinfer.so.10":  "TensorRT 10",
	} {
		if h := libraryHint(name); !contains(h, want) {
			t.Errorf("%s: hint %q lacks %q", name, h, want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestChooseLibraryWithoutGPUBuild(t *testing.T) {
	t.Setenv(EnvGPULibrary, filepath.Join(t.TempDir(), "libonnxruntime.so.1"))
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := chooseLibrary(Options{RequireGPU: true}, ProviderCUDA, log); !errors.Is(err, ErrNoGPU) || !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("require_gpu without a GPU build: %v", err)
	}
	lib, err := chooseLibrary(Options{}, ProviderCUDA, log)
	cpu, cerr := LibraryPath("")
	if err != nil || cerr != nil || lib != cpu {
		t.Fatalf("fallback library %q (%v), CPU library %q (%v)", lib, err, cpu, cerr)
	}
	if !strings.Contains(logs.String(), "no GPU build of ONNX Runtime, using the CPU library") || !strings.Contains(logs.String(), EnvGPULibrary) {
		t.Fatalf("warning: %s", logs.String())
	}
	if _, err := chooseLibrary(Options{GPULibraryPath: "/nonexistent.so"}, ProviderTensorRT, log); !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("explicit gpu_library that does not exist: %v", err)
	}
}
