// Package python runs the PyTorch half of training: the Python sources are embedded
// in the binary, extracted once into a cache directory keyed by their content hash,
// and run as `python -m actionstream_trainer <command>` with the discovered
// interpreter. The Python side answers in JSON lines on stdout (progress messages and
// one result); see actionstream_trainer/proto.py for the protocol.
//
// The network is built in PyTorch only from the architecture spec JSON that
// training/x3d writes, so the Go counter, the trained network and the exported ONNX
// model share one definition.
package python

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Module is the Python package name (`python -m Module`).
const Module = "actionstream_trainer"

// EnvPython names the environment variable that selects the interpreter.
const EnvPython = "ACTIONSTREAM_PYTHON"

// systemPython is Debian's interpreter, where python3-torch installs PyTorch; a
// python3 earlier on PATH (pyenv, venv) often lacks it.
const systemPython = "/usr/bin/python3"

//go:embed actionstream_trainer/*.py
var sources embed.FS

// Options configure a Runner. The zero value discovers everything.
type Options struct {
	// Python is the interpreter; "" = $ACTIONSTREAM_PYTHON, else /usr/bin/python3 if
	// it has torch, else python3 on PATH.
	Python string
	// CacheDir is where the embedded sources are extracted (a subdirectory per
	// content hash); "" = <user cache dir>/actionstream/python, or the temp dir.
	CacheDir string
	// Threads sets torch's intra-op threads; 0 = torch's default.
	Threads int
	// Stderr, if set, receives the Python process's stderr as it is written
	// (warnings, tracebacks); the last part is kept for error messages regardless.
	Stderr io.Writer
	Logger *slog.Logger
}

// Runner runs commands of the embedded Python package. It holds no process between
// calls; Run may be called concurrently (each call is its own process).
type Runner struct {
	python  string
	dir     string
	threads int
	stderr  io.Writer
	log     *slog.Logger
}

// New finds the interpreter and extracts the Python sources (once per content hash).
func New(ctx context.Context, opts Options) (*Runner, error) {
	if opts.Threads < 0 {
		return nil, fmt.Errorf("%w: threads %d", ErrBadOptions, opts.Threads)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "training/python")
	py := opts.Python
	if py == "" {
		var err error
		if py, err = Interpreter(ctx); err != nil {
			return nil, err
		}
	}
	base := opts.CacheDir
	if base == "" {
		if d, err := os.UserCacheDir(); err == nil {
			base = filepath.Join(d, "actionstream", "python")
		} else {
			base = filepath.Join(os.TempDir(), "actionstream-python")
		}
	}
	dir, err := Extract(base)
	if err != nil {
		return nil, err
	}
	log.Debug("python ready", "python", py, "dir", dir)
	return &Runner{python: py, dir: dir, threads: opts.Threads, stderr: opts.Stderr, log: log}, nil
}

// Python is the interpreter this Runner uses.
func (r *Runner) Python() string { return r.python }

// Dir is the directory holding the extracted package (what PYTHONPATH gets).
func (r *Runner) Dir() string { return r.dir }

// Interpreter discovers the Python to run: $ACTIONSTREAM_PYTHON (looked up on PATH
// if it is a bare name), else /usr/bin/python3 when it can import torch, else
// python3 on PATH.
func Interpreter(ctx context.Context) (string, error) {
	if p := os.Getenv(EnvPython); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%w: %s=%q: %w", ErrNoPython, EnvPython, p, err)
		}
		return path, nil
	}
	if hasTorch(ctx, systemPython) {
		return systemPython, nil
	}
	path, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("%w: no %s with torch and no python3 on PATH (set %s)",
			ErrNoPython, systemPython, EnvPython)
	}
	return path, nil
}

// hasTorch reports whether py can find the torch package (without importing it,
// which takes seconds).
func hasTorch(ctx context.Context, py string) bool {
	if _, err := os.Stat(py); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c",
		"import importlib.util,sys; sys.exit(importlib.util.find_spec('torch') is None)")
	return cmd.Run() == nil
}

// SourceHash is the hex SHA-256 over the embedded sources' names and contents; the
// extraction directory is named after it so a new binary never runs stale code.
func SourceHash() string {
	h := sha256.New()
	_ = fs.WalkDir(sources, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sources.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}

// Extract writes the embedded package under base/<hash prefix>/ unless it is
// already there, and returns that directory. Concurrent extractions (several
// processes) are safe: each writes a private temp dir and renames it into place.
func Extract(base string) (string, error) {
	dir := filepath.Join(base, SourceHash()[:16])
	if _, err := os.Stat(filepath.Join(dir, Module, "__main__.py")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("python: extract: %w", err)
	}
	tmp, err := os.MkdirTemp(base, ".extract-")
	if err != nil {
		return "", fmt.Errorf("python: extract: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	err = fs.WalkDir(sources, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := sources.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("python: extract: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Lost a race with another extractor: theirs is identical.
		if _, statErr := os.Stat(filepath.Join(dir, Module, "__main__.py")); statErr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("python: extract: %w", err)
	}
	return dir, nil
}

// Message is one JSON line from the Python side.
type Message struct {
	Type  string `json:"type"` // "progress", "result" or "error"
	Stage string `json:"stage,omitempty"`
	Step  int    `json:"step,omitempty"`
	Total int    `json:"total,omitempty"`
	// Raw is the whole line, for fields a command adds (loss, accuracy, ...).
	Raw json.RawMessage `json:"-"`
}

// stderrTail is how much of the process's stderr is kept for error messages.
const stderrTail = 8 << 10

// Run runs `python -m actionstream_trainer [--threads N] args...` and returns the
// raw JSON of its result message. onProgress (may be nil) is called for every
// progress message, in order, on the calling goroutine; an error it
// returns stops the process and is returned. Cancelling ctx interrupts the process
// (SIGINT, then SIGKILL after a grace period) and Run returns ctx's error.
func (r *Runner) Run(ctx context.Context, args []string, onProgress func(Message) error) (json.RawMessage, error) {
	full := []string{"-m", Module}
	if r.threads > 0 {
		full = append(full, "--threads", strconv.Itoa(r.threads))
	}
	full = append(full, args...)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.python, full...)
	cmd.Env = r.env()
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	tail := &tailBuffer{max: stderrTail}
	if r.stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, r.stderr)
	} else {
		cmd.Stderr = tail
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	name := strings.Join(args[:min(1, len(args))], "")
	r.log.Debug("python run", "command", name, "args", args)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start %s: %w", ErrFailed, r.python, err)
	}

	var (
		result   json.RawMessage
		pyErr    string
		protoErr error
		cbErr    error
	)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m Message
		if err := json.Unmarshal(line, &m); err != nil {
			if protoErr == nil {
				protoErr = fmt.Errorf("%w: %s: non-JSON line %q", ErrProtocol, name, truncate(string(line), 200))
			}
			continue
		}
		m.Raw = append(json.RawMessage(nil), line...)
		switch m.Type {
		case "result":
			result = m.Raw
		case "error":
			var e struct{ Message string }
			_ = json.Unmarshal(line, &e)
			pyErr = e.Message
		case "progress":
			if onProgress != nil && cbErr == nil {
				if cbErr = onProgress(m); cbErr != nil {
					cancel()
				}
			}
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		// Keep draining so the process is not blocked on a full pipe while we wait.
		_, _ = io.Copy(io.Discard, stdout)
	}
	waitErr := cmd.Wait()
	switch {
	case cbErr != nil:
		return nil, cbErr
	case waitErr != nil && parent.Err() != nil:
		return nil, fmt.Errorf("python %s: %w", name, parent.Err())
	}
	if waitErr != nil {
		why := pyErr
		if why == "" {
			why = lastLines(tail.String(), 15)
		}
		return nil, fmt.Errorf("%w: %s: %v: %s", ErrFailed, name, waitErr, why)
	}
	if scanErr != nil {
		return nil, fmt.Errorf("%w: %s: reading output: %w", ErrProtocol, name, scanErr)
	}
	if protoErr != nil {
		return nil, protoErr
	}
	if result == nil {
		return nil, fmt.Errorf("%w: %s exited without a result", ErrProtocol, name)
	}
	return result, nil
}

func (r *Runner) env() []string {
	env := os.Environ()
	pp := r.dir
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pp += string(os.PathListSeparator) + old
	}
	return append(env,
		"PYTHONPATH="+pp,
		"PYTHONDONTWRITEBYTECODE=1", // the cache dir stays exactly what was extracted
		"PYTHONUNBUFFERED=1",
	)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
