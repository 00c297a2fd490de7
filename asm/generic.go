package asm

import "github.com/bitnet-go/bitnet/asm/generic"

// The production float and block-format entry points that have no SIMD
// kernel yet. Each forwards to its portable-Go implementation in package
// asm/generic; a SIMD version can replace a body here without touching a
// caller. Callers outside asm use these names, never asm/generic or asm/ref
// (asm/ref is the tests' oracle only; TestProductionImports enforces it).

// Block geometry of the formats the runtime reads and the tools write.
const (
	QK_K            = generic.QK_K            // values per k-quant / TQ block
	Q4_KBlockBytes  = generic.Q4_KBlockBytes  // bytes per Q4_K block
	Q6_KBlockBytes  = generic.Q6_KBlockBytes  // bytes per Q6_K block
	TQ1_0BlockBytes = generic.TQ1_0BlockBytes // bytes per TQ1_0 block
	TQ2_0BlockBytes = generic.TQ2_0BlockBytes // bytes per TQ2_0 block
	Q8_0Block       = generic.Q8_0Block       // values per Q8_0 block
	Q8_0BlockBytes  = generic.Q8_0BlockBytes  // bytes per Q8_0 block
	I2SBlock        = generic.I2SBlock        // values per I2_S block
	I2SBlockBytes   = generic.I2SBlockBytes   // bytes per I2_S block
)

// BlockQ8K is one Q8_K activation block (ggml's block_q8_K).
type BlockQ8K = generic.BlockQ8K

// F16ToF32 converts an IEEE binary16 value to float32 (exact).
func F16ToF32(h uint16) float32 { return generic.F16ToF32(h) }

// F32ToF16 rounds f to binary16, nearest-even.
func F32ToF16(f float32) uint16 { return generic.F32ToF16(f) }

// RoundF16 rounds f through binary16 and back.
func RoundF16(f float32) float32 { return generic.RoundF16(f) }

// BF16ToF32 converts a bfloat16 value to float32 (exact).
func BF16ToF32(h uint16) float32 { return generic.BF16ToF32(h) }

// F32ToBF16 rounds f to bfloat16, nearest-even.
func F32ToBF16(f float32) uint16 { return generic.F32ToBF16(f) }

// NearestInt rounds x to the nearest integer as ggml's nearest_int does.
func NearestInt(x float32) int32 { return generic.NearestInt(x) }

// RMSNorm sets dst = x/rms(x)·w; see generic.RMSNorm.
func RMSNorm(dst, x, w []float32, eps float32) { generic.RMSNorm(dst, x, w, eps) }

// SoftmaxInPlace replaces x by softmax(scale·x); see generic.SoftmaxInPlace.
func SoftmaxInPlace(x []float32, scale float32) { generic.SoftmaxInPlace(x, scale) }

// RopeCache fills the RoPE cos/sin tables for one position; see
// generic.RopeCache.
func RopeCache(cos, sin []float32, pos int, base float32, n int) {
	generic.RopeCache(cos, sin, pos, base, n)
}

// RopeNeoX rotates x in NeoX order with the tables of RopeCache.
func RopeNeoX(x, cos, sin []float32) { generic.RopeNeoX(x, cos, sin) }

// I2SCode returns the 2-bit code of element k of a packed I2_S row.
func I2SCode(row []byte, k int) byte { return generic.I2SCode(row, k) }

// I2SScale returns the per-tensor scale stored after n packed elements.
func I2SScale(data []byte, n int) float32 { return generic.I2SScale(data, n) }

// I2SOutput turns an I2_S row's raw integer dot product into the output
// value; see generic.I2SOutput.
func I2SOutput(raw, sum int32, s, gamma float32) float32 {
	return generic.I2SOutput(raw, sum, s, gamma)
}

// QuantizeQ8K quantizes x into Q8_K activation blocks.
func QuantizeQ8K(dst []BlockQ8K, x []float32) { generic.QuantizeQ8K(dst, x) }

// QuantizeQ8_0 quantizes x into Q8_0 bytes (quantize_row_q8_0_ref).
func QuantizeQ8_0(dst []byte, x []float32) { generic.QuantizeQ8_0(dst, x) }

// QuantizeQ8_0Act quantizes activations into Q8_0 bytes as ggml's x86
// vec_dot path does; see generic.QuantizeQ8_0Act.
func QuantizeQ8_0Act(dst []byte, x []float32) { generic.QuantizeQ8_0Act(dst, x) }

// TQ1Codes unpacks one TQ1_0 block's ternary codes.
func TQ1Codes(dst *[QK_K]int8, b []byte) { generic.TQ1Codes(dst, b) }

// TQ2Codes unpacks one TQ2_0 block's ternary codes.
func TQ2Codes(dst *[QK_K]int8, b []byte) { generic.TQ2Codes(dst, b) }

// DequantQ4K dequantizes Q4_K blocks into dst.
func DequantQ4K(dst []float32, src []byte) { generic.DequantQ4K(dst, src) }

// DequantQ6K dequantizes Q6_K blocks into dst.
func DequantQ6K(dst []float32, src []byte) { generic.DequantQ6K(dst, src) }

// DequantQ8_0 dequantizes Q8_0 blocks into dst.
func DequantQ8_0(dst []float32, src []byte) { generic.DequantQ8_0(dst, src) }

// DequantTQ dequantizes a TQ1_0 (tq1) or TQ2_0 row into dst.
func DequantTQ(dst []float32, row []byte, tq1 bool) { generic.DequantTQ(dst, row, tq1) }
