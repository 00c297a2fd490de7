//go:build !amd64 || !gc || purego

package asm

// gemmFor is the micro-kernel of an implementation: the Go one for all in
// this build.
func gemmFor(string) *gemmMicro { return &gemmGo }
