// Package kservetest is a small in-process inference server speaking the KServe v2 HTTP/JSON
// protocol (health, server and model metadata, inference), for tests of the client and of a
// pipeline scoring on a remote server. Its JSON is built from the protocol's definition
// (kserve/kserve docs/predict-api/v2/required_api.md), not from a server's code; it checks
// requests the way a real server must (tensor names, datatype, shape against data) and answers
// errors with the protocol's {"error": "..."} object.
package kservetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"

	"github.com/actionstream/actionstream/infer/kserve"
)

// Model is the one model the server holds.
type Model struct {
	Name    string
	Version string // "" = unversioned: versioned URLs answer 404
	Inputs  []kserve.TensorMetadata
	Outputs []kserve.TensorMetadata
	// Score computes the outputs of a batch from the FP32 input named Inputs[0] of shape shape;
	// it returns one flat row-major slice per output, in Outputs order, with the batch first.
	Score func(input []float32, shape []int64) [][]float32
}

// Server is the fake. Set its fields before the first request, or through its methods after.
type Server struct {
	*httptest.Server
	model Model

	mu        sync.Mutex
	ready     bool
	live      bool
	fault     func(r *http.Request) (status int, body string)
	mutate    func(*kserve.InferResponse)
	batches   []int // batch size of every inference request answered 200
	requested int   // inference requests received
}

// New starts a server holding m, live and ready.
func New(m Model) *Server {
	s := &Server{model: m, ready: true, live: true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) { s.health(w, s.isLive()) })
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) { s.health(w, s.isLive() && s.isReady()) })
	mux.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, kserve.ServerMetadata{Name: "kservetest", Version: "1", Extensions: []string{}})
	})
	for _, prefix := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		mux.HandleFunc("GET "+prefix+"/ready", s.wrap(func(w http.ResponseWriter, r *http.Request) { s.health(w, s.isReady()) }))
		mux.HandleFunc("GET "+prefix, s.wrap(s.metadata))
		mux.HandleFunc("POST "+prefix+"/infer", s.wrap(s.infer))
	}
	s.Server = httptest.NewServer(mux)
	return s
}

// SetReady makes the model (and so the server) ready or not.
func (s *Server) SetReady(ok bool) { s.mu.Lock(); s.ready = ok; s.mu.Unlock() }

// SetLive makes the server live or not.
func (s *Server) SetLive(ok bool) { s.mu.Lock(); s.live = ok; s.mu.Unlock() }

// SetFault makes every model request that f answers with a status other than 0 fail with that
// status and body (a 5xx, a 4xx with an error object, a proxy's HTML page).
func (s *Server) SetFault(f func(r *http.Request) (status int, body string)) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// SetMutate lets a test change each inference answer before it is sent (wrong shapes, a
// missing output, another datatype).
func (s *Server) SetMutate(f func(*kserve.InferResponse)) { s.mu.Lock(); s.mutate = f; s.mu.Unlock() }

// Batches is the batch size of every inference request answered 200, in order.
func (s *Server) Batches() []int { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.batches) }

// Requests counts the inference requests received.
func (s *Server) Requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requested }

func (s *Server) isReady() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.ready }
func (s *Server) isLive() bool  { s.mu.Lock(); defer s.mu.Unlock(); return s.live }

// health answers a health endpoint: 200 with an empty body for true, 400 for false.
func (s *Server) health(w http.ResponseWriter, ok bool) {
	if ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusBadRequest)
}

// wrap resolves the model (404 with an error object when unknown) and applies the fault.
func (s *Server) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != s.model.Name || (r.PathValue("version") != "" && r.PathValue("version") != s.model.Version) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("Request for unknown model: '%s' is not found", r.PathValue("name")))
			return
		}
		s.mu.Lock()
		fault := s.fault
		if r.Method == http.MethodPost {
			s.requested++
		}
		s.mu.Unlock()
		if fault != nil {
			if status, body := fault(r); status != 0 {
				w.WriteHeader(status)
				_, _ = w.Write([]byte(body))
				return
			}
		}
		h(w, r)
	}
}

func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	md := kserve.ModelMetadata{Name: s.model.Name, Platform: "onnxruntime_onnx", Inputs: s.model.Inputs, Outputs: s.model.Outputs}
	if s.model.Version != "" {
		md.Versions = []string{s.model.Version}
	}
	writeJSON(w, http.StatusOK, md)
}

// requestInput is a request tensor as the server reads it (data as given).
type requestInput struct {
	Name     string    `json:"name"`
	Shape    []int64   `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float32 `json:"data"`
}

func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	if !s.isReady() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("model '%s' is not ready", s.model.Name))
		return
	}
	var req struct {
		ID      string                 `json:"id"`
		Inputs  []requestInput         `json:"inputs"`
		Outputs []kserve.RequestOutput `json:"outputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "failed to parse the request JSON: "+err.Error())
		return
	}
	want := s.model.Inputs[0]
	if len(req.Inputs) != 1 || req.Inputs[0].Name != want.Name {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("expected 1 input '%s' for model '%s'", want.Name, s.model.Name))
		return
	}
	in := req.Inputs[0]
	if in.Datatype != want.Datatype {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("input '%s' datatype %s, model expects %s", in.Name, in.Datatype, want.Datatype))
		return
	}
	n := int64(1)
	ok := len(in.Shape) == len(want.Shape)
	for i, d := range in.Shape {
		n *= d
		if ok && want.Shape[i] != -1 && want.Shape[i] != d {
			ok = false
		}
	}
	if !ok || d0(in.Shape) < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unexpected shape for input '%s': model expects %v, got %v", in.Name, want.Shape, in.Shape))
		return
	}
	if int64(len(in.Data)) != n {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("input '%s' has %d values, its shape %v needs %d", in.Name, len(in.Data), in.Shape, n))
		return
	}
	rows := s.model.Score(in.Data, in.Shape)
	resp := kserve.InferResponse{ModelName: s.model.Name, ModelVersion: s.model.Version, ID: req.ID}
	for i, o := range s.model.Outputs {
		shape := slices.Clone(o.Shape)
		if shape[0] == -1 {
			shape[0] = in.Shape[0]
		}
		data, _ := json.Marshal(rows[i])
		resp.Outputs = append(resp.Outputs, kserve.ResponseOutput{Name: o.Name, Shape: shape, Datatype: o.Datatype, Data: data})
	}
	s.mu.Lock()
	mutate := s.mutate
	s.batches = append(s.batches, int(in.Shape[0]))
	s.mu.Unlock()
	if mutate != nil {
		mutate(&resp)
	}
	writeJSON(w, http.StatusOK, resp)
}

func d0(shape []int64) int64 {
	if len(shape) == 0 {
		return 0
	}
	return shape[0]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
