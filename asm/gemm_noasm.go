//go:build !amd64 || !gc || purego

package asm

// gemmKernels lists the micro-kernels of this build: only the Go one.
func gemmKernels() []gemmMicro { return []gemmMicro{gemmGo} }
