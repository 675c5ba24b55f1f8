// Package infer runs action-recognition models: it reads the model contract from ONNX
// files (docs/MODEL_CONTRACT.md), runs them in ONNX Runtime on CPU, CUDA or TensorRT,
// turns logits into scores, and batches clips from all streams into one model call.
//
// Typical use:
//
//	rt, err := infer.NewRuntime(infer.Options{Threads: 4}) // library found by LibraryPath
//	m, err := rt.Open("model.onnx")                        // contract checked, session made
//	b, err := infer.NewBatcher(m, infer.BatcherConfig{}, handle)
//	go b.Run(ctx)                                          // owner cancels ctx, waits for Run
//	b.Submit(clip)                                         // from any stream's goroutine
//
// ReadMetadata needs no ONNX Runtime: it parses the protobuf itself.
package infer

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Execution providers.
const (
	ProviderCPU      = "cpu"
	ProviderCUDA     = "cuda"
	ProviderTensorRT = "tensorrt"
)

// ortState mirrors onnxruntime_go's own process-global state (one loaded library, one
// environment per process). It has to be global because the library's is; every
// Runtime holds one reference and the last Close destroys the environment.
var ortState struct {
	mu   sync.Mutex
	refs int
	lib  string
}

// Runtime is a handle on the process's ONNX Runtime environment plus the options that
// models are opened with. Several Runtimes may coexist if they use the same library.
type Runtime struct {
	lib        string
	threads    int
	provider   string // effective, after fallback
	requireGPU bool
	config     map[string]string
	log        *slog.Logger
	cuda       CUDAOptions
	trt        TensorRTOptions
	warmUp     []int // batch sizes run once when a model opens
	depthwise  string
	// loadDone is closed once a background load (Options.LoadInBackground) ended; loadErr
	// says why it failed. nil when NewRuntime loaded the library itself.
	loadDone chan struct{}
	loadErr  error

	mu     sync.Mutex
	closed bool
	models map[*Model]struct{}
}

// NewRuntime loads the library (once per process), initialises the ORT environment
// (refcounted) and resolves the execution provider. Close releases the reference.
func NewRuntime(opts Options) (*Runtime, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "infer")
	want := strings.ToLower(strings.TrimSpace(opts.Provider))
	if want == "" {
		want = DefaultModelConfig().Runtime.Provider
	}
	switch want {
	case ProviderCPU, ProviderCUDA, ProviderTensorRT:
	default:
		return nil, fmt.Errorf("%w: provider %q, want cpu, cuda or tensorrt", ErrBadOptions, opts.Provider)
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("%w: threads %d < 0", ErrBadOptions, opts.Threads)
	}
	for _, n := range opts.WarmUpBatches {
		if n < 1 {
			return nil, fmt.Errorf("%w: warm-up batch size %d < 1", ErrBadOptions, n)
		}
	}
	if _, _, err := depthwisePath(opts.DepthwiseKernel); err != nil {
		return nil, err
	}
	lib, err := chooseLibrary(opts, want, log)
	if err != nil {
		return nil, err
	}
	if opts.LoadInBackground && want == ProviderCPU {
		r := runtimeFor(lib, opts, log)
		r.provider = ProviderCPU
		r.loadDone = make(chan struct{})
		go func() {
			defer close(r.loadDone)
			r.loadErr = acquireEnv(lib)
		}()
		return r, nil
	}
	if err := acquireEnv(lib); err != nil {
		return nil, err
	}
	r := runtimeFor(lib, opts, log)
	r.provider, err = r.resolveProvider(want, log.With("library", lib, "version", ort.GetVersion()))
	if err != nil {
		releaseEnv()
		return nil, err
	}
	return r, nil
}

func runtimeFor(lib string, opts Options, log *slog.Logger) *Runtime {
	r := &Runtime{lib: lib, threads: opts.Threads, requireGPU: opts.RequireGPU, config: maps.Clone(opts.SessionConfig), log: log, models: map[*Model]struct{}{},
		cuda: opts.CUDA, trt: opts.TensorRT, warmUp: slices.Clone(opts.WarmUpBatches), depthwise: opts.DepthwiseKernel}
	if r.cuda == (CUDAOptions{}) {
		r.cuda = DefaultCUDAOptions()
	}
	return r
}

// Loaded waits for a library loading in the background (Options.LoadInBackground) and says
// why it did not load; at once nil for a Runtime that loaded it in NewRuntime.
func (r *Runtime) Loaded() error { return r.loaded() }

func (r *Runtime) loaded() error {
	if r.loadDone == nil {
		return nil
	}
	<-r.loadDone
	return r.loadErr
}

// chooseLibrary picks the ONNX Runtime library: an explicit `library` for every provider;
// else the GPU build for cuda/tensorrt (falling back to the CPU library with a warning,
// or ErrNoGPU with RequireGPU, when there is none); else the CPU library.
func chooseLibrary(opts Options, want string, log *slog.Logger) (string, error) {
	if opts.LibraryPath != "" || want == ProviderCPU {
		return LibraryPath(opts.LibraryPath)
	}
	gpu, err := GPULibraryPath(opts.GPULibraryPath)
	if err == nil {
		return gpu, nil
	}
	if opts.GPULibraryPath != "" {
		return "", err
	}
	if opts.RequireGPU {
		return "", fmt.Errorf("%w: asked for %s with RequireGPU: %w", ErrNoGPU, want, err)
	}
	log.Warn("no GPU build of ONNX Runtime, using the CPU library", "want", want, "reason", err)
	return LibraryPath("")
}

// TelemetryEnv turns ONNX Runtime's own usage telemetry off when "1". Its POSIX builds from
// 1.30 on record sessions, models and devices in an offline database under
// ~/.cache/Microsoft/DeveloperTools, keep a persistent device id there, leave a
// /tmp/mat-debug-PID.log per process and upload to Microsoft when they can. A camera product
// must not do that unasked: the runtime sets "1" unless the variable already has a value (a
// user's ORT_DISABLE_TELEMETRY=0 opts in). docs/OPERATIONS.md.
const TelemetryEnv = "ORT_DISABLE_TELEMETRY"

func acquireEnv(lib string) error {
	ortState.mu.Lock()
	defer ortState.mu.Unlock()
	if ortState.refs > 0 {
		if ortState.lib != lib {
			return fmt.Errorf("%w: loaded %s, asked for %s", ErrLibraryMismatch, ortState.lib, lib)
		}
		ortState.refs++
		return nil
	}
	if os.Getenv(TelemetryEnv) == "" {
		os.Setenv(TelemetryEnv, "1") // read once, when the library starts its environment
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("infer: initialise onnx runtime from %s: %w", lib, err)
	}
	if os.Getenv(TelemetryEnv) == "1" {
		if err := ort.DisableTelemetry(); err != nil { // the runtime switch, for builds without the variable
			ort.DestroyEnvironment()
			return fmt.Errorf("infer: turn off onnx runtime's telemetry: %w", err)
		}
	}
	ortState.refs, ortState.lib = 1, lib
	return nil
}

func releaseEnv() error {
	ortState.mu.Lock()
	defer ortState.mu.Unlock()
	if ortState.refs == 0 {
		return nil
	}
	ortState.refs--
	if ortState.refs > 0 {
		return nil
	}
	ortState.lib = ""
	if err := ort.DestroyEnvironment(); err != nil {
		return fmt.Errorf("infer: destroy onnx runtime environment: %w", err)
	}
	return nil
}

// fallbacks lists the providers tried, best first, for a requested one.
func fallbacks(want string) []string {
	switch want {
	case ProviderTensorRT:
		return []string{ProviderTensorRT, ProviderCUDA, ProviderCPU}
	case ProviderCUDA:
		return []string{ProviderCUDA, ProviderCPU}
	default:
		return []string{ProviderCPU}
	}
}

// resolveProvider probes the library for the requested provider by appending it to a
// throw-away SessionOptions (a library built without it fails there) and applies the
// fallback rule.
func (r *Runtime) resolveProvider(want string, log *slog.Logger) (string, error) {
	lib, requireGPU := r.lib, r.requireGPU
	if want != ProviderCPU {
		// A missing provider library makes ORT log an error of its own; the outcome is
		// reported once below, so keep ORT quiet while probing.
		if err := ort.SetEnvironmentLogLevel(ort.LoggingLevelFatal); err == nil {
			defer ort.SetEnvironmentLogLevel(ort.LoggingLevelError)
		}
	}
	var errs []error
	for _, p := range fallbacks(want) {
		err := r.probeProvider(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, diagnose(lib, p, err)))
			continue
		}
		return chosen(want, p, requireGPU, errors.Join(errs...), log)
	}
	return "", fmt.Errorf("infer: no execution provider usable: %w", errors.Join(errs...))
}

// chosen applies the fallback rule once provider got picked for want; why explains
// the providers that failed.
func chosen(want, got string, requireGPU bool, why error, log *slog.Logger) (string, error) {
	if got == want {
		return got, nil
	}
	if got == ProviderCPU && requireGPU {
		return "", fmt.Errorf("%w: asked for %s with RequireGPU: %v", ErrNoGPU, want, why)
	}
	log.Warn("execution provider unavailable, falling back", "want", want, "using", got, "reason", why)
	return got, nil
}

// diagnose explains why GPU provider p of the library lib failed to load: ORT itself
// only says "Failed to load shared library".
func diagnose(lib, p string, err error) error {
	if p == ProviderCPU {
		return err
	}
	missing, derr := MissingGPULibraries(filepath.Dir(lib), p)
	if derr != nil {
		return fmt.Errorf("%w (%w)", err, derr)
	}
	if len(missing) == 0 {
		return err
	}
	names := make([]string, len(missing))
	for i, m := range missing {
		names[i] = m.String()
	}
	return fmt.Errorf("%w: %w: %s", err, ErrGPULibraries, strings.Join(names, "; "))
}

func (r *Runtime) probeProvider(p string) error {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return err
	}
	defer so.Destroy()
	return r.appendProvider(so, p)
}

// Provider is the execution provider models will be opened with (after fallback).
func (r *Runtime) Provider() string { return r.provider }

// Library is the path of the loaded ONNX Runtime library.
func (r *Runtime) Library() string { return r.lib }

// Version is the ONNX Runtime version string of the loaded library.
func (r *Runtime) Version() string {
	if r.loaded() != nil {
		return ""
	}
	return ort.GetVersion()
}

// Close closes every model still open from this Runtime, then releases its reference
// on the environment. Idempotent.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	models := make([]*Model, 0, len(r.models))
	for m := range r.models {
		models = append(models, m)
	}
	r.mu.Unlock()
	var errs []error
	for _, m := range models {
		errs = append(errs, m.Close())
	}
	if r.loaded() != nil {
		return errors.Join(errs...) // no reference was taken
	}
	errs = append(errs, releaseEnv())
	return errors.Join(errs...)
}
