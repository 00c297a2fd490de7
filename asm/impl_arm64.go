//go:build gc && !purego

package asm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

func platformKernels() []*kernels {
	var ks []*kernels
	if cpu.ARM64.HasASIMDDP {
		k := neonKernels("neondot", i2sDotsSDOT, i2sDotsSDOTN2, i2sDotsSDOTN4)
		k.q6kDots = q8kDotsAsm(q6kDotsSDOT, 210)
		k.q4kDots = q8kDotsAsm(q4kDotsSDOT, 144)
		k.tq1Dots = q8kDotsAsm(tq1DotsSDOT, 54)
		k.tq2Dots = q8kDotsAsm(tq2DotsSDOT, 66)
		k.q80Dots = q80DotsAsm(q80DotsSDOT)
		k.i8Dots = i8DotsAsm(i8DotsSDOT)
		ks = append(ks, k)
	}
	// Advanced SIMD is part of every arm64 CPU Go supports.
	k := neonKernels("neon", i2sDotsNEON, i2sDotsNEONN2, i2sDotsNEONN4)
	k.q6kDots = q8kDotsAsm(q6kDotsNEON, 210)
	k.q4kDots = q8kDotsAsm(q4kDotsNEON, 144)
	k.tq1Dots = q8kDotsAsm(tq1DotsNEON, 54)
	k.tq2Dots = q8kDotsAsm(tq2DotsNEON, 66)
	k.q80Dots = q80DotsAsm(q80DotsNEON)
	k.i8Dots = i8DotsAsm(i8DotsNEON)
	return append(ks, k)
}

// The n-token F16 head kernels, indexed by n (from 2).
var f16DotsNNEON = []f16NKernel{nil, nil, f16DotsNEONN2, f16DotsNEONN3, f16DotsNEONN4}

// i2sNKernel is the signature of the n-token NEON I2_S kernels.
type i2sNKernel func(dst *int32, ldd int, w *byte, q *int8, ldq int, rows int, nblk int)

// neonKernels: assembly for every kernel (the int8 head and the block
// formats are set by platformKernels, per dot-product extension). Prompts
// go through the 4- and 2-token I2_S kernels, the rest one token at a
// time; the F16 head takes up to 4 tokens per pass over the weights.
func neonKernels(name string, gemv func(dst *int32, w *byte, q *int8, rows int, nblk int), gemv2, gemv4 i2sNKernel) *kernels {
	k := refKernels
	k.name = name
	k.i2s = func(dst []int32, ldd int, w []byte, q []int8, ldq, n, rows, kk int) {
		_ = dst[(n-1)*ldd+rows-1]
		_ = q[(n-1)*ldq+kk-1]
		w = w[:rows*(kk/4)]
		raceRead(unsafe.Pointer(&w[0]), len(w))
		for t := 0; t < n; t++ {
			raceRead(unsafe.Pointer(&q[t*ldq]), kk)
			raceWrite(unsafe.Pointer(&dst[t*ldd]), 4*rows)
		}
		for t := 0; t < n; {
			switch {
			case n-t >= 4:
				gemv4(&dst[t*ldd], ldd, &w[0], &q[t*ldq], ldq, rows, kk/128)
				t += 4
			case n-t >= 2:
				gemv2(&dst[t*ldd], ldd, &w[0], &q[t*ldq], ldq, rows, kk/128)
				t += 2
			default:
				gemv(&dst[t*ldd], &w[0], &q[t*ldq], rows, kk/128)
				t++
			}
		}
	}
	k.quantizeI8 = quantizeNEON
	k.f16Dots = f16DotsAsm(f16DotsNEON, 16)
	k.f16DotsStrided = f16DotsStridedAsm(f16DotsStridedNEON, 8)
	k.f16AXPYStrided = f16AXPYStridedAsm(f16AXPYStridedNEON, 8)
	k.f32ToF16s = f32ToF16sAsm(f32ToF16sNEON, 16)
	k.f16ToF32s = f16ToF32sAsm(f16ToF32sNEON, 16)
	k.i2sOutputs = i2sOutputsAsm(i2sOutputsNEON, 4)
	k.f16AXPY = f16AXPYAsm(f16AXPYNEON, 16)
	k.f16DotsN = f16DotsNAsm(f16DotsNNEON, f16DotsNEON, 16)
	k.dotF32 = dotF32Asm(dotF32NEON, 16)
	k.dotF16 = dotF16Asm(dotF16NEON, 16)
	return &k
}

func quantizeNEON(dst []int8, x []float32) (float32, int32) {
	m := len(x) &^ 15
	var amax float32
	if m > 0 {
		raceRead(unsafe.Pointer(&x[0]), 4*m)
		amax = absMaxNEON(&x[0], m)
	}
	s := i8Scale(absMaxTail(amax, x[m:]))
	var sum int32
	if m > 0 {
		raceWrite(unsafe.Pointer(&dst[0]), m)
		sum = quantizeI8NEON(&dst[0], &x[0], m, s)
	}
	return s, sum + quantizeTail(dst[m:], x[m:], s)
}

// memSum backs MemSum in export_test.go (benchmarks only).
func memSum(b []byte) uint64 { return memSumGo(b) }
