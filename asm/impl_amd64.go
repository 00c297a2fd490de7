//go:build gc && !purego

package asm

import (
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/bitnet-go/bitnet/asm/generic"
)

// i2sKernel is the signature of the generated I2_S kernels
// (i2sDots<ISA>N<n> in kernels_amd64.go).
type i2sKernel func(dst *int32, ldd int, w *byte, q *int8, ldq int, rows int, nblk int)

// The n-token kernels of each ISA, indexed by n.
var (
	i2sAVX2   = []i2sKernel{nil, i2sDotsAVX2N1, i2sDotsAVX2N2, i2sDotsAVX2N3, i2sDotsAVX2N4}
	i2sAVX512 = []i2sKernel{nil, i2sDotsAVX512N1, i2sDotsAVX512N2, i2sDotsAVX512N3, i2sDotsAVX512N4,
		i2sDotsAVX512N5, i2sDotsAVX512N6, i2sDotsAVX512N7, i2sDotsAVX512N8}
	i2sVNNI = []i2sKernel{nil, i2sDotsVNNIN1, i2sDotsVNNIN2, i2sDotsVNNIN3, i2sDotsVNNIN4,
		i2sDotsVNNIN5, i2sDotsVNNIN6, i2sDotsVNNIN7, i2sDotsVNNIN8}
)

// Feature sets. The AVX-512 paths use EVEX forms of 128/256-bit
// instructions in their reductions (VL) and byte/word ops (BW); the float
// kernels of every path need FMA and F16C.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
	hasVNNI   = hasAVX512 && cpu.X86.HasAVX512VNNI
)

func platformKernels() []*kernels {
	var ks []*kernels
	if hasVNNI {
		k := avx512Floats("avx512vnni")
		k.i2s = i2sAsm(i2sVNNI, i2sAVX512)
		k.i8Dots = i8DotsAsm(i8DotsVNNI)
		k.tq2Dots = q8kDotsAsm(tq2DotsVNNI, 66)
		k.tq2DotsN = q8kDotsNAsm(tq2AVX2N, tq2DotsVNNI, 66)
		ks = append(ks, k)
	}
	if hasAVX512 {
		k := avx512Floats("avx512bw")
		k.i2s = i2sAsm(i2sAVX512, nil)
		k.i8Dots = i8DotsAsm(i8DotsAVX512)
		ks = append(ks, k)
	}
	if hasAVX2 {
		ks = append(ks, &kernels{
			name:           "avx2",
			i2s:            i2sAsm(i2sAVX2, nil),
			quantizeI8:     quantizeAsm(absMaxAVX2, quantizeI8AVX2, 32),
			dotF32:         dotF32Asm(dotF32AVX2, 32),
			dotF16:         dotF16Asm(dotF16AVX2, 32),
			f16Dots:        f16DotsAsm(f16DotsAVX2, 8),
			f16DotsN:       f16DotsNAsm(f16DotsNAVX2, f16DotsAVX2, 8),
			f32ToF16s:      f32ToF16sAsm(f32ToF16sAVX2, 32),
			i2sOutputs:     i2sOutputsAsm(i2sOutputsAVX2, 8),
			f16ToF32s:      f16ToF32sAsm(f16ToF32sAVX2, 8),
			f16AXPY:        f16AXPYAsm(f16AXPYAVX2, 8),
			f16AXPYStrided: f16AXPYStridedAsm(f16AXPYStridedAVX2, 8),
			f16DotsStrided: f16DotsStridedAsm(f16DotsStridedAVX2, 8),
			i8Dots:         i8DotsAsm(i8DotsAVX2),
			q6kDots:        q8kDotsAsm(q6kDotsAVX2, 210),
			q4kDots:        q8kDotsAsm(q4kDotsAVX2, 144),
			tq1Dots:        q8kDotsAsm(tq1DotsAVX2, 54),
			tq1DotsN:       q8kDotsNAsm(tq1AVX2N, tq1DotsAVX2, 54),
			tq2Dots:        q8kDotsAsm(tq2DotsAVX2, 66),
			tq2DotsN:       q8kDotsNAsm(tq2AVX2N, tq2DotsAVX2, 66),
			q80Dots:        q80DotsAsm(q80DotsAVX2),
		})
	}
	return ks
}

// avx512Floats returns the AVX-512 kernels other than the ternary and int8
// dots.
func avx512Floats(name string) *kernels {
	return &kernels{
		name:           name,
		quantizeI8:     quantizeAsm(absMaxAVX512, quantizeI8AVX512, 64),
		dotF32:         dotF32Asm(dotF32AVX512, 64),
		dotF16:         dotF16Asm(dotF16AVX512, 64),
		f16Dots:        f16DotsAsm(f16DotsAVX512, 16),
		f16DotsN:       f16DotsNAsm(f16DotsNAVX512, f16DotsAVX512, 16),
		f32ToF16s:      f32ToF16sAsm(f32ToF16sAVX512, 64),
		i2sOutputs:     i2sOutputsAsm(i2sOutputsAVX512, 16),
		f16ToF32s:      f16ToF32sAsm(f16ToF32sAVX512, 16),
		f16AXPY:        f16AXPYAsm(f16AXPYAVX512, 16),
		f16AXPYStrided: f16AXPYStridedAsm(f16AXPYStridedAVX512, 16),
		f16DotsStrided: f16DotsStridedAsm(f16DotsStridedAVX512, 16),
		// Q4_K, TQ1_0 and Q8_0 run their AVX2 kernels (VEX-encoded, no AVX-512
		// form written yet).
		q6kDots:  q8kDotsAsm(q6kDotsAVX512, 210),
		q4kDots:  q8kDotsAsm(q4kDotsAVX2, 144),
		tq1Dots:  q8kDotsAsm(tq1DotsAVX2, 54),
		tq1DotsN: q8kDotsNAsm(tq1AVX2N, tq1DotsAVX2, 54),
		tq2Dots:  q8kDotsAsm(tq2DotsAVX512, 66),
		// Two or more tokens: the AVX2 n-token kernels (one token left over:
		// the one-token kernel above, which gives the same values).
		tq2DotsN: q8kDotsNAsm(tq2AVX2N, tq2DotsAVX512, 66),
		q80Dots:  q80DotsAsm(q80DotsAVX2),
	}
}

// vnniMaxBlocks is the longest row (in 128-element blocks) the VNNI kernels
// sum exactly: their int32 lanes carry scaled codes (see gen/amd64).
const vnniMaxBlocks = 8192

// i2sAsm runs the n-token kernels over the tokens, up to len(kern)-1 at a
// time; rows longer than vnniMaxBlocks go to long instead when it is set.
// The arguments were validated by I2SDots / I2SDotsN.
func i2sAsm(kern, long []i2sKernel) func(dst []int32, ldd int, w []byte, q []int8, ldq, n, rows, k int) {
	return func(dst []int32, ldd int, w []byte, q []int8, ldq, n, rows, k int) {
		kern := kern
		if long != nil && k/128 > vnniMaxBlocks {
			kern = long
		}
		maxN := len(kern) - 1
		_ = dst[(n-1)*ldd+rows-1]
		_ = q[(n-1)*ldq+k-1]
		w = w[:rows*(k/4)]
		raceRead(unsafe.Pointer(&w[0]), len(w))
		for t := 0; t < n; t++ {
			raceRead(unsafe.Pointer(&q[t*ldq]), k)
			raceWrite(unsafe.Pointer(&dst[t*ldd]), 4*rows)
		}
		for t := 0; t < n; {
			c := min(maxN, n-t)
			kern[c](&dst[t*ldd], ldd, &w[0], &q[t*ldq], ldq, rows, k/128)
			t += c
		}
	}
}

// q8kNKernel is the signature of the generated n-token block GEMVs
// (tq1DotsAVX2N<n>, tq2DotsAVX2N<n>): ldd in floats, ldy in blocks.
type q8kNKernel func(dst *float32, ldd int, w *byte, y *byte, ldy int, rows int, nblk int)

// The n-token ternary kernels, indexed by n (from 2).
var (
	tq1AVX2N = []q8kNKernel{nil, nil, tq1DotsAVX2N2, tq1DotsAVX2N3, tq1DotsAVX2N4}
	tq2AVX2N = []q8kNKernel{nil, nil, tq2DotsAVX2N2, tq2DotsAVX2N3, tq2DotsAVX2N4}
)

// q8kDotsNAsm runs the n-token kernels over the tokens, up to len(kern)-1
// at a time (one token: the one-token kernel). The arguments were
// validated by q8kDotsN.
func q8kDotsNAsm(kern []q8kNKernel, one blockKernel, bs int) func([]float32, int, []byte, []generic.BlockQ8K, int, int, int, int) {
	return func(dst []float32, ldd int, w []byte, y []generic.BlockQ8K, ldy, n, rows, nb int) {
		_ = dst[(n-1)*ldd+rows-1]
		_ = y[(n-1)*ldy+nb-1]
		w = w[:rows*nb*bs]
		raceRead(unsafe.Pointer(&w[0]), len(w))
		for t := range n {
			raceRead(unsafe.Pointer(&y[t*ldy]), nb*int(unsafe.Sizeof(y[0])))
			raceWrite(unsafe.Pointer(&dst[t*ldd]), 4*rows)
		}
		yb := func(t int) *byte { return (*byte)(unsafe.Pointer(&y[t*ldy])) }
		maxN := len(kern) - 1
		for t := 0; t < n; {
			c := min(maxN, n-t)
			if c == 1 {
				one(&dst[t*ldd], &w[0], yb(t), rows, nb)
			} else {
				kern[c](&dst[t*ldd], ldd, &w[0], yb(t), ldy, rows, nb)
			}
			t += c
		}
	}
}

// quantizeAsm: the kernels take multiples of vl floats, Go the rest.
func quantizeAsm(absMax func(x *float32, n int) float32, quant func(dst *int8, x *float32, n int, s float32) int32, vl int) func([]int8, []float32) (float32, int32) {
	return func(dst []int8, x []float32) (float32, int32) {
		m := len(x) &^ (vl - 1)
		var amax float32
		if m > 0 {
			raceRead(unsafe.Pointer(&x[0]), 4*m)
			amax = absMax(&x[0], m)
		}
		s := i8Scale(absMaxTail(amax, x[m:]))
		var sum int32
		if m > 0 {
			raceWrite(unsafe.Pointer(&dst[0]), m)
			sum = quant(&dst[0], &x[0], m, s)
		}
		return s, sum + quantizeTail(dst[m:], x[m:], s)
	}
}

// The n-token F16 kernels of each ISA, indexed by n (from 2).
var (
	f16DotsNAVX2   = []f16NKernel{nil, nil, f16DotsAVX2N2, f16DotsAVX2N3}
	f16DotsNAVX512 = []f16NKernel{nil, nil, f16DotsAVX512N2, f16DotsAVX512N3, f16DotsAVX512N4}
)

// memSum backs MemSum in export_test.go (benchmarks only).
func memSum(b []byte) uint64 {
	var s uint64
	m := 0
	switch {
	case hasAVX512:
		m = len(b) &^ 255
		if m > 0 {
			s = sumU64AVX512(&b[0], m)
		}
	case hasAVX2:
		m = len(b) &^ 127
		if m > 0 {
			s = sumU64AVX2(&b[0], m)
		}
	}
	return s + memSumGo(b[m:])
}
