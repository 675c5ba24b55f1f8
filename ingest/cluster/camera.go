package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/ingest"
)

// Camera is one record value of the cameras topic: a stream config whose password, if any, is
// not in the record but named by PasswordFrom and resolved by each node.
type Camera struct {
	ID        string `json:"id"`
	URL       string `json:"url"` // as in streams[].url, with no password
	Loop      bool   `json:"loop,omitempty"`
	Transport string `json:"transport,omitempty"`
	// StallTimeout is a duration with its unit ("5s"); "" = the source's default.
	StallTimeout string `json:"stall_timeout,omitempty"`
	// PasswordFrom names the URL's password on the nodes: "env:NAME" (an environment
	// variable) or "file:PATH" (a file's first line, e.g. a mounted secret).
	PasswordFrom string `json:"password_from,omitempty"`
}

// ParseCamera decodes a record value strictly and validates it.
func ParseCamera(value []byte) (Camera, error) {
	var c Camera
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Camera{}, fmt.Errorf("%w: %w", ErrBadCamera, err)
	}
	return c, c.Validate()
}

// Encode is the record value.
func (c Camera) Encode() []byte {
	b, _ := json.Marshal(c) // strings and a bool: cannot fail
	return b
}

// Validate applies the stream config's own checks, refuses a password in the URL and checks
// the secret reference's form (not that it resolves: that is each node's business).
func (c Camera) Validate() error {
	sc, err := c.streamConfig()
	if err != nil {
		return err
	}
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("%w %q: %w", ErrBadCamera, c.ID, err)
	}
	if u, err := url.Parse(c.URL); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return fmt.Errorf("%w: camera %q: url %s: put the password in an env var or file on the nodes and set password_from (env:NAME or file:PATH)",
				ErrPlainSecret, c.ID, ingest.Redact(c.URL))
		}
	}
	if c.PasswordFrom != "" {
		kind, name, _ := strings.Cut(c.PasswordFrom, ":")
		if kind != "env" && kind != "file" || name == "" {
			return fmt.Errorf("%w %q: password_from %q: want env:NAME or file:PATH", ErrBadCamera, c.ID, c.PasswordFrom)
		}
		if ingest.URLKind(c.URL) != ingest.KindRTSP {
			return fmt.Errorf("%w %q: password_from applies to rtsp:// urls only", ErrBadCamera, c.ID)
		}
	}
	return nil
}

func (c Camera) streamConfig() (ingest.StreamConfig, error) {
	sc := ingest.StreamConfig{ID: c.ID, URL: c.URL, Loop: c.Loop, Transport: c.Transport}
	if c.StallTimeout != "" {
		d, err := time.ParseDuration(c.StallTimeout)
		if err != nil {
			return sc, fmt.Errorf("%w %q: stall_timeout %q: %w", ErrBadCamera, c.ID, c.StallTimeout, err)
		}
		sc.StallTimeout = confkit.Duration(d)
	}
	return sc, nil
}

// Resolve is the stream config this node runs: the password read from the named secret and
// put into the URL. lookupEnv is os.LookupEnv outside tests.
func (c Camera) Resolve(lookupEnv func(string) (string, bool)) (ingest.StreamConfig, error) {
	sc, err := c.streamConfig()
	if err != nil || c.PasswordFrom == "" {
		return sc, err
	}
	kind, name, _ := strings.Cut(c.PasswordFrom, ":")
	var pass string
	switch kind {
	case "env":
		v, ok := lookupEnv(name)
		if !ok {
			return sc, fmt.Errorf("%w: camera %q: environment variable %s is not set on this node", ErrSecret, c.ID, name)
		}
		pass = v
	case "file":
		b, err := os.ReadFile(name)
		if err != nil {
			return sc, fmt.Errorf("%w: camera %q: %w", ErrSecret, c.ID, err)
		}
		pass, _, _ = strings.Cut(string(b), "\n")
		pass = strings.TrimRight(pass, "\r")
	default:
		return sc, fmt.Errorf("%w %q: password_from %q", ErrBadCamera, c.ID, c.PasswordFrom)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return sc, fmt.Errorf("%w %q: url: %w", ErrBadCamera, c.ID, err)
	}
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, pass)
	sc.URL = u.String()
	return sc, nil
}
