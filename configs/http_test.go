package configs

import (
	"strings"
	"testing"
	"time"
)

// TestHTTPAndWebKeys: the hardening keys parse from YAML and the environment, have safe
// defaults, and bad values name their key.
func TestHTTPAndWebKeys(t *testing.T) {
	d := Default()
	if d.HTTP.ReadTimeout <= 0 || d.HTTP.WriteTimeout <= 0 || d.HTTP.IdleTimeout <= 0 || d.HTTP.ReadHeaderTimeout <= 0 ||
		d.HTTP.MaxRequests < 1 || d.Web.MaxEventClients < 1 || d.Web.Token != "" || d.Web.Open {
		t.Errorf("defaults: %+v %+v", d.HTTP, d.Web)
	}
	cfg, err := Parse([]byte(`model: {path: m.onnx}
http: {addr: "0.0.0.0:8443", tls_cert: c.pem, tls_key: k.pem, read_timeout: 5s, write_timeout: 6s, idle_timeout: 7s,
       read_header_timeout: 2s, max_requests: 9, allowed_hosts: [cam.lan, 10.0.0.5]}
web: {token: from-yaml, max_event_clients: 3}
`), "http.yaml", []string{"ACTIONSTREAM_WEB_TOKEN=from-env", "ACTIONSTREAM_WEB_OPEN=true"})
	if err != nil {
		t.Fatal(err)
	}
	h, w := cfg.HTTP, cfg.Web
	if h.TLSCert != "c.pem" || h.TLSKey != "k.pem" || time.Duration(h.ReadTimeout) != 5*time.Second ||
		time.Duration(h.WriteTimeout) != 6*time.Second || time.Duration(h.IdleTimeout) != 7*time.Second ||
		time.Duration(h.ReadHeaderTimeout) != 2*time.Second || h.MaxRequests != 9 || len(h.AllowedHosts) != 2 {
		t.Errorf("http: %+v", h)
	}
	if w.Token != "from-env" || !w.Open || w.MaxEventClients != 3 {
		t.Errorf("web (the environment wins): %+v", w)
	}
	for _, c := range []struct{ yml, path string }{
		{"http: {tls_cert: c.pem}", "http.tls_cert"},
		{"http: {tls_key: k.pem}", "http.tls_cert"},
		{"http: {read_timeout: 0s}", "http.read_timeout"},
		{"http: {write_timeout: -1s}", "http.write_timeout"},
		{"http: {idle_timeout: 0s}", "http.idle_timeout"},
		{"http: {read_header_timeout: 0s}", "http.read_header_timeout"},
		{"http: {max_requests: 0}", "http.max_requests"},
		{"http: {allowed_hosts: [\"https://cam.lan\"]}", "http.allowed_hosts[0]"},
		{"http: {allowed_hosts: [\"cam.lan:8080\"]}", "http.allowed_hosts[0]"},
		{"web: {max_event_clients: 0}", "web.max_event_clients"},
	} {
		_, err := Parse([]byte("model: {path: m.onnx}\n"+c.yml), "bad.yaml", nil)
		if err == nil || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: %v, want an error naming %s", c.yml, err, c.path)
		}
	}
	prod, err := Load("production.yaml", nil)
	if err != nil || prod.Web.Token == "" || prod.Web.Token == prod.WHIP.Token {
		t.Errorf("production.yaml binds 0.0.0.0 and needs its own web.token: %+v %v", prod.Web, err)
	}
}
