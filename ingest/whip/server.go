package whip

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/actionstream/actionstream/ingest"
)

// AttachFunc hands a new session's Source to the pipeline as stream id. It returns an error
// wrapping ErrStreamBusy when the id is live and ErrNotRunning when streams cannot be added now.
type AttachFunc func(id, url string, src ingest.Source) error

// Server is the WHIP endpoint. Handler serves it; Close ends every session.
type Server struct {
	cfg    Config
	attach AttachFunc
	log    *slog.Logger
	se     webrtc.SettingEngine
	tcpMux ice.TCPMux

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session // by session id
	byStream map[string]*session // live (or being set up) per stream id
	wg       sync.WaitGroup      // session closers
}

// Stats are the endpoint's counters.
type Stats struct {
	Sessions int // live sessions
}

// New validates cfg and prepares the endpoint (and the ICE-TCP listener when configured).
func New(cfg Config, attach AttachFunc) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if attach == nil {
		return nil, fmt.Errorf("%w: no attach func", ErrBadConfig)
	}
	s := &Server{cfg: cfg, attach: attach, log: cfg.Logger.With("component", "whip"),
		sessions: map[string]*session{}, byStream: map[string]*session{}}
	se := webrtc.SettingEngine{LoggerFactory: pionLogs{cfg.Logger}}
	// Loopback candidates let a publisher on the same host connect without any network.
	se.SetIncludeLoopbackCandidate(true)
	keepAlive := min(cfg.DisconnectTimeout.D()/4, 2*time.Second)
	// pion's failed timeout is off (0): its clock starts when the answer is created, before
	// gathering ends and the answer is sent. The session's own deadline ends a publisher that
	// does not connect, or stays silent, for DisconnectTimeout (session.armDeadline).
	se.SetICETimeouts(cfg.DisconnectTimeout.D()/2, 0, keepAlive)
	if cfg.ICE.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.ICE.UDPPortMin, cfg.ICE.UDPPortMax); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
	}
	if len(cfg.ICE.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.ICE.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace})
		if err != nil {
			return nil, fmt.Errorf("%w: public IPs: %w", ErrBadConfig, err)
		}
	}
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.ICE.TCPAddr != "" {
		ln, err := net.Listen("tcp", cfg.ICE.TCPAddr)
		if err != nil {
			return nil, fmt.Errorf("whip ICE-TCP listener: %w", err)
		}
		s.tcpMux = webrtc.NewICETCPMux(nil, ln, 64)
		se.SetICETCPMux(s.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
		s.log.Info("ICE-TCP listening", "addr", ln.Addr().String())
	}
	se.SetNetworkTypes(networks)
	s.se = se
	return s, nil
}

// Stats returns the counters now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Sessions: len(s.sessions)}
}

// Enabled reports whether publishers can be accepted at all (a token is set, or Open).
func (s *Server) Enabled() bool { return s.cfg.Token != "" || s.cfg.Open }

// Close ends every session and waits until their connections are closed. Offers after Close
// get 503.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.close("server closed")
	}
	s.wg.Wait()
	if s.tcpMux != nil {
		return s.tcpMux.Close()
	}
	return nil
}

// Handler serves POST /whip/{stream} (new session), DELETE /whip/{stream}/{session} (end it),
// PATCH on the session (405: no trickle ICE nor ICE restarts, RFC 9725 section 4.3.1) and
// OPTIONS (CORS preflight) on both.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("OPTIONS /whip/{stream}", s.options("POST, OPTIONS"))
	mux.HandleFunc("POST /whip/{stream}", s.post)
	mux.HandleFunc("OPTIONS /whip/{stream}/{session}", s.options("DELETE, OPTIONS"))
	mux.HandleFunc("DELETE /whip/{stream}/{session}", s.delete)
	mux.HandleFunc("PATCH /whip/{stream}/{session}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "DELETE, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "trickle ICE and ICE restarts are not supported: send a complete offer")
	})
	return s.cors(mux)
}

// cors lets a publish page on another origin use the endpoint; the bearer token still guards it.
func (s *Server) cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", s.cfg.AllowOrigin)
		hd.Set("Access-Control-Allow-Methods", "POST, DELETE, PATCH, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		hd.Set("Access-Control-Expose-Headers", "Location, Link, Accept-Post, Allow")
		if s.cfg.AllowOrigin != "*" {
			hd.Add("Vary", "Origin")
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) options(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		if strings.HasPrefix(allow, "POST") {
			w.Header().Set("Accept-Post", "application/sdp")
		}
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

// authorize answers 401/403 itself and reports whether the request may go on. Nothing is
// allocated before it passes.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Token == "" {
		if s.cfg.Open {
			return true
		}
		httpError(w, http.StatusForbidden, "WHIP publishing is disabled: the server has no whip.token (or whip.open)")
		return false
	}
	// The auth scheme is case-insensitive (RFC 9110 section 11.1): "bearer" is "Bearer".
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.Token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="whip"`)
		httpError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return false
	}
	return true
}

// ValidStreamID is the stream id rule shared with the config (ingest.StreamIDRule).
func ValidStreamID(id string) bool { return ingest.CheckStreamID(id) == nil }

// pathStreamID is the {stream} of the URL, or why it is not a stream id. Percent-encoding is
// refused outright: no valid id needs it, and "%2e%2e" must not become "..".
func pathStreamID(r *http.Request) (string, error) {
	if r.URL.RawPath != "" {
		return "", fmt.Errorf("%w: percent-encoded path %q", ingest.ErrBadStreamID, r.URL.RawPath)
	}
	id := r.PathValue("stream")
	return id, ingest.CheckStreamID(id)
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r) {
		return
	}
	stream, err := pathStreamID(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error()+" (use "+ingest.StreamIDRule+")")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/sdp" {
		httpError(w, http.StatusUnsupportedMediaType, "the offer must be sent as Content-Type: application/sdp")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxSDPBytes)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("offer larger than %d bytes", s.cfg.MaxSDPBytes))
			return
		}
		httpError(w, http.StatusBadRequest, "reading the offer: "+err.Error())
		return
	}
	offer := string(body)
	if reason := checkOffer(offer, s.cfg.Codecs); reason != "" {
		httpError(w, http.StatusBadRequest, reason)
		return
	}

	// Reserve the stream id and a session slot before allocating a connection.
	ss := &session{srv: s, stream: stream, id: newSessionID(), tracks: make(chan remoteTrack, 1),
		done: make(chan struct{}), finished: make(chan struct{})}
	ss.log = s.log.With("stream", stream, "session", ss.id)
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	case s.byStream[stream] != nil:
		s.mu.Unlock()
		httpError(w, http.StatusConflict, fmt.Sprintf("stream %q already has a publisher", stream))
		return
	case len(s.sessions) >= s.cfg.MaxSessions:
		s.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		httpError(w, http.StatusServiceUnavailable, fmt.Sprintf("at the limit of %d concurrent publishers", s.cfg.MaxSessions))
		return
	}
	s.sessions[ss.id] = ss
	s.byStream[stream] = ss
	s.mu.Unlock()

	answer, code, err := ss.start(r.Context(), offer)
	if err == nil {
		err = s.attach(stream, "whip://"+remoteHost(r)+"/"+stream, ss)
		switch {
		case errors.Is(err, ErrStreamBusy):
			code = http.StatusConflict
		case errors.Is(err, ErrNotRunning):
			code = http.StatusServiceUnavailable
		case err != nil:
			code = http.StatusInternalServerError
		}
	}
	if err != nil {
		ss.close("setup failed")
		<-ss.finished // nothing outlives a refused offer
		s.log.Info("offer refused", "stream", stream, "status", code, "err", err)
		httpError(w, code, err.Error())
		return
	}
	ss.log.Info("publisher connected", "remote", remoteHost(r))
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", "/whip/"+stream+"/"+ss.id)
	for _, srv := range s.cfg.ICE.Servers {
		for _, u := range srv.URLs {
			link := "<" + u + `>; rel="ice-server"`
			if srv.Username != "" {
				link += fmt.Sprintf(`; username=%q; credential=%q; credential-type="password"`, srv.Username, srv.Credential)
			}
			h.Add("Link", link)
		}
	}
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
	ss.answered()
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r) {
		return
	}
	stream, err := pathStreamID(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error()+" (use "+ingest.StreamIDRule+")")
		return
	}
	s.mu.Lock()
	ss := s.sessions[r.PathValue("session")]
	s.mu.Unlock()
	if ss == nil || ss.stream != stream {
		httpError(w, http.StatusNotFound, "no such WHIP session")
		return
	}
	ss.close("DELETE")
	<-ss.finished
	w.WriteHeader(http.StatusOK)
}

// forget drops an ended session from the maps (its stream id may be published again once the
// pipeline has removed the stream).
func (s *Server) forget(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, ss.id)
	if s.byStream[ss.stream] == ss {
		delete(s.byStream, ss.stream)
	}
}

// newAPI builds a pion API with our codecs and the receiver interceptors (NACK generator and
// responder, RTCP receiver/sender reports, stats, TWCC). A MediaEngine is per connection.
func (s *Server) newAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, s.cfg.Codecs); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(s.se)), nil
}

// checkOffer parses the SDP and returns why it cannot be accepted, or "".
func checkOffer(offer string, codecs []string) string {
	if strings.TrimSpace(offer) == "" {
		return "empty offer"
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return "malformed SDP offer: " + err.Error()
	}
	want := map[string]bool{}
	for _, c := range codecs {
		want[c] = true
	}
	var video bool
	var offered []string
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "video" {
			continue
		}
		video = true
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			// "96 VP8/90000"
			_, enc, _ := strings.Cut(a.Value, " ")
			name, _, _ := strings.Cut(enc, "/")
			name = strings.ToLower(name)
			if want[name] {
				return ""
			}
			offered = append(offered, name)
		}
	}
	if !video {
		return "the offer has no video media section"
	}
	return fmt.Sprintf("no supported video codec in the offer (offered %s; accepted %s)", strings.Join(offered, ", "), strings.Join(codecs, ", "))
}

func newSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// maxGatherWait bounds ICE gathering before the answer is sent. Host candidates are immediate;
// server-reflexive and relayed ones take a STUN/TURN round trip, and pion waits up to 5 s for a
// server that never answers. After maxGatherWait the answer carries the candidates gathered so
// far: the ICE checks the server sends from a late candidate's address still reach the
// publisher (it learns it as peer-reflexive), so the session connects anyway.
const maxGatherWait = time.Second
