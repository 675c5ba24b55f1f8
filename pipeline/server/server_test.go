package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

const (
	webToken  = "web-secret"
	whipToken = "whip-secret"
)

// served runs the daemon (tiny model, no configured streams) on a free loopback port and
// returns the listen address; it stops when the test ends.
func served(t *testing.T, edit func(*configs.Config)) (addr string) {
	t.Helper()
	cfg := configs.Default()
	cfg.StateDir = t.TempDir() // not ./data in the package folder
	cfg.Model.Path = testkit.TinyModel(t)
	cfg.Model.Runtime.Threads = 1
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.WHIP.Token = whipToken
	cfg.Web.Token = webToken
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil))) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not stop:\n%s", logs.String())
		}
	})
	re := regexp.MustCompile(`msg="http listening" .*addr=(127\.0\.0\.1:\d+)`)
	testutil.WaitFor(t, 20*time.Second, func() bool {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			return true
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended: %v\n%s", err, logs.String())
		default:
		}
		return false
	}, func() string { return "no listening line in:\n" + logs.String() })
	return addr
}

type reply struct {
	code int
	body string
	hdr  http.Header
}

func request(t *testing.T, c *http.Client, method, u string, hdr map[string]string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ = bufio.NewReader(resp.Body).ReadBytes('\n') // the stream does not end: its first line
	} else {
		b, _ = io.ReadAll(resp.Body)
	}
	return reply{resp.StatusCode, string(b), resp.Header}
}

func noRedirects() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// protectedRoutes are every route behind web.token, with the status an authorised request
// gets (no stream exists, so the thumbnail is a 404 from the handler, not the guard).
var protectedRoutes = map[string]int{
	"/": 200, "/publish": 200, "/api/streams": 200, "/api/events": 200, "/metrics": 200,
	"/api/streams/cam/thumbnail.jpg": 404,
}

// TestCredentials: each protected route answers 401 without the token (a browser is sent to
// the sign-in page), and its own status with a bearer header (any case of the scheme) or with
// the cookie the sign-in page sets; the probes stay open.
func TestCredentials(t *testing.T) {
	base := "http://" + served(t, nil)
	c := noRedirects()
	for path, want := range protectedRoutes {
		r := request(t, c, "GET", base+path, nil, nil)
		if r.code != 401 || r.hdr.Get("WWW-Authenticate") != `Bearer realm="actionstream"` || !strings.Contains(r.body, "Authorization: Bearer") {
			t.Errorf("GET %s without token: %d %q %v, want 401", path, r.code, r.body, r.hdr)
		}
		r = request(t, c, "GET", base+path, map[string]string{"Authorization": "Bearer wrong"}, nil)
		if r.code != 401 {
			t.Errorf("GET %s with a wrong token: %d", path, r.code)
		}
		for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
			r = request(t, c, "GET", base+path, map[string]string{"Authorization": scheme + " " + webToken}, nil)
			if r.code != want {
				t.Errorf("GET %s with %q: %d %q, want %d", path, scheme, r.code, r.body, want)
			}
		}
		r = request(t, c, "GET", base+path, map[string]string{"Authorization": "Bearer " + whipToken}, nil)
		if r.code != 401 {
			t.Errorf("GET %s with the WHIP token: %d, want 401 (separate tokens)", path, r.code)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		testutil.WaitFor(t, 20*time.Second, func() bool { return request(t, c, "GET", base+path, nil, nil).code == 200 },
			testutil.Says(path+" without token is not 200"))
	}

	// A browser asking for the dashboard is sent to the sign-in page, which comes back to it.
	r := request(t, c, "GET", base+"/publish", map[string]string{"Accept": "text/html,*/*"}, nil)
	if r.code != 303 || r.hdr.Get("Location") != "/signin?next=%2Fpublish" {
		t.Fatalf("browser GET /publish: %d Location %q", r.code, r.hdr.Get("Location"))
	}
	r = request(t, c, "GET", base+"/signin?next=%2Fpublish", nil, nil)
	if r.code != 200 || !strings.Contains(r.body, `name="token"`) || !strings.Contains(r.body, `value="/publish"`) {
		t.Fatalf("GET /signin: %d %q", r.code, r.body)
	}
	form := func(tok, next string) io.Reader {
		return strings.NewReader(url.Values{"token": {tok}, "next": {next}}.Encode())
	}
	ctype := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	r = request(t, c, "POST", base+"/signin", ctype, form("wrong", "/publish"))
	if r.code != 401 || !strings.Contains(r.body, "Wrong token") || r.hdr.Get("Set-Cookie") != "" {
		t.Fatalf("sign-in with a wrong token: %d %q %v", r.code, r.body, r.hdr)
	}
	r = request(t, c, "POST", base+"/signin", ctype, form(webToken, "//evil.example/"))
	if r.code != 303 || r.hdr.Get("Location") != "/" {
		t.Errorf("sign-in with an off-site next: Location %q, want /", r.hdr.Get("Location"))
	}
	r = request(t, c, "POST", base+"/signin", ctype, form(webToken, "/publish"))
	cookie := r.hdr.Get("Set-Cookie")
	if r.code != 303 || r.hdr.Get("Location") != "/publish" {
		t.Fatalf("sign-in: %d %v", r.code, r.hdr)
	}
	for _, attr := range []string{sessionCookie + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("Set-Cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, webToken) || strings.Contains(cookie, "Secure") {
		t.Errorf("Set-Cookie %q holds the token or is Secure over plain HTTP", cookie)
	}
	value := strings.SplitN(strings.SplitN(cookie, ";", 2)[0], "=", 2)[1]
	for path, want := range protectedRoutes {
		r = request(t, c, "GET", base+path, map[string]string{"Cookie": sessionCookie + "=" + value}, nil)
		if r.code != want {
			t.Errorf("GET %s with the cookie: %d %q, want %d", path, r.code, r.body, want)
		}
		r = request(t, c, "GET", base+path, map[string]string{"Cookie": sessionCookie + "=" + value + "x"}, nil)
		if r.code != 401 {
			t.Errorf("GET %s with a forged cookie: %d", path, r.code)
		}
	}
	r = request(t, c, "GET", base+"/metrics", map[string]string{"Authorization": "Bearer " + webToken}, nil)
	if !strings.Contains(r.body, "actionstream_http_refused_auth_total") || strings.Contains(r.body, "actionstream_http_refused_auth_total 0\n") {
		t.Errorf("/metrics does not count the refused requests:\n%s", grepLines(r.body, "refused"))
	}
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHostAllowList: a Host that is neither ours nor allowed gets 421 even with the token (a
// browser sent here by a rebound DNS name); the loopback names, the listen address and
// http.allowed_hosts are served; the probes answer any Host.
func TestHostAllowList(t *testing.T) {
	addr := served(t, func(c *configs.Config) { c.HTTP.AllowedHosts = []string{"Cam-Server.LAN"} })
	_, port, _ := net.SplitHostPort(addr)
	base := "http://" + addr
	c := noRedirects()
	auth := func(host string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + webToken, "Host": host}
	}
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1.nip.io:" + port, "localhost.evil.example", "10.1.2.3:" + port} {
		for _, path := range []string{"/api/streams", "/", "/metrics", "/api/events", "/signin"} {
			r := request(t, c, "GET", base+path, auth(host), nil)
			if r.code != http.StatusMisdirectedRequest || !strings.Contains(r.body, "http.allowed_hosts") {
				t.Errorf("GET %s Host %q: %d %q, want 421", path, host, r.code, r.body)
			}
		}
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST", "127.0.0.1:" + port, "[::1]:" + port, "cam-server.lan:" + port, "cam-server.lan."} {
		if r := request(t, c, "GET", base+"/api/streams", auth(host), nil); r.code != 200 {
			t.Errorf("GET /api/streams Host %q: %d %q, want 200", host, r.code, r.body)
		}
	}
	if r := request(t, c, "GET", base+"/healthz", map[string]string{"Host": "evil.example"}, nil); r.code != 200 {
		t.Errorf("/healthz with a foreign Host: %d", r.code)
	}
	r := request(t, c, "GET", base+"/metrics", auth("localhost"), nil)
	if strings.Contains(r.body, "actionstream_http_refused_host_total 0\n") || !strings.Contains(r.body, "actionstream_http_refused_host_total") {
		t.Errorf("refused hosts not counted:\n%s", grepLines(r.body, "refused"))
	}
}

func TestHostListRules(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		host  string
		allow bool
	}{
		{"0.0.0.0:8080", "192.168.1.20:8080", true}, // a wildcard bind: any address literal
		{"0.0.0.0:8080", "[fe80::1]:8080", true},
		{"0.0.0.0:8080", "box.example:8080", false},
		{":8080", "10.0.0.1", true},
		{"192.168.1.20:8080", "192.168.1.20:8080", true},
		{"192.168.1.20:8080", "192.168.1.21:8080", false},
		{"cam.lan:8080", "cam.lan:8080", true},
		{"cam.lan:8080", "other.lan:8080", false},
		{"127.0.0.1:8080", "", false},
	} {
		if got := newHostList(tc.addr, nil).allows(tc.host); got != tc.allow {
			t.Errorf("listen %s, Host %q: allowed %v, want %v", tc.addr, tc.host, got, tc.allow)
		}
	}
}

// TestRefusesExposedWithoutToken: a non-loopback listener without web.token (or web.open)
// does not start, and says which keys to set.
func TestRefusesExposedWithoutToken(t *testing.T) {
	cfg := configs.Default()
	cfg.StateDir = t.TempDir()
	cfg.Model.Path = "never-loaded.onnx"
	cfg.HTTP.Addr = "0.0.0.0:8080"
	err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrExposed) {
		t.Fatalf("Run: %v, want ErrExposed", err)
	}
	for _, want := range []string{`http.addr "0.0.0.0:8080" is not a loopback address`, "web.token", "ACTIONSTREAM_WEB_TOKEN", "web.open"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, tc := range []struct {
		addr, token string
		open, ok    bool
	}{
		{":8080", "", false, false}, {"[::]:8080", "", false, false}, {"192.168.1.2:8080", "", false, false},
		{"192.168.1.2:8080", "t", false, true}, {"0.0.0.0:8080", "", true, true},
		{"127.0.0.1:8080", "", false, true}, {"localhost:8080", "", false, true}, {"[::1]:8080", "", false, true},
	} {
		c := configs.Default()
		c.HTTP.Addr, c.Web.Token, c.Web.Open = tc.addr, tc.token, tc.open
		if err := checkExposure(c); (err == nil) != tc.ok {
			t.Errorf("addr %s token %q open %v: %v", tc.addr, tc.token, tc.open, err)
		}
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// slowPost opens a connection, sends a WHIP POST's headers (with the token, so the handler
// reads the body) and then one body byte every 100 ms; it returns when the server closes the
// connection, with how long that took.
func slowPost(addr string, stop <-chan struct{}) (time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /whip/slow HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: 100000\r\n\r\n", whipToken)
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn) // the answer (if any), then EOF when the server closes
		close(closed)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			return time.Since(start), nil
		case <-stop:
			return time.Since(start), errors.New("still open")
		case <-tick.C:
			conn.Write([]byte("v")) // fails once the server closed; closed then fires
		}
	}
}

// TestSlowBodiesClosed: 50 clients trickling a request body are all cut off within the read
// timeout, and their goroutines and descriptors are gone afterwards.
func TestSlowBodiesClosed(t *testing.T) {
	const clients, readTimeout = 50, 600 * time.Millisecond
	addr := served(t, func(c *configs.Config) { c.HTTP.ReadTimeout = configs.Duration(readTimeout) })
	time.Sleep(100 * time.Millisecond)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	stop := make(chan struct{})
	time.AfterFunc(10*time.Second, func() { close(stop) })
	var wg sync.WaitGroup
	took := make([]time.Duration, clients)
	errs := make([]error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took[i], errs[i] = slowPost(addr, stop)
		}()
	}
	wg.Wait()
	var longest time.Duration
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("client %d: %v after %v", i, errs[i], took[i])
		}
		longest = max(longest, took[i])
	}
	if longest > readTimeout+time.Second {
		t.Errorf("the slowest slow-body POST was closed after %v, read timeout %v", longest, readTimeout)
	}
	t.Logf("%d slow-body POSTs closed, the last after %v (read timeout %v)", clients, longest, readTimeout)
	testutil.WaitFor(t, 5*time.Second, func() bool {
		return runtime.NumGoroutine() <= goroutines+2 && openFDs(t) <= fds+2
	}, func() string {
		return fmt.Sprintf("goroutines %d (before %d), descriptors %d (before %d)", runtime.NumGoroutine(), goroutines, openFDs(t), fds)
	})
}

// TestIdleKeepAliveClosed: a keep-alive connection with no next request is closed after the
// idle timeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	const idle = 400 * time.Millisecond
	addr := served(t, func(c *configs.Config) { c.HTTP.IdleTimeout = configs.Duration(idle) })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %d close=%v", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = br.ReadByte()
	waited := time.Since(start)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v after %v, want EOF", err, waited)
	}
	if waited < idle-100*time.Millisecond || waited > idle+time.Second {
		t.Errorf("idle connection closed after %v, idle timeout %v", waited, idle)
	}
}

// TestCaps: past http.max_requests in flight a request gets 503 (probes still answer); past
// web.max_event_clients an event stream gets 503; an event stream outlives the read and write
// timeouts; /metrics shows the clients and the refusals.
func TestCaps(t *testing.T) {
	addr := served(t, func(c *configs.Config) {
		c.HTTP.MaxRequests = 2
		c.HTTP.ReadTimeout = configs.Duration(3 * time.Second)
		c.HTTP.WriteTimeout = configs.Duration(300 * time.Millisecond)
		c.Web.MaxEventClients = 1
	})
	base := "http://" + addr
	auth := map[string]string{"Authorization": "Bearer " + webToken}
	c := noRedirects()

	// One event stream, held open past both timeouts.
	req, _ := http.NewRequest("GET", base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+webToken)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("event stream: %d", resp.StatusCode)
	}
	r := request(t, c, "GET", base+"/api/events", auth, nil)
	if r.code != 503 || !strings.Contains(r.body, "web.max_event_clients") {
		t.Errorf("second event stream: %d %q, want 503", r.code, r.body)
	}

	// Two slow POSTs hold both request slots.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); slowPost(addr, stop) }()
	}
	time.Sleep(400 * time.Millisecond)
	r = request(t, c, "GET", base+"/api/streams", auth, nil)
	if r.code != 503 || !strings.Contains(r.body, "http.max_requests") || r.hdr.Get("Retry-After") == "" {
		t.Errorf("request over the cap: %d %q %v, want 503", r.code, r.body, r.hdr)
	}
	if r := request(t, c, "GET", base+"/healthz", nil, nil); r.code != 200 {
		t.Errorf("/healthz over the cap: %d", r.code)
	}
	close(stop)
	wg.Wait()
	testutil.WaitFor(t, 5*time.Second, func() bool { return request(t, c, "GET", base+"/api/streams", auth, nil).code == 200 },
		testutil.Says("the slots were not given back"))

	// The event stream is still open after 3x the write timeout: the next read blocks.
	time.Sleep(time.Second)
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "retry: 2000\n" {
		t.Fatalf("event stream: %q %v", line, err)
	}
	got := make(chan error, 1)
	go func() { _, err := br.ReadString('\x00'); got <- err }()
	select {
	case err := <-got:
		t.Fatalf("event stream ended after the write timeout: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	r = request(t, c, "GET", base+"/metrics", auth, nil)
	for _, want := range []string{"actionstream_web_event_clients 1\n", "actionstream_web_event_clients_refused_total 1\n",
		"actionstream_web_events_missed_total 0\n"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(r.body, "actionstream_web"))
		}
	}
	if !regexp.MustCompile(`(?m)^actionstream_http_refused_busy_total [1-9]`).MatchString(r.body) {
		t.Errorf("/metrics does not count the 503s:\n%s", grepLines(r.body, "refused"))
	}
	resp.Body.Close()
}

// writeSelfSigned makes a certificate for 127.0.0.1 and localhost; it returns the cert and key
// files and a pool that trusts the cert.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "actionstream test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS: with http.tls_cert and http.tls_key the listener speaks HTTPS, the sign-in cookie
// is Secure, and plain HTTP is refused; unreadable files stop Run naming the keys.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := writeSelfSigned(t)
	addr := served(t, func(c *configs.Config) { c.HTTP.TLSCert, c.HTTP.TLSKey = certFile, keyFile })
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || !resp.TLS.HandshakeComplete {
		t.Fatalf("https /healthz: %d tls %v", resp.StatusCode, resp.TLS)
	}
	r := request(t, c, "GET", "https://"+addr+"/api/streams", map[string]string{"Authorization": "Bearer " + webToken}, nil)
	if r.code != 200 || !strings.Contains(r.body, `"streams"`) {
		t.Errorf("https /api/streams: %d %q", r.code, r.body)
	}
	r = request(t, c, "POST", "https://"+addr+"/signin", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		strings.NewReader("token="+webToken))
	if !strings.Contains(r.hdr.Get("Set-Cookie"), "Secure") {
		t.Errorf("sign-in over HTTPS: Set-Cookie %q is not Secure", r.hdr.Get("Set-Cookie"))
	}
	// Browsers speak HTTP/2 over TLS: the event stream works there too.
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/api/events", nil)
	req.Header.Set("Authorization", "bearer "+webToken)
	resp, err = h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || line != "retry: 2000\n" {
		t.Errorf("event stream over HTTP/2: %s %d %q %v", resp.Proto, resp.StatusCode, line, err)
	}
	if r := request(t, noRedirects(), "GET", "http://"+addr+"/healthz", nil, nil); r.code != 400 {
		t.Errorf("plain HTTP to the TLS listener: %d %q", r.code, r.body)
	}

	cfg := configs.Default()
	cfg.StateDir = t.TempDir()
	cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = filepath.Join(t.TempDir(), "missing.pem"), keyFile
	err = Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "http.tls_cert") || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("Run with a missing certificate: %v", err)
	}
}
