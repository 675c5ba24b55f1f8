package kserve

import "errors"

// Sentinel errors. Callers test with errors.Is; the wrapped message names the URL and what the
// server said.
var (
	// ErrConfig: the infer.remote section is invalid.
	ErrConfig = errors.New("bad infer.remote config")
	// ErrUnreachable: the request did not get an HTTP answer (refused, timed out, cut off).
	ErrUnreachable = errors.New("inference server unreachable")
	// ErrNotLive: GET /v2/health/live answered false (4xx).
	ErrNotLive = errors.New("inference server not live")
	// ErrNotReady: the model's ready endpoint answered false (4xx): not loaded, loading, unknown.
	ErrNotReady = errors.New("model not ready on the inference server")
	// ErrRejected: the server refused a request (4xx); the message carries its "error" text.
	ErrRejected = errors.New("inference server rejected the request")
	// ErrServer: the server failed a request (5xx); worth retrying later.
	ErrServer = errors.New("inference server error")
	// ErrProtocol: an answer that is not the protocol's JSON (malformed, wrong datatype, data that
	// does not fill its shape).
	ErrProtocol = errors.New("inference server answer violates the KServe v2 protocol")
	// ErrContract: the served model's inputs or outputs do not fit the model file's contract.
	ErrContract = errors.New("served model does not match the model contract")
)
