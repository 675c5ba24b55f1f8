package infer

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// NewSession makes an ONNX Runtime session for any ONNX model (not only one of the
// model contract, e.g. a user's person detector) with the Runtime's threads, session
// config and provider, falling back like Open. It returns the provider used. The caller
// destroys the session, before closing the Runtime.
func (r *Runtime) NewSession(onnx []byte, inputs, outputs []string) (*ort.DynamicAdvancedSession, string, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, "", ErrClosed
	}
	if err := r.loaded(); err != nil {
		return nil, "", err
	}
	var errs []error
	for _, p := range fallbacks(r.provider) {
		so, err := ort.NewSessionOptions()
		if err != nil {
			return nil, "", fmt.Errorf("infer: session options: %w", err)
		}
		sess, err := r.newSessionWith(so, onnx, inputs, outputs, p)
		so.Destroy()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		if p != r.provider {
			if _, err := chosen(r.provider, p, r.requireGPU, fmt.Errorf("%v", errs), r.log); err != nil {
				sess.Destroy()
				return nil, "", err
			}
		}
		return sess, p, nil
	}
	return nil, "", fmt.Errorf("infer: create onnx runtime session: %v", errs)
}

func (r *Runtime) newSessionWith(so *ort.SessionOptions, onnx []byte, inputs, outputs []string, provider string) (*ort.DynamicAdvancedSession, error) {
	if r.threads > 0 {
		if err := so.SetIntraOpNumThreads(r.threads); err != nil {
			return nil, fmt.Errorf("set threads: %w", err)
		}
		if err := so.SetInterOpNumThreads(1); err != nil {
			return nil, fmt.Errorf("set inter-op threads: %w", err)
		}
	}
	for k, v := range r.config {
		if err := so.AddSessionConfigEntry(k, v); err != nil {
			return nil, fmt.Errorf("session config %s=%s: %w", k, v, err)
		}
	}
	if err := r.appendProvider(so, provider); err != nil {
		return nil, err
	}
	return ort.NewDynamicAdvancedSessionWithONNXData(onnx, inputs, outputs, so)
}
