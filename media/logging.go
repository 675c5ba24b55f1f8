package media

import (
	"os"
	"strings"

	"github.com/asticode/go-astiav"
)

// QuietFFmpeg keeps FFmpeg's own logger (process-wide, printing to stderr) to fatal messages:
// a broken bitstream would otherwise print a line per frame, and errors are counted in Stats
// instead. ACTIONSTREAM_FFMPEG_LOGLEVEL (quiet, error, warning, info, verbose, debug) overrides.
func QuietFFmpeg() {
	level := astiav.LogLevelFatal
	switch strings.ToLower(os.Getenv("ACTIONSTREAM_FFMPEG_LOGLEVEL")) {
	case "quiet":
		level = astiav.LogLevelQuiet
	case "error":
		level = astiav.LogLevelError
	case "warning":
		level = astiav.LogLevelWarning
	case "info":
		level = astiav.LogLevelInfo
	case "verbose":
		level = astiav.LogLevelVerbose
	case "debug":
		level = astiav.LogLevelDebug
	}
	if astiav.GetLogLevel() != level {
		astiav.SetLogLevel(level)
	}
}
