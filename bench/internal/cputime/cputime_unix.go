//go:build unix

// Package cputime reads the CPU time the benchmark's own process used, and the machine's.
package cputime

import (
	"syscall"
	"time"
)

// Process is the user + system CPU time this process has used.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
