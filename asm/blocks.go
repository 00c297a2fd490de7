package asm

import (
	"fmt"

	"github.com/bitnet-go/bitnet/asm/generic"
)

// The block-format GEMVs multiply rows of ggml block formats with one
// token's quantized activations, bit-exact with the references (the
// integer sums are exact and the float order is ref's, which is ggml's x86
// AVX2 order: see asm/generic/lanes.go) on every implementation. A row has
// len(y) blocks (Q8_0: len(y)/34), stored one after the other; w holds at
// least len(dst) rows.

// Q6KDots sets dst[r] = generic.DotQ6K(row r of w, y) for Q6_K rows.
func Q6KDots(dst []float32, w []byte, y []generic.BlockQ8K) {
	if blockArgs("Q6KDots", dst, len(w), len(y), generic.Q6_KBlockBytes) {
		active.Load().q6kDots(dst, w, y)
	}
}

// Q4KDots sets dst[r] = generic.DotQ4K(row r of w, y) for Q4_K rows.
func Q4KDots(dst []float32, w []byte, y []generic.BlockQ8K) {
	if blockArgs("Q4KDots", dst, len(w), len(y), generic.Q4_KBlockBytes) {
		active.Load().q4kDots(dst, w, y)
	}
}

// TQ2Dots sets dst[r] = generic.DotTQ(row r of w, y, false) for TQ2_0 rows.
func TQ2Dots(dst []float32, w []byte, y []generic.BlockQ8K) {
	if blockArgs("TQ2Dots", dst, len(w), len(y), generic.TQ2_0BlockBytes) {
		active.Load().tq2Dots(dst, w, y)
	}
}

// TQ1Dots sets dst[r] = generic.DotTQ(row r of w, y, true) for TQ1_0 rows.
func TQ1Dots(dst []float32, w []byte, y []generic.BlockQ8K) {
	if blockArgs("TQ1Dots", dst, len(w), len(y), generic.TQ1_0BlockBytes) {
		active.Load().tq1Dots(dst, w, y)
	}
}

// TQ2DotsN is TQ2Dots for n tokens: dst[t·ldd + r] = generic.DotTQ(row r
// of w, y[t·ldy:t·ldy+nb], false) for t < n and r < rows, where rows =
// len(dst) − (n−1)·ldd ≤ ldd and nb = len(y) − (n−1)·ldy ≤ ldy. Each value
// equals TQ2Dots's for that token bit for bit; the weights are unpacked
// once for all the tokens.
func TQ2DotsN(dst []float32, ldd int, w []byte, y []generic.BlockQ8K, ldy, n int) {
	q8kDotsN("TQ2DotsN", dst, ldd, w, y, ldy, n, generic.TQ2_0BlockBytes, TQ2Dots,
		func(k *kernels) func([]float32, int, []byte, []generic.BlockQ8K, int, int, int, int) {
			return k.tq2DotsN
		})
}

// TQ1DotsN is TQ2DotsN for TQ1_0 rows (generic.DotTQ with tq1 = true).
func TQ1DotsN(dst []float32, ldd int, w []byte, y []generic.BlockQ8K, ldy, n int) {
	q8kDotsN("TQ1DotsN", dst, ldd, w, y, ldy, n, generic.TQ1_0BlockBytes, TQ1Dots,
		func(k *kernels) func([]float32, int, []byte, []generic.BlockQ8K, int, int, int, int) {
			return k.tq1DotsN
		})
}

// q8kDotsN validates the arguments of an n-token block GEMV and runs the
// implementation's n-token kernel, or one per token.
func q8kDotsN(name string, dst []float32, ldd int, w []byte, y []generic.BlockQ8K, ldy, n, bs int,
	one func([]float32, []byte, []generic.BlockQ8K),
	multi func(*kernels) func([]float32, int, []byte, []generic.BlockQ8K, int, int, int, int)) {
	if n <= 0 {
		if n < 0 {
			panic(fmt.Sprintf("asm.%s: negative n", name))
		}
		return
	}
	if n == 1 {
		one(dst, w, y)
		return
	}
	rows, nb := stridedShape(name, "y", len(dst), ldd, len(y), ldy, n)
	if !blockArgs(name, dst[:rows], len(w), nb, bs) {
		for t := 1; t < n; t++ {
			clear(dst[t*ldd : t*ldd+rows])
		}
		return
	}
	kern := multi(active.Load())
	if kern == nil {
		for t := range n {
			one(dst[t*ldd:t*ldd+rows], w, y[t*ldy:t*ldy+nb])
		}
		return
	}
	kern(dst, ldd, w[:rows*nb*bs], y, ldy, n, rows, nb)
}

// Q8_0Dots sets dst[r] = generic.DotQ8_0(row r of w, y, K) for Q8_0 rows of
// K = len(y)/34·32 elements. y must not hold the quant −128 (ggml's kernel
// computes |x|·sign(y, x), as these do; generic.QuantizeQ8_0Act never
// produces it); any weight byte is fine.
func Q8_0Dots(dst []float32, w []byte, y []byte) {
	if len(y)%generic.Q8_0BlockBytes != 0 {
		panic(fmt.Sprintf("asm.Q8_0Dots: len(y) = %d is not a whole number of %d-byte blocks", len(y), generic.Q8_0BlockBytes))
	}
	if blockArgs("Q8_0Dots", dst, len(w), len(y)/generic.Q8_0BlockBytes, generic.Q8_0BlockBytes) {
		active.Load().q80Dots(dst, w, y)
	}
}

// blockArgs checks the shapes and reports whether a kernel has work; with
// no blocks the dots are 0 (empty sums), as the references give.
func blockArgs(name string, dst []float32, wlen, nblk, bs int) bool {
	rows := len(dst)
	if nblk > 0 && wlen/(nblk*bs) < rows {
		panic(fmt.Sprintf("asm.%s: %d rows of %d blocks need %d bytes of w, have %d", name, rows, nblk, rows*nblk*bs, wlen))
	}
	if nblk == 0 {
		clear(dst)
	}
	return rows > 0 && nblk > 0
}
