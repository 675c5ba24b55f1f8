package kserve_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/kserve"
	"github.com/actionstream/actionstream/infer/kserve/kservetest"
)

// meta is a small model contract: T=2, S=2, three labels.
func meta() infer.Metadata {
	return infer.Metadata{Name: "tiny", Labels: []string{"a", "b", "c"}, Frames: 2, SamplingRate: 6, CropSize: 2, Score: infer.ScoreSoftmax,
		Mean: [3]float32{0.45, 0.45, 0.45}, Std: [3]float32{0.225, 0.225, 0.225}}
}

// served is the model as the server describes it; logits row i = the clip's first three
// values, so a test sees exactly what the client sent.
func served(n int64) kservetest.Model {
	m := meta()
	s := int64(m.CropSize)
	return kservetest.Model{
		Name:    "tiny",
		Inputs:  []kserve.TensorMetadata{{Name: "clip", Datatype: "FP32", Shape: []int64{n, 3, int64(m.Frames), s, s}}},
		Outputs: []kserve.TensorMetadata{{Name: "logits", Datatype: "FP32", Shape: []int64{n, 3}}},
		Score: func(in []float32, shape []int64) [][]float32 {
			per := len(in) / int(shape[0])
			var out []float32
			for i := range int(shape[0]) {
				out = append(out, in[i*per:i*per+3]...)
			}
			return [][]float32{out}
		},
	}
}

func config(s *kservetest.Server) kserve.Config {
	return kserve.Config{URL: s.URL, Model: "tiny", Timeout: confkit.Duration(2 * time.Second)}
}

// clips makes n clips whose values are distinct, not round in decimal, and include extremes.
func clips(n int) []float32 {
	out := make([]float32, n*meta().ClipLen())
	for i := range out {
		out[i] = float32(i)*0.1234567 - 3
	}
	out[1] = math.SmallestNonzeroFloat32
	out[2] = math.MaxFloat32
	return out
}

func newBackend(t *testing.T, s *kservetest.Server) *kserve.Backend {
	t.Helper()
	b, err := kserve.NewBackend(context.Background(), config(s), meta(), "sha256:abc")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The batch goes as one FP32 tensor [n,3,T,S,S]; every value arrives bit-exact and every output
// comes back by name with its batch dimension.
func TestInferRoundTrip(t *testing.T) {
	s := kservetest.New(served(-1))
	defer s.Close()
	b := newBackend(t, s)
	if info := b.Info(); info.MaxBatch != 0 || info.Digest != "sha256:abc" || !strings.Contains(info.Where, s.URL+"/v2/models/tiny") {
		t.Fatalf("info %+v", info)
	}
	in := clips(3)
	outs, err := b.Infer(context.Background(), in, 3)
	if err != nil {
		t.Fatal(err)
	}
	lg := outs["logits"]
	if len(lg.Shape) != 2 || lg.Shape[0] != 3 || lg.Shape[1] != 3 || len(lg.Data) != 9 {
		t.Fatalf("logits %v with %d values", lg.Shape, len(lg.Data))
	}
	per := meta().ClipLen()
	for i := range 3 {
		for j := range 3 {
			if got, want := lg.Data[i*3+j], in[i*per+j]; math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("clip %d value %d came back %v, sent %v", i, j, got, want)
			}
		}
	}
	if got := s.Batches(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("server saw batches %v", got)
	}
}

// The batcher runs on the remote backend as on the in-process one: scores per the contract.
func TestBatcherOnRemoteBackend(t *testing.T) {
	s := kservetest.New(served(-1))
	defer s.Close()
	b := newBackend(t, s)
	got := make(chan infer.Result, 4)
	bt, err := infer.NewBatcher(b, infer.BatcherConfig{MaxBatch: 2, MaxWait: confkit.Duration(time.Hour)}, func(r infer.Result) { got <- r })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bt.Run(ctx) }()
	defer func() { cancel(); <-done }()
	in := clips(2)
	per := meta().ClipLen()
	for i, id := range []string{"s0", "s1"} {
		c := &clipperClip{id, in[i*per : (i+1)*per]}
		if err := bt.Submit(c.clip()); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		r := <-got
		if r.Err != nil || r.ModelDigest != "sha256:abc" || len(r.Scores) != 3 {
			t.Fatalf("result %+v", r)
		}
		i := int(r.Stream[1] - '0')
		want := infer.Scores(meta(), in[i*per:i*per+3])
		for j := range want {
			if math.Abs(float64(r.Scores[j]-want[j])) > 1e-6 {
				t.Fatalf("%s scores %v, want %v", r.Stream, r.Scores, want)
			}
		}
	}
}

// Each way the server can be unfit at start-up fails NewBackend with a sentinel and the
// answer a user needs to act on.
func TestNewBackendRefusals(t *testing.T) {
	wrongT := served(-1)
	wrongT.Inputs[0].Shape = []int64{-1, 3, 8, 2, 2}
	wrongC := served(-1)
	wrongC.Outputs[0].Shape = []int64{-1, 400}
	noLogits := served(-1)
	noLogits.Outputs[0].Name = "output0"
	cases := []struct {
		name  string
		model kservetest.Model
		setup func(*kservetest.Server)
		cfg   func(*kserve.Config)
		err   error
		msg   string
	}{
		{"not live", served(-1), func(s *kservetest.Server) { s.SetLive(false) }, nil, kserve.ErrNotLive, "GET URL/v2/health/live: 400 Bad Request"},
		{"model not ready", served(-1), func(s *kservetest.Server) { s.SetReady(false) }, nil, kserve.ErrNotReady, "model not ready on the inference server: GET URL/v2/models/tiny/ready: 400 Bad Request"},
		{"unknown model", served(-1), nil, func(c *kserve.Config) { c.Model = "x3d" }, kserve.ErrNotReady, "GET URL/v2/models/x3d/ready: 404 Not Found: Request for unknown model: 'x3d' is not found"},
		{"unknown version", served(-1), nil, func(c *kserve.Config) { c.Version = "7" }, kserve.ErrNotReady, "GET URL/v2/models/tiny/versions/7/ready: 404 Not Found"},
		{"other frames", wrongT, nil, nil, kserve.ErrContract, `input "clip" is FP32 [-1 3 8 2 2], the model file wants FP32 [-1 3 2 2 2]`},
		{"other classes", wrongC, nil, nil, kserve.ErrContract, `output "logits" is FP32 [-1 400], the model file's 3 labels want FP32 [-1 3]`},
		{"no logits", noLogits, nil, nil, kserve.ErrContract, `no output "logits" (outputs: [output0])`},
		{"metadata 500", served(-1), func(s *kservetest.Server) {
			s.SetFault(func(r *http.Request) (int, string) {
				if strings.HasSuffix(r.URL.Path, "/ready") {
					return 0, ""
				}
				return http.StatusInternalServerError, `{"error":"failed to load 'tiny' version 1"}`
			})
		}, nil, kserve.ErrServer, "GET URL/v2/models/tiny: 500 Internal Server Error: failed to load 'tiny' version 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := kservetest.New(tc.model)
			defer s.Close()
			if tc.setup != nil {
				tc.setup(s)
			}
			cfg := config(s)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := kserve.NewBackend(context.Background(), cfg, meta(), "sha256:abc")
			msg := strings.ReplaceAll(tc.msg, "URL", s.URL)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), msg) {
				t.Fatalf("error %v\nwant %v with %q", err, tc.err, msg)
			}
		})
	}
}

// A fixed batch size in the served model's metadata becomes the batcher's limit.
func TestFixedBatchFromMetadata(t *testing.T) {
	s := kservetest.New(served(4))
	defer s.Close()
	if got := newBackend(t, s).Info().MaxBatch; got != 4 {
		t.Fatalf("MaxBatch %d, want 4", got)
	}
}

// A server that cannot be reached, or answers too late, fails with ErrUnreachable naming the URL.
func TestUnreachable(t *testing.T) {
	s := kservetest.New(served(-1))
	url := s.URL
	s.Close()
	_, err := kserve.NewBackend(context.Background(), kserve.Config{URL: url, Model: "tiny", Timeout: confkit.Duration(time.Second)}, meta(), "")
	if !errors.Is(err, kserve.ErrUnreachable) || !strings.Contains(err.Error(), "GET "+url+"/v2/health/live") {
		t.Fatalf("closed server: %v", err)
	}

	// A server that hangs on inference: the call gives up after the timeout.
	s = kservetest.New(served(-1))
	defer s.Close()
	release := make(chan struct{})
	defer close(release) // before s.Close, which waits for the hanging handler
	b, err := kserve.NewBackend(context.Background(), kserve.Config{URL: s.URL, Model: "tiny", Timeout: confkit.Duration(150 * time.Millisecond)}, meta(), "")
	if err != nil {
		t.Fatal(err)
	}
	s.SetFault(func(*http.Request) (int, string) { <-release; return 0, "" })
	_, err = b.Infer(context.Background(), clips(1), 1)
	if !errors.Is(err, kserve.ErrUnreachable) || !strings.Contains(err.Error(), "POST "+s.URL+"/v2/models/tiny/infer: no answer within 150ms") {
		t.Fatalf("slow server: %v", err)
	}
}

// Errors of an inference call: 4xx and 5xx bodies reach the message; answers that break the
// protocol or do not fit the batch are refused with what was wrong.
func TestInferErrors(t *testing.T) {
	cases := []struct {
		name   string
		fault  func(*http.Request) (int, string)
		mutate func(*kserve.InferResponse)
		err    error
		msg    string
	}{
		{"500 with error object", func(*http.Request) (int, string) {
			return 500, `{"error":"CUDA error: out of memory"}`
		}, nil, kserve.ErrServer, "POST URL/v2/models/tiny/infer: 500 Internal Server Error: CUDA error: out of memory"},
		{"503 from a proxy", func(*http.Request) (int, string) {
			return 503, "<html><body>upstream connect error</body></html>"
		}, nil, kserve.ErrServer, "503 Service Unavailable: <html><body>upstream connect error</body></html>"},
		{"400 with error object", func(*http.Request) (int, string) {
			return 400, `{"error":"inference request batch-size must be <= 8 for 'tiny'"}`
		}, nil, kserve.ErrRejected, "400 Bad Request: inference request batch-size must be <= 8 for 'tiny'"},
		{"200 not JSON", func(*http.Request) (int, string) { return 200, "ok" }, nil, kserve.ErrProtocol, "the 200 answer is not its JSON object"},
		{"fewer rows", nil, func(r *kserve.InferResponse) {
			r.Outputs[0].Shape = []int64{1, 3}
			r.Outputs[0].Data = json.RawMessage(`[1,2,3]`)
		}, kserve.ErrProtocol, `output "logits" has shape [1 3] for a batch of 2`},
		{"data short of shape", nil, func(r *kserve.InferResponse) {
			r.Outputs[0].Data = json.RawMessage(`[1,2,3,4,5]`)
		}, kserve.ErrProtocol, `output "logits" has 5 values, its shape [2 3] needs 6`},
		{"other datatype", nil, func(r *kserve.InferResponse) { r.Outputs[0].Datatype = "FP64" }, kserve.ErrProtocol, `output "logits" is FP64, want FP32`},
		{"missing output", nil, func(r *kserve.InferResponse) { r.Outputs = nil }, kserve.ErrProtocol, `the answer lacks output "logits"`},
		{"strings for numbers", nil, func(r *kserve.InferResponse) {
			r.Outputs[0].Data = json.RawMessage(`["a","b","c","d","e","f"]`)
		}, kserve.ErrProtocol, `output "logits" data`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := kservetest.New(served(-1))
			defer s.Close()
			b := newBackend(t, s)
			s.SetFault(tc.fault)
			s.SetMutate(tc.mutate)
			_, err := b.Infer(context.Background(), clips(2), 2)
			msg := strings.ReplaceAll(tc.msg, "URL", s.URL)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), msg) {
				t.Fatalf("error %v\nwant %v with %q", err, tc.err, msg)
			}
		})
	}
}

// The protocol lets a server send a tensor in its natural nesting instead of flat.
func TestNestedOutputData(t *testing.T) {
	s := kservetest.New(served(-1))
	defer s.Close()
	b := newBackend(t, s)
	s.SetMutate(func(r *kserve.InferResponse) { r.Outputs[0].Data = json.RawMessage(`[[1, 2, 3], [4, 5, 6.5]]`) })
	outs, err := b.Infer(context.Background(), clips(2), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := outs["logits"].Data; len(got) != 6 || got[5] != 6.5 || got[3] != 4 {
		t.Fatalf("nested data read as %v", got)
	}
}

// The server checks what the client sends the way a real one does: a wrong shape is its 400.
func TestServerChecksRequests(t *testing.T) {
	s := kservetest.New(served(-1))
	defer s.Close()
	c, err := kserve.NewClient(s.URL, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Infer(context.Background(), "tiny", "", kserve.InferRequest{Inputs: []kserve.RequestInput{{Name: "clip", Datatype: "FP32", Shape: []int64{1, 3, 2, 2, 2}, Data: make([]float32, 5)}}})
	if !errors.Is(err, kserve.ErrRejected) || !strings.Contains(err.Error(), "input 'clip' has 5 values, its shape [1 3 2 2 2] needs 24") {
		t.Fatalf("short input: %v", err)
	}
	md, err := c.ServerMetadata(context.Background())
	if err != nil || md.Name != "kservetest" {
		t.Fatalf("server metadata %+v, %v", md, err)
	}
	if err := c.ServerReady(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := kserve.DefaultSection().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := kserve.Section{Remote: kserve.Config{URL: "triton:8000", Timeout: 0}}
	err := bad.Validate()
	for _, want := range []string{`remote.url must be an http:// or https:// URL with a host, not "triton:8000"`, "remote.model is required with remote.url", "remote.timeout must be > 0"} {
		if !errors.Is(err, kserve.ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want %q", err, want)
		}
	}
}

// The request the client writes is the protocol's JSON object, the FP32 data in its shortest
// exact decimal form.
func TestRequestEncoding(t *testing.T) {
	req := kserve.InferRequest{ID: "7", Inputs: []kserve.RequestInput{{Name: "clip", Datatype: "FP32", Shape: []int64{1, 3}, Data: []float32{0.1, -2.5, 1e-7}}},
		Outputs: []kserve.RequestOutput{{Name: "logits"}}}
	got, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"7","inputs":[{"name":"clip","shape":[1,3],"datatype":"FP32","data":[0.1,-2.5,1e-07]}],"outputs":[{"name":"logits"}]}`
	if string(got) != want || !json.Valid(got) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
