//go:build gc && !purego

package asm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The generated micro-kernels. The AVX-512 one also needs DQ (EVEX
// VXORPS); the implementations avx512vnni and avx512bw use it where the CPU
// has DQ, else the AVX2 one.
var (
	gemmAVX512 = gemmMicro{name: "avx512", mr: 12, nr: 32, run: asmRunner(gemmKernel12x32AVX512, 12, 32),
		copy: copyAVX512, gather: gatherAVX512}
	gemmAVX2 = gemmMicro{name: "avx2", mr: 6, nr: 16, run: asmRunner(gemmKernel6x16AVX2, 6, 16)}
)

// gemmFor is the micro-kernel of the implementation called impl.
func gemmFor(impl string) *gemmMicro {
	switch impl {
	case "avx512vnni", "avx512bw":
		if hasAVX512 && cpu.X86.HasAVX512DQ {
			return &gemmAVX512
		}
		fallthrough
	case "avx2":
		if hasAVX2 {
			return &gemmAVX2
		}
	}
	return &gemmGo
}

// asmRunner wraps a generated kernel after checking the slice bounds it
// relies on, and tells the race detector what it reads and writes.
func asmRunner(fn func(k int, a, b, c *float32, ldc int, acc int), mr, nr int) func(k int, a, b, c []float32, ldc int, add bool) {
	return func(k int, a, b, c []float32, ldc int, add bool) {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		acc := 0
		if add {
			acc = 1
		}
		if raceEnabled {
			raceRead(unsafe.Pointer(&a[0]), 4*k*mr)
			raceRead(unsafe.Pointer(&b[0]), 4*k*nr)
			for i := 0; i < mr; i++ {
				raceWrite(unsafe.Pointer(&c[i*ldc]), 4*nr)
			}
		}
		fn(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, acc)
	}
}

// bits returns a mask of the low n bits (n ≤ 32).
func bits(n int) uint32 { return uint32(uint64(1)<<n - 1) }

// copyAVX512 is packContig for w ≤ 32 (the caller checked the bounds).
func copyAVX512(dst, src []float32, ld, kb, cols, w int) {
	if raceEnabled {
		for p := 0; p < kb; p++ {
			raceRead(unsafe.Pointer(&src[p*ld]), 4*cols)
		}
		raceWrite(unsafe.Pointer(&dst[0]), 4*kb*w)
	}
	gemmCopyAVX512(unsafe.SliceData(dst), unsafe.SliceData(src), ld, kb, w, bits(cols), bits(w))
}

// gatherAVX512 is packTransposed for w ≤ 32 (the caller checked the bounds).
func gatherAVX512(dst, src []float32, ld, kb, rows, w int) {
	if raceEnabled {
		for j := 0; j < rows; j++ {
			raceRead(unsafe.Pointer(&src[j*ld]), 4*kb)
		}
		raceWrite(unsafe.Pointer(&dst[0]), 4*kb*w)
	}
	gemmGatherAVX512(unsafe.SliceData(dst), unsafe.SliceData(src), ld, kb, w, bits(rows), bits(w))
}
