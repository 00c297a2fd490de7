//go:build unix

package main

import "syscall"

// peakRSS returns the peak resident set size of this process in bytes.
func peakRSS() (uint64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return uint64(ru.Maxrss) * 1024, true // kilobytes on Linux
}
