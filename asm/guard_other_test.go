//go:build !linux

package asm_test

import "testing"

// guarded returns a slice of n bytes (no guard page on this OS).
func guarded(t testing.TB, n int) []byte { return make([]byte, n) }
