package whip

import (
	"errors"
	"testing"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

func TestKeyframeDetection(t *testing.T) {
	sps := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e}
	idr := []byte{0, 0, 1, 0x65, 0x88}
	slice := []byte{0, 0, 0, 1, 0x41, 0x9a}
	for _, c := range []struct {
		au   []byte
		want bool
	}{
		{append(append([]byte{}, sps...), idr...), true},
		{slice, false},
		{sps, false}, // parameter sets alone are not a picture
		{[]byte{0, 0, 1}, false},
		{nil, false},
	} {
		if got := h264Key(c.au); got != c.want {
			t.Errorf("h264Key(% x) = %v", c.au, got)
		}
	}
	if !vp8Key([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}) || vp8Key([]byte{0x31, 0x02}) || vp8Key(nil) {
		t.Error("vp8Key")
	}
	// VP9 uncompressed header, first byte: frame_marker=10, profile bits, show_existing, frame_type.
	for _, c := range []struct {
		b    byte
		want bool
	}{
		{0b10_00_0_0_00, true},  // profile 0 key frame
		{0b10_00_0_1_00, false}, // profile 0 inter frame
		{0b10_00_1_0_00, false}, // show an existing frame
		{0b10_10_0_0_00, true},  // profile 1 key frame
		{0b10_11_0_0_0_0, true}, // profile 3: a reserved bit first, then key frame
		{0b10_11_0_0_1_0, false},
		{0b00_00_0_0_00, false}, // no frame marker
	} {
		if got := vp9Key([]byte{c.b}); got != c.want {
			t.Errorf("vp9Key(%08b) = %v", c.b, got)
		}
	}
}

func TestTimestampMaths(t *testing.T) {
	if d := ticks(90000*3+45000, 90000); d != 3500*time.Millisecond {
		t.Errorf("ticks: %v", d)
	}
	if d := ticks(-3000, 90000); d != -time.Second/30 {
		t.Errorf("negative ticks: %v", d)
	}
	// 28 hours of 90 kHz ticks do not overflow.
	if d := ticks(90000*3600*28, 90000); d != 28*time.Hour {
		t.Errorf("long ticks: %v", d)
	}
	// NTP: 2024-01-01T00:00:00.5Z.
	want := time.Date(2024, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	ntp := uint64(want.Unix()+2208988800)<<32 | 1<<31
	if got := ntpTime(ntp); !got.Equal(want) {
		t.Errorf("ntpTime = %v", got)
	}
}

func TestWallFromSenderReport(t *testing.T) {
	ss := &session{}
	now := time.Now()
	if w := ss.wall(1000, now); !w.Equal(now) {
		t.Error("without a sender report, wall is the arrival time")
	}
	// A report says RTP 0 was captured 100 ms before now; RTP 9000 is then 0 ms before now.
	ss.sr.Store(&senderReport{wall: now.Add(-100 * time.Millisecond), rtp: 0, clock: 90000})
	if w := ss.wall(9000, now.Add(20*time.Millisecond)); !w.Equal(now) {
		t.Errorf("wall from SR = %v, want %v", w.Sub(now), 0)
	}
	// Across the 32-bit wrap.
	ss.sr.Store(&senderReport{wall: now, rtp: 0xffffff00, clock: 90000})
	if w := ss.wall(0x100, now); w.Sub(now) != ticks(0x200, 90000) {
		t.Errorf("wrap: %v", w.Sub(now))
	}
	// A sender clock far from ours is not trusted.
	ss.sr.Store(&senderReport{wall: now.Add(-time.Hour), rtp: 0, clock: 90000})
	if w := ss.wall(0, now); !w.Equal(now) {
		t.Errorf("skewed sender clock used: %v", w.Sub(now))
	}
}

func TestCheckOffer(t *testing.T) {
	video := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=rtpmap:96 AV1/90000\r\na=rtpmap:97 H264/90000\r\n"
	if r := checkOffer(video, []string{"h264"}); r != "" {
		t.Errorf("H.264 offer refused: %s", r)
	}
	if r := checkOffer(video, []string{"vp8"}); r == "" {
		t.Error("offer without VP8 accepted for a VP8-only server")
	}
	if r := checkOffer("", []string{"h264"}); r != "empty offer" {
		t.Errorf("empty: %q", r)
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	var c Config
	if err := c.defaults(); err != nil || c.MaxSessions != 16 || c.DisconnectTimeout.D() != 5*time.Second || c.AllowOrigin != "*" || len(c.Codecs) != 3 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, bad := range []Config{
		{Codecs: []string{"av1"}},
		{MaxSDPBytes: 10},
		{DisconnectTimeout: confkit.Duration(time.Millisecond)},
		{ICE: ICE{Servers: []ICEServer{{URLs: []string{"http://x"}}}}},
		{ICE: ICE{TCPAddr: "nonsense"}},
		{ICE: ICE{UDPPortMin: 5000}},
		{ICE: ICE{PublicIPs: []string{"nope"}}},
		{ICE: ICE{Servers: []ICEServer{{}}}},
	} {
		if err := bad.defaults(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("accepted %+v: %v", bad, err)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New without an attach func")
	}
}
