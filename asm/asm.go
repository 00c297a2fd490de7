// Package asm is the kernel API of the runtime: every hot loop the forward
// pass runs goes through a function here. Each function has a pure-Go
// reference in package ref that defines its result; the generated SIMD
// kernels (see ../gen) are selected at run time by CPU feature and tested
// against those references.
package asm

import "github.com/bitnet-go/bitnet/asm/ref"

// QuantizeI8 quantizes one token's activations to int8 with the BitNet
// per-token absmax rule and returns the scale s = 127/max|x| and Σq.
func QuantizeI8(dst []int8, x []float32) (scale float32, sum int32) {
	return ref.QuantizeI8(dst, x)
}

// I2SDots computes dst[r] = Σ_k code[r][k]·q[k] for len(dst) consecutive
// I2_S rows of w, each len(q)/4 bytes; len(q) must be a multiple of 128.
func I2SDots(dst []int32, w []byte, q []int8) {
	rb := len(q) / 4
	for r := range dst {
		dst[r] = ref.DotI2S(w[r*rb:(r+1)*rb], q)
	}
}

// DotF32 returns the float32 dot product of a and b.
func DotF32(a, b []float32) float32 { return ref.DotF32(a, b) }

// DotF16 returns the dot product of two binary16 vectors (f32 accumulation).
func DotF16(a, b []uint16) float32 { return ref.DotF16(a, b) }

// DotBF16 returns the dot product of two bfloat16 vectors.
func DotBF16(a, b []uint16) float32 { return ref.DotBF16(a, b) }
