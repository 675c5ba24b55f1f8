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
	line := func(name string, fps float64, sec [3]float64, cpu float64) string {
		return fmt.Sprintf("%-17s %8.1f frames/s  wall min/median/max %.3f/%.3f/%.3f s  cpu median %.3f s", name, fps, sec[0], sec[1], sec[2], cpu)
	}
	return writeLines(w,
		fmt.Sprintf("input             %s (whole processes, %d alternating runs each)", r.Input, r.Runs),
		line("ffmpeg -threads 1", r.FFmpegFPS, r.FFmpegSeconds, r.FFmpegCPUSeconds),
		line("actionstream", r.OursFPS, r.OursSeconds, r.OursCPUSeconds),
		fmt.Sprintf("frames            %d ours, %d ffmpeg (%d converted, %d clips)", r.Frames, r.FFmpegFrames, r.Converted, r.Clips),
		fmt.Sprintf("context switches  %d ours, %d ffmpeg (median per run)", r.OursSwitches, r.FFmpegSwitches),
		fmt.Sprintf("machine           %s; load average %s before, %s after", r.CPU, r.LoadBefore, r.LoadAfter),
		fmt.Sprintf("ratio             %8.3f (median wall time ffmpeg / ours; target >= 0.9), cpu time %.3f", r.Ratio, r.CPURatio))
}

// WriteText prints the comparison, ratio last.
func (r InferResult) WriteText(w io.Writer) error {
	return writeLines(w,
		fmt.Sprintf("model %s (%s), batch %d, threads %d, %d alternating runs per side, CPU %s", r.Model, r.Provider, r.Batch, r.Threads, r.Runs, r.CPU),
		fmt.Sprintf("raw ONNX Runtime  clips/s min/median/max %s  (median p50 %.1f ms, p99 %.1f ms per call)", r.RawSpread, r.RawP50MS, r.RawP99MS),
		fmt.Sprintf("batcher pipeline  clips/s min/median/max %s  (median p50 %.1f ms, p99 %.1f ms per batch)", r.PipeSpread, r.PipeP50MS, r.PipeP99MS),
		fmt.Sprintf("load average      %s before, %s after", r.LoadBefore, r.LoadAfter),
		fmt.Sprintf("ratio             %8.3f (median batcher / median raw; per run %s; target >= 0.9)", r.Ratio, r.RatioSpread))
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

// WriteText prints the bound's terms, run's time and the ratio, min/median/max over rounds.
func (r RunResult) WriteText(w io.Writer) error {
	return writeLines(w,
		fmt.Sprintf("input             %s, model %s: %d clips, %d frames", r.Input, r.Model, r.Clips, r.Frames),
		fmt.Sprintf("machine           %s, %d cores for this process; ONNX Runtime %d threads per call, %d calls at once (spinning %s)", r.CPU, r.Cores, r.RawThreads, r.RawWorkers, r.RawSpinning),
		fmt.Sprintf("rounds            %d, sides in rotating order, each a whole process; min/median/max seconds:", r.Runs),
		fmt.Sprintf("  ffmpeg -threads 1 decode    %s  (CPU %s)", r.FFmpegWall, r.FFmpegCPU),
		fmt.Sprintf("  clips / raw ORT rate        %s  (CPU %s; batch 1)", r.RawWall, r.RawCPU),
		fmt.Sprintf("  (ffmpeg + raw CPU) / cores  %s", r.CPUTerm),
		fmt.Sprintf("  bound (largest of the three) %s  (mostly %s)", r.Bound, r.BoundTerm),
		fmt.Sprintf("  run, model load included    %s  (CPU %s)", r.RunWall, r.RunCPU),
		fmt.Sprintf("load average      %s before, %s after", r.LoadBefore, r.LoadAfter),
		fmt.Sprintf("ratio             %s (run wall / bound per round, min/median/max; target <= 1.05)", r.Ratio))
}
