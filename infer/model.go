package infer

import (
	"errors"
	"fmt"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/actionstream/actionstream/infer/detect"
)

// Model is an open ONNX model that satisfies the model contract.
type Model struct {
	Meta     Metadata
	Path     string
	Digest   string // "sha256:<hex>" of the file's bytes, the same bytes the session runs
	Provider string // execution provider actually used
	// Depthwise is the kernel of the channel-wise 3×3×3 convolutions: "ort", or "own-<path>"
	// when DepthwiseNodes Conv nodes were given to infer/dwconv (known once Ready returns).
	Depthwise      string
	DepthwiseNodes int

	rt         *Runtime
	clipLen    int
	classes    int
	fixedBatch int
	detectOpts detect.Options // single-stage decoding (SetDetection)
	boxes      BoxSource      // RoI mode's actors (SetBoxSource)

	mu     sync.RWMutex // Runs share it (ONNX Runtime's Run is thread-safe); Close takes it whole; guards sess
	sess   *ort.DynamicAdvancedSession
	dw     *substitution // released after sess
	closed bool
	// built is closed when OpenInBackground's session is made (buildErr says if not); nil
	// when Open made it.
	built    chan struct{}
	buildErr error
}

// Open reads path, validates the model contract (ReadMetadata's errors) and creates an
// ONNX Runtime session with the Runtime's threads and provider. If creating the
// session with a GPU provider fails (e.g. no device), it falls back like NewRuntime.
func (r *Runtime) Open(path string) (*Model, error) {
	m, b, err := r.prepare(path)
	if err != nil {
		return nil, err
	}
	if err := r.build(m, b); err != nil {
		return nil, err
	}
	if err := r.warm(m); err != nil {
		m.destroy()
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		m.destroy()
		return nil, ErrClosed
	}
	r.models[m] = struct{}{}
	return m, nil
}

// OpenInBackground is Open with the session built (and warmed up, with Options.WarmUpBatches)
// on another goroutine: the file and its contract are read and checked now (Open's errors),
// the model's calls wait for the session, and Ready reports whether it could be built. `run`
// decodes its first clips meanwhile (the session of X3D-S takes about 0.15 s of CPU, its first
// call as much again). A GPU provider, whose fallback decides Provider, builds the session here,
// as Open.
func (r *Runtime) OpenInBackground(path string) (*Model, error) {
	if r.provider != ProviderCPU {
		return r.Open(path)
	}
	m, b, err := r.prepare(path)
	if err != nil {
		return nil, err
	}
	m.built = make(chan struct{})
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.models[m] = struct{}{}
	r.mu.Unlock()
	go func() {
		m.buildErr = r.build(m, b)
		close(m.built)
		if m.buildErr == nil {
			// The model's calls queue behind this one; if it fails, theirs say why. A model
			// closed first (an input too short for a clip) needs no warming.
			if err := r.warm(m); err != nil && !errors.Is(err, ErrClosed) {
				r.log.Warn("model warm-up failed", "model", path, "err", err)
			}
		}
	}()
	return m, nil
}

// Ready waits until the model's session exists and returns the error that prevented it.
func (m *Model) Ready() error {
	if m.built != nil {
		<-m.built
	}
	return m.buildErr
}

// prepare reads and checks the model file: the Model without its session, and the bytes.
func (r *Runtime) prepare(path string) (*Model, []byte, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, nil, ErrClosed
	}
	b, digest, err := readModelFile(path)
	if err != nil {
		return nil, nil, err
	}
	mf, err := inspect(path, b)
	if err != nil {
		return nil, nil, err
	}
	return &Model{
		Meta:       mf.meta,
		Path:       path,
		Digest:     digest,
		rt:         r,
		clipLen:    mf.meta.ClipLen(),
		classes:    mf.classes,
		fixedBatch: int(mf.fixedBatch),
		detectOpts: DefaultDetectionConfig().options(),
		Provider:   r.provider, // build changes it if the session falls back
	}, b, nil
}

// build creates m's session from the model bytes b (provider fallbacks, depthwise kernel).
func (r *Runtime) build(m *Model, b []byte) error {
	if err := r.loaded(); err != nil {
		return err
	}
	path := m.Path
	start := time.Now()
	var errs []error
	for _, p := range fallbacks(r.provider) {
		sess, dw, err := r.newSession(b, p, m.Meta)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		if p != r.provider {
			// RequireGPU was checked in NewRuntime against the library; a session that
			// still cannot start on the GPU is checked here the same way.
			if _, err := chosen(r.provider, p, r.requireGPU, fmt.Errorf("%v", errs), r.log.With("model", path)); err != nil {
				sess.Destroy()
				dw.release()
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		if p != m.Provider { // a fallback (never in the background: cpu only)
			m.Provider = p
		}
		m.sess, m.dw, m.Depthwise = sess, dw, DepthwiseORT
		if dw != nil {
			m.Depthwise, m.DepthwiseNodes = DepthwiseOwn+"-"+dw.path.String(), dw.nodes
			r.log.Debug("depthwise convolutions on infer/dwconv", "model", path, "nodes", dw.nodes, "path", dw.path.String())
		}
		break
	}
	if m.sess == nil {
		return fmt.Errorf("%s: infer: create onnx runtime session: %v", path, errs)
	}
	r.log.Debug("session built", "model", path, "provider", m.Provider, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// warm runs the Runtime's warm-up batches on m's session, if any.
func (r *Runtime) warm(m *Model) error {
	if len(r.warmUp) == 0 {
		return nil
	}
	took, err := m.WarmUp(r.warmUp)
	if err != nil {
		return fmt.Errorf("%s: %w", m.Path, err)
	}
	r.log.Info("model warmed up", "model", m.Path, "provider", m.Provider, "batches", r.warmUp, "took", durations(took))
	return nil
}

// destroy frees the session and the depthwise kernel's state, if any.
func (m *Model) destroy() error {
	var err error
	if m.sess != nil {
		err = m.sess.Destroy()
		m.sess = nil
	}
	m.dw.release()
	m.dw = nil
	return err
}

// newSession builds a session for the model bytes b; on the cpu provider with an own
// depthwise kernel the model is rewritten first, and the returned substitution must be
// released after the session.
func (r *Runtime) newSession(b []byte, provider string, meta Metadata) (*ort.DynamicAdvancedSession, *substitution, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, err
	}
	defer so.Destroy()
	if r.threads > 0 {
		if err := so.SetIntraOpNumThreads(r.threads); err != nil {
			return nil, nil, fmt.Errorf("set threads: %w", err)
		}
		if err := so.SetInterOpNumThreads(1); err != nil {
			return nil, nil, fmt.Errorf("set inter-op threads: %w", err)
		}
	}
	for k, v := range r.config {
		if err := so.AddSessionConfigEntry(k, v); err != nil {
			return nil, nil, fmt.Errorf("session config %s=%s: %w", k, v, err)
		}
	}
	if err := r.appendProvider(so, provider); err != nil {
		return nil, nil, err
	}
	var dw *substitution
	if p, own, _ := depthwisePath(r.depthwise); own && provider == ProviderCPU {
		// The model still runs on ONNX Runtime's Conv when the op cannot be added (e.g. a
		// library older than the C API version the op is built against): slower, not broken.
		sub, subDW, err := r.substituteDepthwise(b, so, p)
		if err != nil {
			r.log.Warn("depthwise kernel unavailable, using ONNX Runtime's Conv", "reason", err)
		} else {
			b, dw = sub, subDW
		}
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(b, inputNames(meta), outputNames(meta), so)
	if err != nil {
		dw.release()
		return nil, nil, err
	}
	return sess, dw, nil
}

// ClipLen is the number of float32 values of one clip, 3*T*S*S.
func (m *Model) ClipLen() int { return m.clipLen }

// Classes is C, the number of logits per clip.
func (m *Model) Classes() int { return m.classes }

// MaxBatch is the fixed batch size of a model exported without a dynamic N, else 0.
func (m *Model) MaxBatch() int { return m.fixedBatch }

// Run runs n clips, input laid out [n,3,T,S,S], and returns the logits [n,C] in a new
// slice. Safe for concurrent use: concurrent calls run side by side, each on its caller's
// thread (plus the session's intra-op threads).
func (m *Model) Run(input []float32, n int) ([]float32, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: n = %d", ErrBadBatch, n)
	}
	out := make([]float32, n*m.classes)
	if err := m.RunInto(input, n, out); err != nil {
		return nil, err
	}
	return out, nil
}

// RunInto is Run writing the logits into out (len >= n*C), so a caller that reuses its
// buffers allocates nothing per call on the Go side. For a detection model out gets each clip's
// best action probability per label over its actors (see Infer and Scorer), so benchmarks and warm-up
// run every kind of model.
func (m *Model) RunInto(input []float32, n int, out []float32) error {
	if m.Meta.IsDetection() {
		return m.runDetectionInto(input, n, out)
	}
	if n <= 0 {
		return fmt.Errorf("%w: n = %d", ErrBadBatch, n)
	}
	if m.fixedBatch > 0 && n != m.fixedBatch {
		return fmt.Errorf("%w: model %s has a fixed batch of %d, got %d", ErrBadBatch, m.Path, m.fixedBatch, n)
	}
	if len(input) < n*m.clipLen {
		return fmt.Errorf("%w: input has %d values, %d clips need %d", ErrBadBatch, len(input), n, n*m.clipLen)
	}
	if len(out) < n*m.classes {
		return fmt.Errorf("%w: output has room for %d values, %d clips need %d", ErrBadBatch, len(out), n, n*m.classes)
	}
	if err := m.Ready(); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	s := int64(m.Meta.CropSize)
	// Tensors wrap the Go slices (no copy); creating them is a cheap C call.
	in, err := ort.NewTensor(ort.NewShape(int64(n), 3, int64(m.Meta.Frames), s, s), input[:n*m.clipLen])
	if err != nil {
		return fmt.Errorf("infer: input tensor: %w", err)
	}
	defer in.Destroy()
	o, err := ort.NewTensor(ort.NewShape(int64(n), int64(m.classes)), out[:n*m.classes])
	if err != nil {
		return fmt.Errorf("infer: output tensor: %w", err)
	}
	defer o.Destroy()
	if err := m.sess.Run([]ort.Value{in}, []ort.Value{o}); err != nil {
		return fmt.Errorf("infer: run %s (batch %d): %w", m.Meta.Name, n, err)
	}
	return nil
}

// Close destroys the session; it waits for a Run in progress. Idempotent.
func (m *Model) Close() error {
	_ = m.Ready() // a session being built is destroyed once it exists
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	err := m.destroy()
	m.mu.Unlock()
	m.rt.mu.Lock()
	delete(m.rt.models, m)
	m.rt.mu.Unlock()
	if err != nil {
		return fmt.Errorf("infer: close %s: %w", m.Path, err)
	}
	return nil
}
