package infer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRuntimeCPU(t *testing.T) {
	r := newRuntime(t, Options{})
	if r.Provider() != ProviderCPU {
		t.Fatalf("Provider = %q, want cpu", r.Provider())
	}
	if !strings.HasPrefix(r.Version(), "1.") {
		t.Fatalf("Version = %q", r.Version())
	}
}

// The bundled library is a CPU build: asking for a GPU provider must fall back to the
// CPU with a warning that names what was asked for. If someone points the tests at a
// GPU build, the provider must be taken without a warning instead.
func TestRuntimeGPUProviderFallsBackToCPU(t *testing.T) {
	for _, want := range []string{ProviderCUDA, ProviderTensorRT} {
		t.Run(want, func(t *testing.T) {
			log, buf := testLogger()
			r := newRuntime(t, Options{Provider: want, Logger: log})
			if r.Provider() == ProviderCPU {
				out := buf.String()
				if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "want="+want) || !strings.Contains(out, "using=cpu") {
					t.Fatalf("fell back to cpu without the expected warning; log:\n%s", out)
				}
				// Models opened from it run on the CPU.
				m := openModel(t, r, makeModel(t))
				if m.Provider != ProviderCPU {
					t.Fatalf("Model.Provider = %q", m.Provider)
				}
				if _, err := m.Run(make([]float32, m.ClipLen()), 1); err != nil {
					t.Fatal(err)
				}
				return
			}
			if strings.Contains(buf.String(), "level=WARN") {
				t.Fatalf("provider %q without fallback but warned:\n%s", r.Provider(), buf.String())
			}
		})
	}
}

func TestRuntimeRequireGPUFails(t *testing.T) {
	log, _ := testLogger()
	r, err := NewRuntime(Options{Provider: ProviderCUDA, RequireGPU: true, Logger: log})
	if err == nil {
		defer r.Close()
		if r.Provider() == ProviderCPU {
			t.Fatal("RequireGPU gave a cpu runtime")
		}
		t.Logf("library has %s; nothing to refuse", r.Provider())
		return
	}
	if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "cuda") {
		t.Fatalf("err = %v, want ErrNoGPU naming cuda", err)
	}
	// The failed runtime released its environment reference: a new one works.
	r2 := newRuntime(t, Options{})
	m := openModel(t, r2, makeModel(t))
	if _, err := m.Run(make([]float32, m.ClipLen()), 1); err != nil {
		t.Fatal(err)
	}
}

func TestRuntimeBadOptions(t *testing.T) {
	for _, o := range []Options{{Provider: "tpu"}, {Threads: -1}} {
		if _, err := NewRuntime(o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("NewRuntime(%+v) err = %v, want ErrBadOptions", o, err)
		}
	}
	if _, err := NewRuntime(Options{LibraryPath: filepath.Join(t.TempDir(), "x.so")}); !errors.Is(err, ErrNoLibrary) {
		t.Errorf("missing library: err = %v, want ErrNoLibrary", err)
	}
}

// The ORT environment is process-global: runtimes share it by reference count, it can be
// created again after the last one closed, and a second library is refused while loaded.
func TestRuntimeSharedEnvironment(t *testing.T) {
	path := makeModel(t)
	a, err := NewRuntime(Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRuntime(Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.Symlink(a.Library(), other); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRuntime(Options{LibraryPath: other}); !errors.Is(err, ErrLibraryMismatch) {
		t.Fatalf("second library: err = %v, want ErrLibraryMismatch", err)
	}
	ma, err := a.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ma.Run(make([]float32, ma.ClipLen()), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("model of a closed runtime: err = %v, want ErrClosed", err)
	}
	if _, err := a.Open(path); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open on closed runtime: err = %v, want ErrClosed", err)
	}
	mb, err := b.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Run(make([]float32, mb.ClipLen()), 1); err != nil {
		t.Fatalf("runtime b after a closed: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Environment destroyed; a fresh runtime initialises it again.
	c := newRuntime(t, Options{})
	mc := openModel(t, c, path)
	if _, err := mc.Run(make([]float32, mc.ClipLen()), 1); err != nil {
		t.Fatal(err)
	}
}
