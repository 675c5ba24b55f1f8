// Package hostinfo is what every benchmark prints beside its figures: the CPU it ran on, the
// machine's load, and the process's own CPU time (docs/BENCHMARKS.md).
package hostinfo

import (
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// LoadAverage is /proc/loadavg's three load averages, "" where there are none.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// CPUModel is the first "model name" of /proc/cpuinfo (lscpu's Model name), else GOARCH.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// ProcessCPU is this process's user + system CPU time so far, every thread (Go, FFmpeg,
// ONNX Runtime).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
