// Package ref holds the pure-Go reference kernels: obviously-correct loops
// that define the numerics of every format and operation the runtime uses.
// Each one follows the rounding points of the reference engines (the BitNet
// fork of llama.cpp for I2_S, upstream ggml for TQ1_0/TQ2_0 and the k-quants;
// see ../shared/docs/numerics.md). The generated SIMD kernels in package asm
// are tested against these.
//
// Integer paths are exact; where a float reduction's order differs from the
// reference engines' SIMD order, the doc comment says so.
package ref
