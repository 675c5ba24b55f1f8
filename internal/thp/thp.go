// Package thp starts the process again with glibc's malloc asking for transparent huge pages,
// where the kernel grants them only to memory that asks (the "madvise" mode, Debian's default).
//
// Why: ONNX Runtime's arena, FFmpeg's frame pools and the clip tensors are tens of megabytes
// touched once each; with 4 KiB pages `run` took ~57 000 page faults for one 20 s 720p file,
// some with a TLB shootdown each, about a tenth of its CPU. glibc reads its tunables only when
// the dynamic loader starts the process, so the setting cannot be made from inside it.
package thp

import (
	"os"
	"strings"
	"syscall"
)

// Env is the environment setting Reexec adds.
const Env = "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"

// modeFile says which memory the kernel backs with huge pages.
const modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

// Wanted reports whether a process started with env would gain from Reexec: the kernel is in
// "madvise" mode (in "always" every large mapping already gets huge pages; in "never" none
// does) and env sets no GLIBC_TUNABLES (the user's own, or ours after the restart).
func Wanted(mode string, env []string) bool {
	if !strings.Contains(mode, "[madvise]") {
		return false
	}
	for _, e := range env {
		if strings.HasPrefix(e, "GLIBC_TUNABLES=") {
			return false
		}
	}
	return true
}

// Reexec replaces the process with itself, same arguments, with Env added, when Wanted; it
// returns only when it did not (not wanted, or the exec failed: the process goes on as it was).
// Call it first (internal/thp/restart does, from its init), before any goroutine or file matters.
func Reexec() {
	mode, err := os.ReadFile(modeFile)
	if err != nil || !Wanted(string(mode), os.Environ()) {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, append(os.Environ(), Env))
}
