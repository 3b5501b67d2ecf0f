//go:build !unix

// Package cputime reads the CPU time the benchmark's own process used, and the machine's.
package cputime

import "time"

// Process is not measured on this platform.
func Process() time.Duration { return 0 }
