// Package generic holds the portable-Go production implementations of the
// float and block-format operations: f16/bf16 conversions, RMSNorm, softmax,
// RoPE, the Q8_K/Q8_0/int8 activation quantizers, the I2_S codes, and the
// Q4_K, Q6_K, Q8_0, TQ1_0 and TQ2_0 dequantizers and dot products with the
// block constants. Each follows the rounding points of the reference engines
// (the BitNet fork of llama.cpp for I2_S, upstream ggml for TQ1_0/TQ2_0 and
// the k-quants; see ../shared/docs/numerics.md), and the block dots follow
// ggml's x86 AVX2 lane order (lanes.go).
//
// Callers outside asm do not import this package: they use package asm's
// entry points (asm/generic.go forwards here), so that a SIMD version can
// replace a body without touching them. asm's SIMD block-format kernels are
// tested against these functions; package asm/ref holds the other oracles.
//
// Integer paths are exact; where a float reduction's order differs from the
// reference engines' SIMD order, the doc comment says so.
package generic
