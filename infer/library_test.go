package infer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLibraryPathFindsRepositoryCopy(t *testing.T) {
	t.Setenv(EnvLibrary, "")
	p, err := LibraryPath("")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "libonnxruntime.so.1" || !isFile(p) {
		t.Fatalf("LibraryPath = %q, want an existing libonnxruntime.so.1", p)
	}
}

func TestLibraryPathSearchesUpwardFromWorkingDirectory(t *testing.T) {
	t.Setenv(EnvLibrary, "")
	root := t.TempDir()
	lib := filepath.Join(root, "third_party", "onnxruntime", "libonnxruntime.so.1")
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, []byte("not really a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	p, err := LibraryPath("")
	if err != nil {
		t.Fatal(err)
	}
	// The test binary lives outside the repository, so the working directory decides.
	if want, _ := filepath.EvalSymlinks(lib); p != lib && p != want {
		t.Fatalf("LibraryPath = %q, want %q", p, lib)
	}
}

func TestLibraryPathExplicitAndEnv(t *testing.T) {
	found, err := LibraryPath("")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := LibraryPath(found); err != nil || p != found {
		t.Fatalf("explicit: %q, %v", p, err)
	}
	missing := filepath.Join(t.TempDir(), "nope.so")
	if _, err := LibraryPath(missing); !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("explicit missing: err = %v, want ErrNoLibrary", err)
	}
	t.Setenv(EnvLibrary, found)
	if p, err := LibraryPath(""); err != nil || p != found {
		t.Fatalf("env: %q, %v", p, err)
	}
	// A set but wrong variable is an error, not a silent fallback to another copy.
	t.Setenv(EnvLibrary, missing)
	if _, err := LibraryPath(""); !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("env missing: err = %v, want ErrNoLibrary", err)
	}
}
