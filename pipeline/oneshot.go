package pipeline

import (
	"fmt"
	"os"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/file"
)

// verdict says, once a one-shot stream is over, why it failed or yielded no clip (nil if it
// was scored or cut short by the caller). The message starts with the input's name.
func (s *stream) verdict() error {
	st := s.status(0)
	switch {
	case st.Status == StatusFailed:
		return fmt.Errorf("%s %w: %w%s", s.url, ErrStreamFailed, s.failErr, fileHint(s.url, st))
	case st.Status != StatusEnded || st.Clips > 0:
		return nil
	case st.FramesDecoded == 0:
		return fmt.Errorf("%s %w: no frame could be decoded (%d decode errors)", s.url, ErrNotVideo, st.DecodeErrors)
	case st.FramesDecoded == 1:
		return fmt.Errorf("%s %w: it holds a single %s frame, a still image", s.url, ErrNotVideo, st.Codec)
	}
	cc := s.clp.Config()
	clip := fmt.Sprintf("a clip spans %.2f s (%d frames %.2f s apart)", cc.Span().Seconds(), cc.Frames, cc.Interval().Seconds())
	span := s.tl.last - s.tl.first
	switch {
	case st.Gaps > 0 || st.BackwardSteps > 0:
	case span < cc.Span():
		return fmt.Errorf("%s %w: too short for one clip: its %d frames span %.2f s, %s", s.url, ErrNoClip, st.FramesDecoded, span.Seconds(), clip)
	default: // not expected from a file: the clipper only drops clips at gaps, backward steps and resets
		return fmt.Errorf("%s %w: %d clips started and were dropped (%d frames over %.2f s; %s)", s.url, ErrNoClip, st.ClipsDropped, st.FramesDecoded, span.Seconds(), clip)
	}
	return fmt.Errorf("%s %w: %d gaps over %v and %d backward frame-time steps broke every clip (%d frames over %.2f s; %s)",
		s.url, ErrNoClip, st.Gaps, cc.GapTolerance, st.BackwardSteps, st.FramesDecoded, span.Seconds(), clip)
}

// fileHint adds what FFmpeg's "invalid data" leaves unsaid about a file that never delivered a
// packet.
func fileHint(url string, st StreamStatus) string {
	if ingest.URLKind(url) != "file" || st.FramesDecoded > 0 || st.Restarts > 0 {
		return ""
	}
	path, err := file.Path(url)
	if err != nil {
		return ""
	}
	switch fi, err := os.Stat(path); {
	case err != nil:
		return ""
	case fi.Size() == 0:
		return " (the file is empty)"
	}
	return " (not a video file FFmpeg can read, or its header is damaged)"
}
