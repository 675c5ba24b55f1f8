package infer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvLibrary names the environment variable that points at the ONNX Runtime library.
const EnvLibrary = "ACTIONSTREAM_ORT_LIB"

// EnvGPULibrary names the environment variable that points at the GPU build of ONNX
// Runtime (used for the cuda and tensorrt providers).
const EnvGPULibrary = "ACTIONSTREAM_ORT_GPU_LIB"

// libRel and gpuLibRel are where scripts/setup (--gpu) unpacks the CPU and GPU
// libraries, relative to the repository root.
var (
	libRel    = filepath.Join("third_party", "onnxruntime", "libonnxruntime.so.1")
	gpuLibRel = filepath.Join("third_party", "onnxruntime-gpu", "libonnxruntime.so.1")
)

// GPULibraryPath finds the GPU build of ONNX Runtime with LibraryPath's rules: explicit
// (must exist); $ACTIONSTREAM_ORT_GPU_LIB (must exist); third_party/onnxruntime-gpu/
// libonnxruntime.so.1 upward from the executable's and the working directory. The
// system directories are not searched: a system libonnxruntime.so.1 is found by
// LibraryPath, which the runtime falls back to when this one fails.
func GPULibraryPath(explicit string) (string, error) {
	if explicit != "" {
		return existing(explicit, "explicit GPU library path")
	}
	if env := os.Getenv(EnvGPULibrary); env != "" {
		return existing(env, "$"+EnvGPULibrary)
	}
	if p, _, ok := upward(gpuLibRel); ok {
		return p, nil
	}
	return "", fmt.Errorf("%w: no GPU build of ONNX Runtime: set %s or run scripts/setup --gpu (looked for %s upward from the executable and working directory)",
		ErrNoLibrary, EnvGPULibrary, gpuLibRel)
}

// upward looks for rel in the executable's directory and the working directory and
// every directory above them; tried lists the paths looked at.
func upward(rel string) (found string, tried []string, ok bool) {
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		starts = append(starts, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, rel)
			if isFile(p) {
				return p, tried, true
			}
			tried = append(tried, p)
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", tried, false
}

// LibraryPath finds the ONNX Runtime shared library. Order: explicit (must exist);
// $ACTIONSTREAM_ORT_LIB (must exist); third_party/onnxruntime/libonnxruntime.so.1 in
// the executable's directory or any directory above it; the same searched upward from
// the working directory (so tests of any package find the repository's copy); then
// libonnxruntime.so{.1,} in $LD_LIBRARY_PATH and the usual system library directories.
func LibraryPath(explicit string) (string, error) {
	if explicit != "" {
		return existing(explicit, "explicit library path")
	}
	if env := os.Getenv(EnvLibrary); env != "" {
		return existing(env, "$"+EnvLibrary)
	}
	p, tried, ok := upward(libRel)
	if ok {
		return p, nil
	}
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, "/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")
	for _, d := range dirs {
		for _, n := range []string{"libonnxruntime.so.1", "libonnxruntime.so"} {
			p := filepath.Join(d, n)
			if isFile(p) {
				return p, nil
			}
		}
	}
	if len(tried) > 4 {
		tried = append(tried[:2], "...", tried[len(tried)-1])
	}
	return "", fmt.Errorf("%w: set %s or run scripts/setup (looked for %s upward from the executable and working directory: %s; and in %s)",
		ErrNoLibrary, EnvLibrary, libRel, strings.Join(tried, ", "), strings.Join(dirs, ":"))
}

func existing(p, what string) (string, error) {
	if !isFile(p) {
		return "", fmt.Errorf("%w: %s %q does not exist or is not a file", ErrNoLibrary, what, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p, nil
	}
	return abs, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
