package kserve

import (
	"net/url"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

// Section is the `infer` section of the configuration: where inference runs when it is not
// the in-process ONNX Runtime session.
type Section struct {
	Remote Config `yaml:"remote"`
}

// Config is `infer.remote`: a server speaking the KServe v2 (Open Inference) protocol over
// HTTP/JSON, such as NVIDIA Triton. An empty URL means in-process inference.
type Config struct {
	// URL is the server's base URL (http://triton:8000); /v2/... is appended.
	URL string `yaml:"url"`
	// Model is the model's name in the server's repository.
	Model string `yaml:"model"`
	// Version pins a model version; "" lets the server choose.
	Version string `yaml:"version"`
	// Timeout bounds each request (one batch's inference, a health or metadata call).
	Timeout confkit.Duration `yaml:"timeout"`
}

// DefaultSection is the section's defaults: in-process inference, a 5 s timeout when remote.
func DefaultSection() Section {
	return Section{Remote: Config{Timeout: confkit.Duration(5 * time.Second)}}
}

// Enabled reports whether inference is remote.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate checks the section; errors name the field by its YAML key.
func (s Section) Validate() error {
	p := confkit.Problems{Sentinel: ErrConfig}
	c := s.Remote
	if !c.Enabled() {
		return nil
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add("remote.url", "must be an http:// or https:// URL with a host, not %q", c.URL)
	}
	if c.Model == "" {
		p.Add("remote.model", "is required with remote.url")
	}
	if c.Timeout <= 0 {
		p.Add("remote.timeout", "must be > 0, not %v", c.Timeout)
	}
	return p.Err()
}
