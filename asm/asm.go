// Package asm is the kernel API of the runtime: every hot loop the forward
// pass runs goes through a function here. Each function has a pure-Go
// reference in package ref that defines its result; the generated SIMD
// kernels (see ../gen) are selected at run time by CPU feature and tested
// against those references.
//
// Implementations (Impls lists those this CPU can run, best first; Impl
// names the one in use):
//
//	avx512vnni  AVX-512F/BW/VL + AVX512-VNNI: VPDPBUSD ternary dots (amd64)
//	avx512bw    AVX-512F/BW/VL: VPMADDUBSW/VPMADDWD ternary dots (amd64)
//	avx2        AVX2 + FMA + F16C (amd64)
//	neondot     NEON + dot product (SDOT) (arm64)
//	neon        NEON (arm64)
//	ref         the pure-Go references of package ref (every platform, and
//	            the only one under -tags purego or gccgo)
//
// Integer kernels (I2SDots, I2SDotsN, QuantizeI8) and F32ToF16s are
// bit-exact with their references on every implementation. The float dots
// (DotF32, DotF16, F16Dots) accumulate in float32 in a different order than
// the references' left-to-right loop; they agree within a few float32
// rounding errors of Σ|aᵢbᵢ| (the tests use 1e-5·Σ|aᵢbᵢ|). Arm64 runs the
// float kernels in Go.
//
// Kernels read only the elements their documentation names and write only
// the outputs; slices too short for the stated shapes panic before any
// kernel runs. The functions are safe for concurrent use (SetImpl aside).
package asm

import (
	"fmt"

	"github.com/bitnet-go/bitnet/asm/ref"
)

// QuantizeI8 quantizes one token's activations to int8 with the BitNet
// per-token absmax rule and returns the scale s = 127/max|x| and Σq, exactly
// as ref.QuantizeI8 does: M = max(1e-5, max|x|) in float64, s = float32(127/M),
// q = clamp(roundHalfEven(x·s), -128, 127) with x·s in float32. len(dst) must
// be at least len(x). Inputs are expected to be finite (NaNs are skipped in
// the max, as in the reference; what a NaN quantizes to is unspecified).
func QuantizeI8(dst []int8, x []float32) (scale float32, sum int32) {
	dst = dst[:len(x)]
	return active.Load().quantizeI8(dst, x)
}

// I2SDots computes dst[r] = Σ_k code[r][k]·q[k] for len(dst) consecutive
// I2_S rows of w, each len(q)/4 bytes; len(q) must be a multiple of 128 and
// len(w) at least len(dst)·len(q)/4. Codes are the stored 0/1/2 values (see
// ref.DotI2S); the caller subtracts Σq. Exact for all inputs.
func I2SDots(dst []int32, w []byte, q []int8) {
	k := len(q)
	if k%ref.I2SBlock != 0 {
		panic(fmt.Sprintf("asm.I2SDots: len(q) = %d is not a multiple of %d", k, ref.I2SBlock))
	}
	if len(w) < len(dst)*(k/4) {
		panic(fmt.Sprintf("asm.I2SDots: %d rows of %d elements need %d bytes of w, have %d", len(dst), k, len(dst)*(k/4), len(w)))
	}
	if len(dst) == 0 {
		return
	}
	if k == 0 {
		clear(dst)
		return
	}
	active.Load().i2s(dst, 0, w, q, 0, 1, len(dst), k)
}

// I2SDotsN is I2SDots for n tokens at once, so that the weight unpacking is
// shared by the tokens (prompt processing):
//
//	dst[t·ldd + r] = Σ_k code[r][k]·q[t·ldq + k]   for t < n, r < rows,
//
// where the slices are sized exactly as BLAS-style strided operands:
// rows = len(dst) − (n−1)·ldd and K = len(q) − (n−1)·ldq (so with
// q = x[:n·ldq] and dst = y[:(n−1)·ldd + rows], K = ldq). K must be a
// multiple of 128, 0 ≤ rows ≤ ldd and K ≤ ldq when n > 1, and len(w) at
// least rows·K/4. Entries of dst between the rows of different tokens are
// not touched. n = 1 is I2SDots. Any n works; the kernels take up to 8
// (AVX-512) or 4 (AVX2) tokens per pass over the weights.
func I2SDotsN(dst []int32, ldd int, w []byte, q []int8, ldq int, n int) {
	if n <= 0 {
		if n < 0 {
			panic("asm.I2SDotsN: negative n")
		}
		return
	}
	if n == 1 {
		I2SDots(dst, w, q)
		return
	}
	rows := len(dst) - (n-1)*ldd
	k := len(q) - (n-1)*ldq
	switch {
	case rows < 0 || rows > ldd:
		panic(fmt.Sprintf("asm.I2SDotsN: len(dst) = %d does not fit %d tokens with ldd = %d", len(dst), n, ldd))
	case k < 0 || k > ldq:
		panic(fmt.Sprintf("asm.I2SDotsN: len(q) = %d does not fit %d tokens with ldq = %d", len(q), n, ldq))
	case k%ref.I2SBlock != 0:
		panic(fmt.Sprintf("asm.I2SDotsN: row length %d is not a multiple of %d", k, ref.I2SBlock))
	case len(w) < rows*(k/4):
		panic(fmt.Sprintf("asm.I2SDotsN: %d rows of %d elements need %d bytes of w, have %d", rows, k, rows*(k/4), len(w)))
	}
	if rows == 0 {
		return
	}
	if k == 0 {
		for t := 0; t < n; t++ {
			clear(dst[t*ldd : t*ldd+rows])
		}
		return
	}
	active.Load().i2s(dst, ldd, w, q, ldq, n, rows, k)
}

// DotF32 returns the float32 dot product of a and b (len(b) ≥ len(a)).
func DotF32(a, b []float32) float32 {
	b = b[:len(a)]
	return active.Load().dotF32(a, b)
}

// DotF16 returns the dot product of two binary16 vectors (f32 accumulation;
// len(b) ≥ len(a)).
func DotF16(a, b []uint16) float32 {
	b = b[:len(a)]
	return active.Load().dotF16(a, b)
}

// F16Dots is a binary16-weight GEMV for the output head: for r < len(dst),
//
//	dst[r] = Σ_i f32(w[r·K + i])·x[i],  K = len(x),
//
// accumulated in float32; len(w) ≥ len(dst)·K. To reproduce the fork's
// head, round the activations to binary16 first (x[i] = ref.RoundF16(v));
// the result then equals ref.DotF16 of the rounded vectors up to summation
// order.
func F16Dots(dst []float32, w []uint16, x []float32) {
	k := len(x)
	if len(w) < len(dst)*k {
		panic(fmt.Sprintf("asm.F16Dots: %d rows of %d need %d weights, have %d", len(dst), k, len(dst)*k, len(w)))
	}
	if len(dst) == 0 {
		return
	}
	if k == 0 {
		clear(dst)
		return
	}
	active.Load().f16Dots(dst, w[:len(dst)*k], x)
}

// F32ToF16s converts src to binary16 into dst (len(dst) ≥ len(src)),
// rounding to nearest even: bit-exact with ref.F32ToF16.
func F32ToF16s(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	active.Load().f32ToF16s(dst, src)
}

// DotBF16 returns the dot product of two bfloat16 vectors.
func DotBF16(a, b []uint16) float32 { return ref.DotBF16(a, b) }
