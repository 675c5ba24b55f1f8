package kserve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxBody bounds what is read of an answer: logits and boxes of a batch are far smaller.
const maxBody = 64 << 20

// Client speaks the KServe v2 HTTP/JSON protocol to one server. Safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration
}

// NewClient makes a client of the server at base (http://host:port); timeout bounds each
// request. hc may be nil (a client of its own).
func NewClient(base string, timeout time.Duration, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: url %q is not an http(s) URL with a host", ErrConfig, base)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: timeout %v", ErrConfig, timeout)
	}
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, http: hc, timeout: timeout}, nil
}

// modelPath is /v2/models/{name}[/versions/{version}].
func modelPath(name, version string) string {
	p := "/v2/models/" + url.PathEscape(name)
	if version != "" {
		p += "/versions/" + url.PathEscape(version)
	}
	return p
}

// ServerLive is GET /v2/health/live: nil when live, ErrNotLive when the server says not.
func (c *Client) ServerLive(ctx context.Context) error {
	return c.health(ctx, "/v2/health/live", ErrNotLive)
}

// ServerReady is GET /v2/health/ready: nil when every model is ready.
func (c *Client) ServerReady(ctx context.Context) error {
	return c.health(ctx, "/v2/health/ready", ErrNotReady)
}

// ModelReady is GET /v2/models/{name}[/versions/{v}]/ready: nil when the model can infer.
func (c *Client) ModelReady(ctx context.Context, name, version string) error {
	return c.health(ctx, modelPath(name, version)+"/ready", ErrNotReady)
}

// ServerMetadata is GET /v2.
func (c *Client) ServerMetadata(ctx context.Context) (ServerMetadata, error) {
	var m ServerMetadata
	err := c.do(ctx, http.MethodGet, "/v2", nil, &m)
	return m, err
}

// ModelMetadata is GET /v2/models/{name}[/versions/{v}].
func (c *Client) ModelMetadata(ctx context.Context, name, version string) (ModelMetadata, error) {
	var m ModelMetadata
	err := c.do(ctx, http.MethodGet, modelPath(name, version), nil, &m)
	return m, err
}

// Infer is POST /v2/models/{name}[/versions/{v}]/infer.
func (c *Client) Infer(ctx context.Context, name, version string, req InferRequest) (InferResponse, error) {
	body, err := req.encode()
	if err != nil {
		return InferResponse{}, fmt.Errorf("kserve: encoding the request: %w", err)
	}
	var r InferResponse
	err = c.do(ctx, http.MethodPost, modelPath(name, version)+"/infer", body, &r)
	return r, err
}

// health answers a health endpoint: 200 true, 4xx false (notOK), anything else an error.
func (c *Client) health(ctx context.Context, path string, notOK error) error {
	resp, msg, err := c.round(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return fmt.Errorf("%w: GET %s: %s%s", notOK, c.at(path), resp.Status, msg)
	}
	return statusError(http.MethodGet, c.at(path), resp.Status, resp.StatusCode, msg)
}

// do sends a request and decodes a 200 answer's JSON into out.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	resp, msg, err := c.round(ctx, method, path, body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusError(method, c.at(path), resp.Status, resp.StatusCode, msg)
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("%w: %s %s: the 200 answer is not its JSON object: %v", ErrProtocol, method, c.at(path), err)
	}
	return nil
}

type answer struct {
	*http.Response
	body []byte
}

// round sends one request under the client's timeout and reads the whole answer; msg is the
// protocol error text of a non-200 answer (": <error>"), or its first bytes when not JSON.
func (c *Client) round(ctx context.Context, method, path string, body []byte) (answer, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.at(path), rd)
	if err != nil {
		return answer{}, "", fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return answer{}, "", fmt.Errorf("%w: %s %s: no answer within %v", ErrUnreachable, method, c.at(path), c.timeout)
		}
		return answer{}, "", fmt.Errorf("%w: %s %s: %v", ErrUnreachable, method, c.at(path), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return answer{}, "", fmt.Errorf("%w: %s %s: reading the answer: %v", ErrUnreachable, method, c.at(path), err)
	}
	if len(b) > maxBody {
		return answer{}, "", fmt.Errorf("%w: %s %s: answer over %d MiB", ErrProtocol, method, c.at(path), maxBody>>20)
	}
	a := answer{Response: resp, body: b}
	if resp.StatusCode == http.StatusOK {
		return a, "", nil
	}
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		return a, ": " + eb.Error, nil
	}
	if t := strings.TrimSpace(string(b)); t != "" {
		const keep = 200
		if len(t) > keep {
			t = t[:keep] + "…"
		}
		return a, ": " + t, nil
	}
	return a, "", nil
}

func (c *Client) at(path string) string { return c.base.String() + path }

// statusError is a non-200 answer: 4xx ErrRejected, 5xx (and anything else) ErrServer.
func statusError(method, at, status string, code int, msg string) error {
	kind := ErrServer
	if code >= 400 && code < 500 {
		kind = ErrRejected
	}
	return fmt.Errorf("%w: %s %s: %s%s", kind, method, at, status, msg)
}
