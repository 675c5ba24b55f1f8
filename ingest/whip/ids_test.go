package whip_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/ingest/whip"
)

// TestStreamIDsFromURL: ".", ".." and their percent-encoded forms, and anything outside the
// documented charset, never become a stream: 400 with the reason, no session, no Location.
func TestStreamIDsFromURL(t *testing.T) {
	fa := &fakeAttach{}
	ws, err := whip.New(whip.Config{Token: token, Logger: quietLogger(t)}, fa.attach)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hs := httptest.NewServer(ws.Handler())
	defer hs.Close()
	c := hs.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	good := offer(t)
	post := func(path string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", hs.URL+path, strings.NewReader(good))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for path, reason := range map[string]string{
		"/whip/%2e%2e":                      "percent-encoded",
		"/whip/%2E%2e":                      "percent-encoded",
		"/whip/%2e":                         "percent-encoded",
		"/whip/.%2e":                        "percent-encoded",
		"/whip/cam%2fx":                     "percent-encoded",
		"/whip/%63am":                       "percent-encoded", // "cam", but no valid id needs encoding
		"/whip/.hidden":                     "starts with '.'",
		"/whip/bad%20id":                    "invalid stream id",
		"/whip/caf%C3%A9":                   "invalid stream id",
		"/whip/" + strings.Repeat("a", 129): "longer than 128",
	} {
		resp, body := post(path)
		if resp.StatusCode != 400 || !strings.Contains(body, reason) || !strings.Contains(body, "not starting with '.'") {
			t.Errorf("POST %s: %d %q, want 400 with %q and the rule", path, resp.StatusCode, body, reason)
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("POST %s: Location %q", path, loc)
		}
	}
	// Unencoded dot segments are cleaned by the router and never reach the handler.
	for _, path := range []string{"/whip/..", "/whip/.", "/whip/../x"} {
		if resp, body := post(path); resp.StatusCode == 201 {
			t.Errorf("POST %s: 201 %q", path, body)
		}
	}
	if n := ws.Stats().Sessions; n != 0 || len(fa.srcs) != 0 {
		t.Fatalf("refused ids made %d sessions, %d sources", n, len(fa.srcs))
	}
	// DELETE reads the id from the URL too.
	req, _ := http.NewRequest("DELETE", hs.URL+"/whip/%2e%2e/0123456789abcdef", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "percent-encoded") {
		t.Errorf("DELETE /whip/%%2e%%2e/…: %d %q", resp.StatusCode, b)
	}
	// The widest valid id is accepted, and its Location is exactly /whip/<id>/<session>.
	const id = "Cam-1_north.door"
	resp, body := post("/whip/" + id)
	if resp.StatusCode != 201 || !strings.HasPrefix(resp.Header.Get("Location"), "/whip/"+id+"/") {
		t.Fatalf("POST /whip/%s: %d %v %q", id, resp.StatusCode, resp.Header, body)
	}
}

// TestAuthSchemeCaseInsensitive: "bearer", "BEARER" and "Bearer" are the same scheme
// (RFC 9110 section 11.1); another scheme or a wrong token is still 401.
func TestAuthSchemeCaseInsensitive(t *testing.T) {
	fa := &fakeAttach{}
	ws, err := whip.New(whip.Config{Token: token, Logger: quietLogger(t)}, fa.attach)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hs := httptest.NewServer(ws.Handler())
	defer hs.Close()
	good := offer(t)
	for i, tc := range []struct {
		header string
		code   int
	}{
		{"bearer " + token, 201}, {"BEARER " + token, 201}, {"bEaReR  " + token + " ", 201},
		{"Basic " + token, 401}, {"bearer wrong", 401}, {"bearer" + token, 401}, {token, 401},
	} {
		req, _ := http.NewRequest("POST", hs.URL+"/whip/cam"+string(rune('a'+i)), strings.NewReader(good))
		req.Header.Set("Authorization", tc.header)
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("Authorization %q: %d %q, want %d", tc.header, resp.StatusCode, b, tc.code)
		}
	}
}
