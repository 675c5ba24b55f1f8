package whip_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// FuzzOffer POSTs arbitrary offers (stream id, Content-Type, Authorization, SDP body) to the
// endpoint: no panic, only the statuses the protocol table lists, nothing left behind by a
// refused offer and bounded allocation for it, and an accepted one answered with SDP and a
// session URL that DELETE ends.
func FuzzOffer(f *testing.F) {
	const fuzzToken = "fuzz-token"
	f.Add("cam", "application/sdp", "Bearer "+fuzzToken, []byte(offer(f)))
	f.Add("cam", "application/sdp; charset=utf-8", "bearer "+fuzzToken, []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"))
	f.Add("..", "text/plain", "", []byte("v=0\r\n"))
	// 307: ServeMux redirects a path it cleans ("/whip/.." and the like) without calling the endpoint.
	allowed := map[int]bool{201: true, 307: true, 400: true, 401: true, 403: true, 404: true, 405: true, 409: true, 413: true, 415: true, 503: true}
	f.Fuzz(func(t *testing.T, stream, ctype, auth string, body []byte) {
		ws, err := whip.New(whip.Config{Token: fuzzToken, MaxSessions: 2, MaxSDPBytes: 8 << 10,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
			func(string, string, ingest.Source) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		h := ws.Handler()
		req := httptest.NewRequest(http.MethodPost, "/whip/"+url.PathEscape(stream), strings.NewReader(string(body)))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		alloc := testutil.AllocatedBytes(func() { h.ServeHTTP(rec, req) })
		code := rec.Code
		if !allowed[code] {
			t.Fatalf("status %d: %s", code, rec.Body)
		}
		if code != http.StatusCreated {
			if n := ws.Stats().Sessions; n != 0 {
				t.Fatalf("a refused offer (%d) left %d sessions", code, n)
			}
			// A refusal before pion allocates little; pion's own refusals cost a PeerConnection.
			if limit := 8<<20 + 64*uint64(len(body)); alloc > limit {
				t.Fatalf("refusing %d bytes (%d %s) allocated %d (limit %d)", len(body), code, rec.Body, alloc, limit)
			}
			if strings.TrimSpace(rec.Body.String()) == "" && code != http.StatusNotFound && code != http.StatusTemporaryRedirect {
				t.Fatalf("status %d without a reason", code)
			}
			return
		}
		loc := rec.Header().Get("Location")
		if rec.Header().Get("Content-Type") != "application/sdp" || !strings.HasPrefix(loc, "/whip/") {
			t.Fatalf("201 with Content-Type %q, Location %q", rec.Header().Get("Content-Type"), loc)
		}
		var answer sdp.SessionDescription
		if err := answer.UnmarshalString(rec.Body.String()); err != nil {
			t.Fatalf("the answer is not SDP: %v\n%s", err, rec.Body)
		}
		del := httptest.NewRequest(http.MethodDelete, loc, nil)
		del.Header.Set("Authorization", "Bearer "+fuzzToken)
		drec := httptest.NewRecorder()
		h.ServeHTTP(drec, del)
		if drec.Code != http.StatusOK || ws.Stats().Sessions != 0 {
			t.Fatalf("DELETE %s: %d, %d sessions left", loc, drec.Code, ws.Stats().Sessions)
		}
	})
}
