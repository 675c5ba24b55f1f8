package whip

import (
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

var videoFeedback = []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}

// registerCodecs offers the video codecs we decode (H.264 in the profiles browsers and OBS use,
// packetization-mode 1; VP8; VP9 profile 0) and Opus, whose packets are read and dropped so a
// publisher sending audio is still accepted.
func registerCodecs(m *webrtc.MediaEngine, names []string) error {
	pt := webrtc.PayloadType(96)
	add := func(mime, fmtp string) error {
		c := webrtc.RTPCodecParameters{PayloadType: pt,
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFeedback}}
		pt++
		return m.RegisterCodec(c, webrtc.RTPCodecTypeVideo)
	}
	for _, name := range names {
		var err error
		switch name {
		case "h264":
			for _, profile := range []string{"42001f", "42e01f", "4d001f", "64001f"} {
				if err = add(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="+profile); err != nil {
					break
				}
			}
		case "vp8":
			err = add(webrtc.MimeTypeVP8, "")
		case "vp9":
			err = add(webrtc.MimeTypeVP9, "profile-id=0")
		}
		if err != nil {
			return err
		}
	}
	return m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 111,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		webrtc.RTPCodecTypeAudio)
}

// videoCodec describes how one negotiated codec is depacketized and what FFmpeg calls it.
type videoCodec struct {
	name  string // FFmpeg decoder name
	depkt func() rtp.Depacketizer
	key   func(au []byte) bool
}

func codecFor(mime string) (videoCodec, bool) {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeH264):
		// pion's H264Packet emits Annex-B (start codes, STAP-A split, FU-A joined), which is what
		// FFmpeg's h264 decoder takes with SPS/PPS in band.
		return videoCodec{"h264", func() rtp.Depacketizer { return &codecs.H264Packet{} }, h264Key}, true
	case strings.ToLower(webrtc.MimeTypeVP8):
		return videoCodec{"vp8", func() rtp.Depacketizer { return &codecs.VP8Packet{} }, vp8Key}, true
	case strings.ToLower(webrtc.MimeTypeVP9):
		return videoCodec{"vp9", func() rtp.Depacketizer { return &codecs.VP9Packet{} }, vp9Key}, true
	}
	return videoCodec{}, false
}

// h264Key reports whether an Annex-B access unit holds an IDR slice (NAL type 5).
func h264Key(au []byte) bool {
	zeros := 0
	for i, b := range au {
		switch {
		case b == 0:
			zeros++
			continue
		case b == 1 && zeros >= 2 && i+1 < len(au):
			if au[i+1]&0x1f == 5 {
				return true
			}
		}
		zeros = 0
	}
	return false
}

// vp8Key: the frame tag's first bit is 0 for a key frame (RFC 6386 section 9.1).
func vp8Key(frame []byte) bool { return len(frame) > 0 && frame[0]&1 == 0 }

// vp9Key reads the uncompressed header: frame_marker(2) profile(2, +1 reserved bit in profile 3)
// show_existing_frame(1) frame_type(1, 0 = key frame).
func vp9Key(frame []byte) bool {
	if len(frame) == 0 || frame[0]>>6 != 2 {
		return false
	}
	b := frame[0]
	profile := (b>>5)&1 | ((b>>4)&1)<<1
	shift := 3 // bit index of show_existing_frame
	if profile == 3 {
		shift = 2
	}
	showExisting := (b >> shift) & 1
	frameType := (b >> (shift - 1)) & 1
	return showExisting == 0 && frameType == 0
}
