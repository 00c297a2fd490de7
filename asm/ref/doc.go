// Package ref is the oracle: pure-Go reference kernels that the generated
// SIMD kernels in package asm are tested against (the binary16 attention
// kernels, the int8 dots and the float32 GEMM). asm's portable "ref"
// implementation runs them where no SIMD kernel exists.
//
// It is not production code: no package outside asm imports it (asm's
// TestProductionImports fails if one does). The production float and
// block-format code (norms, softmax, RoPE, conversions, quantizers, block
// formats) lives in package asm/generic behind package asm's entry points;
// asm's tests use it as the oracle of the block-format kernels.
//
// Integer paths are exact; where a float reduction's order differs from the
// reference engines' SIMD order, the doc comment says so.
package ref
