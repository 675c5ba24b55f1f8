package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestThumbnailStreamIDs: an id from the URL outside the stream id rule is a 400 with the
// reason, before the backend is asked.
func TestThumbnailStreamIDs(t *testing.T) {
	hs := httptest.NewServer(New(&fakeBackend{}, nil).Handler())
	defer hs.Close()
	for path, reason := range map[string]string{
		"/api/streams/%2e%2e/thumbnail.jpg": "starts with '.'",
		"/api/streams/.x/thumbnail.jpg":     "starts with '.'",
		"/api/streams/%63am/thumbnail.jpg":  "percent-encoding",
		"/api/streams/a%20b/thumbnail.jpg":  "invalid stream id",
	} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), reason) {
			t.Errorf("%s: %d %q, want 400 with %q", path, resp.StatusCode, b, reason)
		}
	}
}

// TestEventStreamFilterID: ?stream= is an id from the URL too.
func TestEventStreamFilterID(t *testing.T) {
	hs := httptest.NewServer(New(&fakeBackend{}, nil).Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/api/events?stream=..")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "starts with '.'") {
		t.Errorf("?stream=..: %d %q", resp.StatusCode, b)
	}
}

// TestEventClientCap: past MaxClients an event stream gets 503 and is counted; a closed
// stream gives its place back.
func TestEventClientCap(t *testing.T) {
	fb := &fakeBackend{}
	ui := New(fb, nil)
	ui.MaxClients = 2
	hs := httptest.NewServer(ui.Handler())
	defer hs.Close()
	defer ui.Close()
	open := func() *http.Response {
		resp, err := http.Get(hs.URL + "/api/events")
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a, b := open(), open()
	defer b.Body.Close()
	c := open()
	body, _ := io.ReadAll(c.Body)
	c.Body.Close()
	if a.StatusCode != 200 || b.StatusCode != 200 || c.StatusCode != 503 || !strings.Contains(string(body), "web.max_event_clients") {
		t.Fatalf("statuses %d %d %d %q", a.StatusCode, b.StatusCode, c.StatusCode, body)
	}
	if st := ui.Stats(); st.EventClients != 2 || st.EventRejected != 1 {
		t.Errorf("stats %+v", st)
	}
	a.Body.Close()
	for deadline := time.Now().Add(5 * time.Second); ui.Stats().EventClients != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream still counts: %+v", ui.Stats())
		}
	}
	d := open()
	d.Body.Close()
	if d.StatusCode != 200 {
		t.Errorf("after one closed: %d", d.StatusCode)
	}
}
