package infer

import "syscall"

// threadNice is the calling OS thread's nice value: on Linux nice is a per-thread attribute.
func threadNice() (int, error) {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid()) // the raw syscall: 20 - nice
	return 20 - prio, err
}

// lowerThreadPriority adds steps to the calling OS thread's nice value (at most 19).
func lowerThreadPriority(steps int) error {
	nice, err := threadNice()
	if err != nil {
		return err
	}
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), min(nice+steps, 19))
}
