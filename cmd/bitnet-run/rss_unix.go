//go:build unix

package main

import (
	goruntime "runtime"
	"syscall"
)

// peakRSS returns the peak resident set size of this process in bytes.
func peakRSS() (uint64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	if goruntime.GOOS == "darwin" || goruntime.GOOS == "ios" {
		return uint64(ru.Maxrss), true // bytes on Darwin
	}
	return uint64(ru.Maxrss) * 1024, true // kilobytes elsewhere
}
