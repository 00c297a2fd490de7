//go:build gc && !purego

package asm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// gemmKernels lists the micro-kernels this CPU can run, best first.
func gemmKernels() []gemmMicro {
	var ks []gemmMicro
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		ks = append(ks, gemmMicro{name: "avx512", mr: 12, nr: 32, run: asmRunner(gemmKernel12x32AVX512, 12, 32),
			copy: copyAVX512, gather: gatherAVX512})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, gemmMicro{name: "avx2", mr: 6, nr: 16, run: asmRunner(gemmKernel6x16AVX2, 6, 16)})
	}
	return append(ks, gemmGo)
}

// asmRunner wraps a generated kernel after checking the slice bounds it
// relies on.
func asmRunner(fn func(k int, a, b, c *float32, ldc int, acc int), mr, nr int) func(k int, a, b, c []float32, ldc int, add bool) {
	return func(k int, a, b, c []float32, ldc int, add bool) {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		acc := 0
		if add {
			acc = 1
		}
		fn(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, acc)
	}
}

// bits returns a mask of the low n bits (n ≤ 32).
func bits(n int) uint32 { return uint32(uint64(1)<<n - 1) }

// copyAVX512 is packContig for w ≤ 32 (the caller checked the bounds).
func copyAVX512(dst, src []float32, ld, kb, cols, w int) {
	gemmCopyAVX512(unsafe.SliceData(dst), unsafe.SliceData(src), ld, kb, w, bits(cols), bits(w))
}

// gatherAVX512 is packTransposed for w ≤ 32 (the caller checked the bounds).
func gatherAVX512(dst, src []float32, ld, kb, rows, w int) {
	gemmGatherAVX512(unsafe.SliceData(dst), unsafe.SliceData(src), ld, kb, w, bits(rows), bits(w))
}
