package generic

import (
	"encoding/binary"
	"math"
)

// I2_S layout (the BitNet fork's x86 layout, see formats.md §2.3): a row of
// n elements is n/4 bytes in blocks of 128 elements / 32 bytes. Byte p of a
// block holds elements p, p+32, p+64 and p+96 of the block at bit shifts 6,
// 4, 2 and 0. Codes are 0, 1, 2 for -1, 0, +1.
const (
	I2SBlock      = 128 // elements per block
	I2SBlockBytes = 32
)

// I2SCode returns the 2-bit code of element k of a packed row.
func I2SCode(row []byte, k int) byte {
	b := row[k/I2SBlock*I2SBlockBytes+k%32]
	return (b >> (6 - 2*uint(k%I2SBlock/32))) & 3
}

// PackI2S packs ternary values t (-1, 0, +1) into I2_S codes; len(t) must be a
// multiple of 128 and len(dst) == len(t)/4.
func PackI2S(dst []byte, t []int8) {
	for i := range dst {
		dst[i] = 0
	}
	for k, v := range t {
		code := byte(v + 1)
		dst[k/I2SBlock*I2SBlockBytes+k%32] |= code << (6 - 2*uint(k%I2SBlock/32))
	}
}

// UnpackI2S decodes a packed row into ternary values.
func UnpackI2S(dst []int8, row []byte) {
	for k := range dst {
		dst[k] = int8(I2SCode(row, k)) - 1
	}
}

// I2SScale reads the per-tensor scale stored after the packed data of a
// tensor of n elements.
func I2SScale(data []byte, n int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(data[n/4:]))
}

// DotI2S returns Σ code_k·q_k over one packed row (codes, not ternary
// values: the caller subtracts Σq to get the signed dot).
func DotI2S(row []byte, q []int8) int32 {
	var s int32
	for blk := 0; blk < len(q)/I2SBlock; blk++ {
		b := row[blk*I2SBlockBytes : blk*I2SBlockBytes+32]
		x := q[blk*I2SBlock : blk*I2SBlock+I2SBlock]
		for p := 0; p < 32; p++ {
			v := b[p]
			s += int32(v>>6&3)*int32(x[p]) + int32(v>>4&3)*int32(x[p+32]) +
				int32(v>>2&3)*int32(x[p+64]) + int32(v&3)*int32(x[p+96])
		}
	}
	return s
}

// QuantizeI8 quantizes one token's activations the way the fork's
// quantize_row_i8_s does: M = max(1e-5, max|x|) (in double), s =
// float32(127/M), q = clamp(roundHalfEven(x·s), -128, 127). It returns s and
// Σq.
func QuantizeI8(dst []int8, x []float32) (scale float32, sum int32) {
	m := 1e-5
	for _, v := range x {
		if a := math.Abs(float64(v)); a > m {
			m = a
		}
	}
	s := float32(127 / m)
	for i, v := range x {
		q := NearestInt(v * s)
		q = max(-128, min(127, q))
		dst[i] = int8(q)
		sum += q
	}
	return s, sum
}

// NearestInt rounds half to even, like ggml's nearest_int (valid for
// |x| < 2^22, which every caller guarantees).
func NearestInt(x float32) int32 {
	return int32(math.RoundToEven(float64(x)))
}

// I2SOutput turns a raw code dot into the output value:
// (raw − Σq) / s · γ, in float32 as the fork does.
func I2SOutput(raw, sum int32, s, gamma float32) float32 {
	return (float32(raw) - float32(sum)) / s * gamma
}
