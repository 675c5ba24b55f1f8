package infer

import "syscall"

// lowerThreadPriority adds steps to the calling OS thread's nice value (at most 19): on Linux
// nice is a per-thread attribute.
func lowerThreadPriority(steps int) error {
	tid := syscall.Gettid()
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid) // the raw syscall: 20 - nice
	if err != nil {
		return err
	}
	return syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(20-prio+steps, 19))
}
