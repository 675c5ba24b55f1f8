package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// sessionCookie carries the browser's credential: an EventSource cannot send headers.
const sessionCookie = "actionstream_session"

// guard puts the checks every non-probe route needs in front of it: the Host allow-list,
// the web credential and the cap on requests in flight.
type guard struct {
	hosts   hostList
	token   string // "" = no credential asked (loopback, or web.open)
	session string // the cookie value a signed-in browser holds
	slots   chan struct{}
	log     *slog.Logger

	rejectedHost, rejectedAuth, rejectedBusy atomic.Uint64
}

func newGuard(addr string, allowed []string, token string, maxRequests int, log *slog.Logger) *guard {
	g := &guard{hosts: newHostList(addr, allowed), token: token, slots: make(chan struct{}, maxRequests), log: log}
	if token != "" {
		g.session = sessionValue(token)
	}
	return g
}

// sessionValue derives the cookie from the token, so the cookie never holds the token itself
// and changing the token signs every browser out.
func sessionValue(token string) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("actionstream web session v1"))
	return hex.EncodeToString(mac.Sum(nil))
}

// hostOnly checks the Host header: a name that is not ours means a browser was pointed at us
// through someone else's DNS name (rebinding), so nothing is served.
func (g *guard) hostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hosts.allows(r.Host) {
			g.rejectedHost.Add(1)
			g.log.Debug("foreign host refused", "host", r.Host, "path", r.URL.Path)
			http.Error(w, fmt.Sprintf("host %q is not served here (add it to http.allowed_hosts)", r.Host), http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// limit answers 503 once http.max_requests requests are in flight.
func (g *guard) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.slots <- struct{}{}:
			defer func() { <-g.slots }()
		default:
			g.rejectedBusy.Add(1)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests in flight (http.max_requests)", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authed reports whether r carries the web credential: a bearer header or the session cookie.
func (g *guard) authed(r *http.Request) bool {
	if g.token == "" {
		return true
	}
	if tok, ok := BearerToken(r); ok {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(g.token)) == 1
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(g.session)) == 1
	}
	return false
}

// auth answers 401 without the credential; a browser asking for a page is sent to /signin.
func (g *guard) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.authed(r) {
			h.ServeHTTP(w, r)
			return
		}
		g.rejectedAuth.Add(1)
		if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="actionstream"`)
		http.Error(w, "missing or wrong credentials: send Authorization: Bearer <web.token>, or sign in at /signin", http.StatusUnauthorized)
	})
}

// protect is the full chain of a dashboard or API route.
func (g *guard) protect(h http.Handler) http.Handler { return g.hostOnly(g.auth(g.limit(h))) }

// BearerToken is the token of an "Authorization: Bearer <token>" header; the scheme is
// case-insensitive (RFC 9110 section 11.1).
func BearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// hostList is the Host allow-list: the loopback names, the listen address, http.allowed_hosts.
// IP literals cannot be rebound, so on a wildcard bind any address of ours is accepted.
type hostList struct {
	names  map[string]bool
	listen net.IP
	anyIP  bool
}

func newHostList(addr string, allowed []string) hostList {
	l := hostList{names: map[string]bool{"localhost": true}}
	host, _, _ := net.SplitHostPort(addr)
	switch ip := net.ParseIP(host); {
	case host == "" || ip != nil && ip.IsUnspecified():
		l.anyIP = true
	case ip != nil:
		l.listen = ip
	default:
		l.names[canonicalHost(host)] = true
	}
	for _, h := range allowed {
		l.names[canonicalHost(h)] = true
	}
	return l
}

func canonicalHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return ip.String()
	}
	return h
}

func (l hostList) allows(hostHeader string) bool {
	host := hostHeader
	if h, _, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
	}
	host = canonicalHost(host)
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || l.anyIP || ip.Equal(l.listen) || l.names[host]
	}
	return host != "" && l.names[host]
}

// isLoopback reports whether addr binds loopback only ("localhost:8080", "127.0.0.1:0", "[::1]:80").
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
