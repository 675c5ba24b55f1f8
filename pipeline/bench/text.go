package bench

import (
	"fmt"
	"io"
	"strings"
)

// Each result's WriteText is what `actionstream bench` prints without --json.

func writeLines(w io.Writer, lines ...string) error {
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// WriteText prints the comparison, ratio last.
func (r DecodeResult) WriteText(w io.Writer) error {
	return writeLines(w,
		fmt.Sprintf("input            %s", r.Input),
		fmt.Sprintf("ffmpeg -threads 1 %8.1f frames/s (%d frames, median of %d)", r.FFmpegFPS, r.FFmpegFrames, r.Runs),
		fmt.Sprintf("actionstream      %8.1f frames/s (%d frames, %d converted, %d clips)", r.OursFPS, r.Frames, r.Converted, r.Clips),
		fmt.Sprintf("ratio             %8.3f (target >= 0.9)", r.Ratio))
}

// WriteText prints the comparison, ratio last.
func (r InferResult) WriteText(w io.Writer) error {
	return writeLines(w,
		fmt.Sprintf("model %s (%s), batch %d, threads %d", r.Model, r.Provider, r.Batch, r.Threads),
		fmt.Sprintf("raw ONNX Runtime  %8.2f clips/s  (p50 %.1f ms, p99 %.1f ms per call)", r.RawClipsPerS, r.RawP50MS, r.RawP99MS),
		fmt.Sprintf("batcher pipeline  %8.2f clips/s  (p50 %.1f ms, p99 %.1f ms per batch)", r.PipeClipsPerS, r.PipeP50MS, r.PipeP99MS),
		fmt.Sprintf("ratio             %8.3f (target >= 0.9)", r.Ratio))
}

// WriteText prints the totals and the per-stream share.
func (r MemoryResult) WriteText(w io.Writer) error {
	return writeLines(w,
		fmt.Sprintf("streams %d for %s: %d clips", r.Streams, r.Duration, r.Clips),
		fmt.Sprintf("Go heap: %.1f MiB in use, %.1f MiB obtained from the OS (the rest of RSS is FFmpeg, ONNX Runtime and stacks)", r.HeapInuseMiB, r.HeapSysMiB),
		fmt.Sprintf("peak RSS %.1f MiB (model loaded, before streams: %.1f MiB)", r.PeakRSSMiB, r.BaselineMiB),
		fmt.Sprintf("per stream: %.1f MiB of peak, %.1f MiB above the model baseline", r.PerStreamMiB, r.AboveBaseMiB))
}

// WriteText prints latency beside inference alone.
func (r WHIPResult) WriteText(w io.Writer) error {
	return writeLines(w,
		fmt.Sprintf("model             %s (%s), %d threads, %d CPUs", r.Model, r.Clip, r.Threads, r.CPUs),
		fmt.Sprintf("stream            %s %s at %d fps for %gs over WHIP (loopback), %d frames", r.Codec, r.Input, r.FPS, r.DurationS, r.FramesSent),
		fmt.Sprintf("glass-to-event    median %.1f ms, p99 %.1f ms (min %.1f, max %.1f) over %d clips", r.LatencyMedianMS, r.LatencyP99MS, r.LatencyMinMS, r.LatencyMaxMS, r.Clips),
		fmt.Sprintf("inference alone   median %.1f ms, p99 %.1f ms (batch 1)", r.InferMedianMS, r.InferP99MS))
}
