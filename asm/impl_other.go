//go:build (!amd64 && !arm64) || !gc || purego

package asm

// platformKernels: no assembly in this build configuration; only ref.
func platformKernels() []*kernels { return nil }

// memSum backs MemSum in export_test.go (benchmarks only).
func memSum(b []byte) uint64 { return memSumGo(b) }
