package infer

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ONNX Runtime reports a GPU provider that cannot load only as "Failed to load shared
// library". This file finds out which CUDA/cuDNN/TensorRT library is missing by resolving
// the provider's DT_NEEDED entries the way the dynamic loader would (RUNPATH, then
// $LD_LIBRARY_PATH, then /etc/ld.so.conf's directories, then the default ones).

// MissingLibrary is one shared library a GPU provider needs and the loader cannot find.
type MissingLibrary struct {
	Name   string // soname, e.g. libcudart.so.13
	Needed string // who needs it: a library file name, or "loaded at run time"
	Hint   string // how to get it
}

func (m MissingLibrary) String() string {
	return fmt.Sprintf("%s (needed by %s; %s)", m.Name, m.Needed, m.Hint)
}

// providerFile is the provider library ORT loads from its own directory.
func providerFile(libDir, provider string) string {
	return filepath.Join(libDir, "libonnxruntime_providers_"+provider+".so")
}

// runtimeLoaded are libraries a provider dlopens itself (not in DT_NEEDED).
var runtimeLoaded = map[string][]string{ProviderCUDA: {"libcudnn.so.9"}}

// MissingGPULibraries lists the libraries that provider ("cuda" or "tensorrt") of the ONNX
// Runtime in libDir needs and the loader cannot find. An error means the provider file
// itself is absent or unreadable (a CPU-only build).
func MissingGPULibraries(libDir, provider string) ([]MissingLibrary, error) {
	path := providerFile(libDir, provider)
	if !isFile(path) {
		return nil, fmt.Errorf("%w: %s is absent (this ONNX Runtime has no %s provider; run scripts/setup --gpu)", ErrNoProvider, path, provider)
	}
	r := resolver{search: loaderDirs(), seen: map[string]bool{}}
	if err := r.walk(path, filepath.Base(path)); err != nil {
		return nil, err
	}
	for _, name := range runtimeLoaded[provider] {
		if _, ok := r.find(name, nil); !ok {
			r.missing = append(r.missing, MissingLibrary{Name: name, Needed: filepath.Base(path) + " at run time", Hint: libraryHint(name)})
		}
	}
	return r.missing, nil
}

type resolver struct {
	search  []string
	seen    map[string]bool
	missing []MissingLibrary
}

// walk resolves path's DT_NEEDED entries, recursing into the ones found (their own
// dependencies may be missing too, e.g. cuBLAS needs cuBLASLt).
func (r *resolver) walk(path, who string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("infer: read %s: %w", path, err)
	}
	defer f.Close()
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		return fmt.Errorf("infer: read DT_NEEDED of %s: %w", path, err)
	}
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	if len(runpath) == 0 {
		runpath, _ = f.DynString(elf.DT_RPATH)
	}
	var own []string
	for _, rp := range runpath {
		for _, d := range filepath.SplitList(rp) {
			own = append(own, strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", filepath.Dir(path)))
		}
	}
	for _, name := range needed {
		if r.seen[name] {
			continue
		}
		r.seen[name] = true
		found, ok := r.find(name, own)
		if !ok {
			r.missing = append(r.missing, MissingLibrary{Name: name, Needed: who, Hint: libraryHint(name)})
			continue
		}
		if err := r.walk(found, name); err != nil {
			// An unreadable dependency is the loader's problem to report; do not mask
			// the missing ones found so far.
			continue
		}
	}
	return nil
}

func (r *resolver) find(name string, own []string) (string, bool) {
	for _, d := range append(own, r.search...) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// loaderDirs is the loader's search order after RUNPATH: $LD_LIBRARY_PATH, the
// directories of /etc/ld.so.conf (with its includes), then the default directories.
func loaderDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, ldSoConf("/etc/ld.so.conf", 0)...)
	return append(dirs, "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

func ldSoConf(path string, depth int) []string {
	f, err := os.Open(path)
	if err != nil || depth > 4 {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "include "):
			pattern := strings.TrimSpace(strings.TrimPrefix(line, "include "))
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(path), pattern)
			}
			matches, _ := filepath.Glob(pattern)
			for _, m := range matches {
				dirs = append(dirs, ldSoConf(m, depth+1)...)
			}
		default:
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// libraryHint says where a missing library comes from. The nvidia-* pip packages put
// their libraries under site-packages/nvidia/.../lib: that folder goes on LD_LIBRARY_PATH.
func libraryHint(name string) string {
	const path = "and put its lib folder (site-packages/nvidia/.../lib) on LD_LIBRARY_PATH, or install the CUDA 13 toolkit"
	switch {
	case strings.HasPrefix(name, "libcuda.so"):
		return "the NVIDIA driver provides it: no driver is installed, or this host has no NVIDIA GPU"
	case strings.HasPrefix(name, "libcudart.so"):
		return "CUDA 13 runtime: pip install nvidia-cuda-runtime " + path
	case strings.HasPrefix(name, "libcublas"):
		return "cuBLAS for CUDA 13: pip install nvidia-cublas " + path
	case strings.HasPrefix(name, "libcurand"):
		return "cuRAND for CUDA 13: pip install nvidia-curand " + path
	case strings.HasPrefix(name, "libcufft"):
		return "cuFFT for CUDA 13: pip install nvidia-cufft " + path
	case strings.HasPrefix(name, "libcudnn"):
		return "cuDNN 9 for CUDA 13: pip install nvidia-cudnn-cu13 and put site-packages/nvidia/cudnn/lib on LD_LIBRARY_PATH, or install cuDNN 9 from NVIDIA"
	case strings.HasPrefix(name, "libnvinfer"), strings.HasPrefix(name, "libnvonnxparser"):
		return "TensorRT 10 for CUDA 13: pip install 'tensorrt-cu13-libs==10.*' and put its lib folder on LD_LIBRARY_PATH, or install TensorRT 10 from NVIDIA"
	case strings.HasPrefix(name, "libcu"), strings.HasPrefix(name, "libnv"):
		return "part of CUDA 13: install the matching nvidia-* pip package " + path
	}
	return "a system library: install it with the OS package manager"
}
