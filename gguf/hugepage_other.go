//go:build unix && !linux

package gguf

// hugePages has no portable form outside Linux.
func hugePages([]byte) {}
