// Package asm is the kernel API of the runtime: every hot loop the forward
// pass runs goes through a function here. Each function has a pure-Go
// reference that defines its result; the generated SIMD kernels (see ../gen)
// are selected at run time by CPU feature and tested against those
// references.
//
// Where the code lives: package asm is the only production entry point.
// The portable-Go production bodies of the float and block-format operations
// (norms, softmax, RoPE, f16/bf16 conversions, the Q8_K/Q8_0 activation
// quantizers, the block dequantizers and dot products, the block constants)
// are in package asm/generic, reached through asm's forwards (generic.go)
// and portable Impl. Package asm/ref is the tests' oracle (the attention,
// int8-dot and GEMM references, which the ref Impl below also runs); the
// differential tests compare against asm/ref and asm/generic. No package
// outside asm imports either (TestProductionImports).
//
// Implementations (Impls lists those this CPU can run, best first; Impl
// names the one in use):
//
//	avx512vnni  AVX-512F/BW/VL + AVX512-VNNI: VPDPBUSD ternary and int8 dots (amd64)
//	avx512bw    AVX-512F/BW/VL: VPMADDUBSW/VPMADDWD ternary dots (amd64)
//	avx2        AVX2 + FMA + F16C (amd64)
//	neondot     NEON + dot product (SDOT) (arm64)
//	neon        NEON (arm64)
//	ref         the pure-Go references of packages asm/ref and asm/generic
//	            (every platform, and the only one under -tags purego or gccgo)
//
// The block-format GEMVs (Q6KDots, TQ1Dots, TQ2Dots, Q8_0Dots; blocks.go)
// are bit-exact with their references on every implementation, floats
// included: they follow ggml's x86 AVX2 lane order (asm/generic/lanes.go).
// They have AVX2, AVX-512 and NEON (SDOT and plain) kernels; the ref
// implementation runs portable Go versions (blocks_generic.go) tested
// against the same references. TQ1DotsN and TQ2DotsN take n tokens at once
// (AVX2 n-token kernels on amd64, which unpack each weight block once; the
// one-token GEMV per token elsewhere), each value the one-token GEMV's.
//
// Integer kernels (I2SDots, I2SDotsN, QuantizeI8, I8Dots) and the binary16
// conversions (F32ToF16s, F16ToF32s) are bit-exact with their references on
// every implementation. So are I2SOutputs, which rounds after each of its
// subtract, divide and multiply as the scalar formula does, and F16AXPY and
// F16AXPYStrided, which round each product to float32 before adding it (a
// multiply and an add, never an FMA, on every platform), except that where
// the result is a NaN its payload is unspecified. The float dots (DotF32,
// DotF16, F16Dots, F16DotsStrided) accumulate in float32 in a different
// order than the references' left-to-right loop; they agree within a few
// float32 rounding errors of Σ|aᵢbᵢ| (the tests use 1e-5·Σ|aᵢbᵢ|).
//
// Kernels read only the elements their documentation names and write only
// the outputs; slices too short for the stated shapes panic before any
// kernel runs. The functions are safe for concurrent use (SetImpl aside).
package asm

import (
	"fmt"

	"github.com/bitnet-go/bitnet/asm/generic"
)

// QuantizeI8 quantizes one token's activations to int8 with the BitNet
// per-token absmax rule and returns the scale s = 127/max|x| and Σq, exactly
// as generic.QuantizeI8 does: M = max(1e-5, max|x|) in float64, s = float32(127/M),
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
// generic.DotI2S); the caller subtracts Σq. Exact for all inputs.
func I2SDots(dst []int32, w []byte, q []int8) {
	k := len(q)
	if k%generic.I2SBlock != 0 {
		panic(fmt.Sprintf("asm.I2SDots: len(q) = %d is not a multiple of %d", k, generic.I2SBlock))
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
	rows, k := stridedShape("I2SDotsN", "q", len(dst), ldd, len(q), ldq, n)
	switch {
	case k%generic.I2SBlock != 0:
		panic(fmt.Sprintf("asm.I2SDotsN: row length %d is not a multiple of %d", k, generic.I2SBlock))
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

// I2SOutputs turns one token's raw code dots (I2SDots) into the output
// values, y[i] = I2SOutput(raw[i], sum, s, gamma) for i < len(raw)
// (len(y) ≥ len(raw)): (float32(raw[i]) − float32(sum)) / s · gamma with
// each step rounded to float32 in that order (a subtract, a true division
// and a multiply: no reciprocal, no FMA), so it is bit-exact with
// generic.I2SOutput on every implementation (NaN payloads aside).
func I2SOutputs(y []float32, raw []int32, sum int32, s, gamma float32) {
	y = y[:len(raw)]
	active.Load().i2sOutputs(y, raw, sum, s, gamma)
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
// head, round the activations to binary16 first (x[i] = generic.RoundF16(v));
// the result then equals generic.DotF16 of the rounded vectors up to summation
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

// F16DotsN is F16Dots for n tokens at once (a multi-sequence output head):
//
//	dst[t·ldd + r] = Σ_i f32(w[r·K + i])·x[t·ldx + i]   for t < n, r < rows,
//
// with rows = len(dst) − (n−1)·ldd and K = len(x) − (n−1)·ldx, sized like
// I2SDotsN's operands (0 ≤ rows ≤ ldd and K ≤ ldx when n > 1), and len(w)
// ≥ rows·K. Each weight is converted once for all the tokens, and token
// t's results equal F16Dots(dst[t·ldd:][:rows], w, x[t·ldx:][:K]) bit for
// bit on every implementation.
func F16DotsN(dst []float32, ldd int, w []uint16, x []float32, ldx int, n int) {
	if n <= 0 {
		if n < 0 {
			panic("asm.F16DotsN: negative n")
		}
		return
	}
	if n == 1 {
		F16Dots(dst, w, x)
		return
	}
	rows, k := stridedShape("F16DotsN", "x", len(dst), ldd, len(x), ldx, n)
	switch {
	case len(w) < rows*k:
		panic(fmt.Sprintf("asm.F16DotsN: %d rows of %d need %d weights, have %d", rows, k, rows*k, len(w)))
	}
	if rows == 0 {
		return
	}
	kern := active.Load()
	if k == 0 || kern.f16DotsN == nil {
		for t := range n {
			F16Dots(dst[t*ldd:t*ldd+rows], w, x[t*ldx:t*ldx+k])
		}
		return
	}
	kern.f16DotsN(dst, ldd, w[:rows*k], x, ldx, n, rows, k)
}

// F32ToF16s converts src to binary16 into dst (len(dst) ≥ len(src)),
// rounding to nearest even: bit-exact with generic.F32ToF16.
func F32ToF16s(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	active.Load().f32ToF16s(dst, src)
}

// DotBF16 returns the dot product of two bfloat16 vectors.
func DotBF16(a, b []uint16) float32 { return generic.DotBF16(a, b) }

// F16ToF32s converts the binary16 values of src to float32 into dst
// (len(dst) ≥ len(src)); exact, and bit-exact with ref.F16ToF32s.
func F16ToF32s(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	active.Load().f16ToF32s(dst, src)
}

// F16AXPY adds a times a binary16 vector to dst (the attention's
// probability × cached value accumulation):
//
//	dst[i] += a·f32(x[i])   for i < len(dst), len(x) ≥ len(dst),
//
// with the product rounded to float32 before the add: a separate multiply
// and add, never an FMA, so it is bit-exact with ref.F16AXPY on every
// implementation and platform.
func F16AXPY(dst []float32, a float32, x []uint16) {
	x = x[:len(dst)]
	active.Load().f16AXPY(dst, a, x)
}

// F16AXPYStrided is F16AXPY over len(a) rows of x that start stride
// elements apart, applied in row order (the whole attention output of one
// head: Σ_j p_j·v_j over the cached values of every position):
//
//	for j := range a { F16AXPY(dst, a[j], x[j·stride:]) }
//
// bit-exact with that loop (see ref.F16AXPYStrided), without its per-call
// cost. stride ≥ 0 and len(x) ≥ (len(a)−1)·stride + len(dst).
func F16AXPYStrided(dst []float32, a []float32, x []uint16, stride int) {
	n := len(dst)
	if len(a) == 0 {
		return
	}
	if stride < 0 || len(x) < n || len(a) > 1 && stride > (len(x)-n)/(len(a)-1) {
		panic(fmt.Sprintf("asm.F16AXPYStrided: %d rows of %d with stride %d do not fit in %d values", len(a), n, stride, len(x)))
	}
	if n == 0 {
		return
	}
	active.Load().f16AXPYStrided(dst, a, x, stride)
}

// F16DotsStrided computes the attention scores of one query head against
// binary16 cached keys: for j < len(dst),
//
//	dst[j] = Σ_i f32(k[j·stride + i])·f32(q[i]),  i < len(q),
//
// accumulated in float32 (see ref.F16DotsStrided). Row j of the cache
// holds every head, stride elements apart, and k starts at this head's
// slice of row 0. stride ≥ 0 and len(k) ≥ (len(dst)−1)·stride + len(q).
func F16DotsStrided(dst []float32, k []uint16, stride int, q []uint16) {
	n := len(q)
	if len(dst) == 0 {
		return
	}
	if stride < 0 || len(k) < n || len(dst) > 1 && stride > (len(k)-n)/(len(dst)-1) {
		panic(fmt.Sprintf("asm.F16DotsStrided: %d rows of %d with stride %d do not fit in %d keys", len(dst), n, stride, len(k)))
	}
	if n == 0 {
		clear(dst)
		return
	}
	active.Load().f16DotsStrided(dst, k, stride, q)
}

// I8Dots is an int8 × int8 GEMV (the optional int8 output head): for
// r < len(dst),
//
//	dst[r] = Σ_k w[r·K + k]·q[k],  K = len(q),
//
// over rows of signed int8 weights, len(w) ≥ len(dst)·K. The sums are in
// int32 and exact for all inputs (|dst[r]| ≤ 2¹⁴·K, which fits for every
// K < 2¹⁷; past that they wrap as ref.I8Dots's do). No precomputed row sums
// are needed: see the VNNI note in ../gen/amd64.
func I8Dots(dst []int32, w []int8, q []int8) {
	k := len(q)
	if k > 0 && len(w)/k < len(dst) {
		panic(fmt.Sprintf("asm.I8Dots: %d rows of %d need %d weights, have %d", len(dst), k, len(dst)*k, len(w)))
	}
	if len(dst) == 0 {
		return
	}
	if k == 0 {
		clear(dst)
		return
	}
	active.Load().i8Dots(dst, w, q)
}

// MemSum returns the wrapping sum of the uint64 words of b (len(b) a
// multiple of 8) with the best vector loop this build has, prefetching as
// the ternary GEMV does: the streaming-read baseline of BenchmarkMemRead and
// of bitnet-run --bench.
func MemSum(b []byte) uint64 { return memSum(b) }

// stridedShape derives rows and K from the lengths of n ≥ 2 strided
// operands (dst with stride ldd, the activations with stride ldx) and
// panics, naming fn and the operand, when they do not fit.
func stridedShape(fn, xname string, lenDst, ldd, lenX, ldx, n int) (rows, k int) {
	rows = lenDst - (n-1)*ldd
	k = lenX - (n-1)*ldx
	switch {
	case rows < 0 || rows > ldd:
		panic(fmt.Sprintf("asm.%s: len(dst) = %d does not fit %d tokens with ldd = %d", fn, lenDst, n, ldd))
	case k < 0 || k > ldx:
		panic(fmt.Sprintf("asm.%s: len(%s) = %d does not fit %d tokens with ld%s = %d", fn, xname, lenX, n, xname, ldx))
	}
	return rows, k
}
