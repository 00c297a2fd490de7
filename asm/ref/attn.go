package ref

import (
	"github.com/bitnet-go/bitnet/asm/generic"
)

// The attention kernels over a binary16 KV cache: the scores of one query
// head against the cached keys (F16DotsStrided) and the probability-weighted
// sum of the cached values (F16AXPY).

// F16ToF32s converts src into dst (len(dst) ≥ len(src)) with generic.F16ToF32.
func F16ToF32s(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = generic.F16ToF32(h)
	}
}

// F16AXPY adds a·x to dst: dst[i] += a·f32(x[i]) for i < len(dst)
// (len(x) ≥ len(dst)). The product is rounded to float32 before the add
// (the explicit conversion stops the compiler from fusing the two into an
// FMA, which it may do on arm64 or with GOAMD64=v3), so the result does not
// depend on the platform.
func F16AXPY(dst []float32, a float32, x []uint16) {
	x = x[:len(dst)]
	for i, h := range x {
		dst[i] += float32(a * generic.F16ToF32(h))
	}
}

// F16AXPYStrided applies F16AXPY(dst, a[j], x[j·stride:]) for j = 0, 1, …,
// len(a)−1 in turn: the attention output of one head, Σ_j p_j·v_j over the
// cached values of every position (rows stride elements apart).
func F16AXPYStrided(dst []float32, a []float32, x []uint16, stride int) {
	for j, aj := range a {
		F16AXPY(dst, aj, x[j*stride:])
	}
}

// F16DotsStrided sets dst[j] = generic.DotF16(k[j·stride:][:len(q)], q) for
// j < len(dst): the dot products of q with len(dst) rows of k that start
// stride elements apart (one query head against the keys of a KV cache
// whose rows hold every head), each accumulated left to right in float32.
func F16DotsStrided(dst []float32, k []uint16, stride int, q []uint16) {
	for j := range dst {
		dst[j] = generic.DotF16(k[j*stride:j*stride+len(q)], q)
	}
}
