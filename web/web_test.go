package web

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
)

type fakeBackend struct {
	mu   sync.Mutex
	subs []chan events.Event
}

func (f *fakeBackend) Thumbnail(id string) ([]byte, time.Duration, error) {
	if id != "cam" {
		return nil, 0, errors.New("no such stream")
	}
	return []byte("\xff\xd8jpeg"), 1500 * time.Millisecond, nil
}

func (f *fakeBackend) Subscribe(buf int) (<-chan events.Event, func()) {
	ch := make(chan events.Event, buf)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, c := range f.subs {
				if c == ch {
					f.subs = append(f.subs[:i], f.subs[i+1:]...)
				}
			}
			close(ch)
		})
	}
}

func (f *fakeBackend) publish(e events.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.subs {
		c <- e
	}
}

func (f *fakeBackend) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func TestPagesAndThumbnails(t *testing.T) {
	ui := New(&fakeBackend{}, nil)
	hs := httptest.NewServer(ui.Handler())
	defer hs.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for path, want := range map[string]string{
		"/":                    `id="streams"`,
		"/publish":             `id="publish"`,
		"/static/app.css":      "@media",
		"/static/publish.js":   "application/sdp",
		"/static/dashboard.js": "EventSource",
	} {
		resp, body := get(path)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
	if resp, _ := get("/"); !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("no content security policy: %v", resp.Header)
	}
	if resp, _ := get("/nothing-here"); resp.StatusCode != 404 {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}
	resp, body := get("/api/streams/cam/thumbnail.jpg")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || !strings.HasPrefix(body, "\xff\xd8") ||
		resp.Header.Get("X-Frame-PTS") != "1.500" {
		t.Errorf("thumbnail: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get("/api/streams/nope/thumbnail.jpg"); resp.StatusCode != 404 {
		t.Errorf("thumbnail of an unknown stream: %d", resp.StatusCode)
	}
}

// TestNoExternalResources: the pages work with no internet, so nothing is loaded from
// another host, and both pages declare a viewport for phones.
func TestNoExternalResources(t *testing.T) {
	ext := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import\s+url\(\s*["']?(https?:)?//|fetch\(\s*["']https?://`)
	err := fs.WalkDir(static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(path)
		if err != nil {
			return err
		}
		if m := ext.Find(b); m != nil {
			t.Errorf("%s loads an external resource: %s", path, m)
		}
		if strings.HasSuffix(path, ".html") && !strings.Contains(string(b), `name="viewport"`) {
			t.Errorf("%s has no viewport meta for phones", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEventStream(t *testing.T) {
	fb := &fakeBackend{}
	ui := New(fb, nil)
	ui.KeepAlive = 50 * time.Millisecond
	hs := httptest.NewServer(ui.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/api/events?stream=cam&types=clip.scored,stream.up")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	for deadline := time.Now().Add(5 * time.Second); fb.subscribers() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no subscription")
		}
	}
	now := time.Now()
	fb.publish(events.StreamUp("actionstream", "other", now, ""))  // another stream: filtered
	fb.publish(events.StreamDown("actionstream", "cam", now, "x")) // another type: filtered
	fb.publish(events.StreamUp("actionstream", "cam", now, ""))
	r := bufio.NewReader(resp.Body)
	var lines []string
	sawKeepAlive := false
	for len(lines) < 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == ": keep-alive":
			sawKeepAlive = true
		case strings.HasPrefix(line, "id: "), strings.HasPrefix(line, "event: "), strings.HasPrefix(line, "data: "):
			lines = append(lines, line)
		}
	}
	if lines[1] != "event: stream.up" || !strings.Contains(lines[2], `"stream":"cam"`) {
		t.Fatalf("event lines %q", lines)
	}
	e, err := events.ParseJSON([]byte(strings.TrimPrefix(lines[2], "data: ")))
	if err != nil || e.Type != events.TypeStreamUp || "id: "+e.ID != lines[0] {
		t.Fatalf("parsed %+v %v", e, err)
	}
	// Keep-alives flow while idle; Close ends the stream and the subscription.
	for deadline := time.Now().Add(5 * time.Second); !sawKeepAlive; {
		line, err := r.ReadString('\n')
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("no keep-alive: %v", err)
		}
		sawKeepAlive = strings.HasPrefix(line, ": keep-alive")
	}
	ui.Close()
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); fb.subscribers() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("subscription left open")
		}
	}
}
