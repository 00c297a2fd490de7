package generic

import (
	"encoding/binary"
	"math"
)

// QK_K is the super-block size of the k-quants, TQ1_0, TQ2_0 and Q8_K.
const QK_K = 256

// BlockQ8K is ggml's Q8_K: the activation format the k-quants and the
// ternary TQ types are multiplied with. One f32 scale per 256 values.
type BlockQ8K struct {
	D     float32
	Qs    [QK_K]int8
	Bsums [QK_K / 16]int16 // sums of groups of 16 quants
}

// QuantizeQ8K quantizes x (a multiple of 256 values) into blocks the way
// ggml's quantize_row_q8_K_ref does: the value of largest magnitude maps to
// ∓127 exactly (iscale = -127/max), d = 1/iscale.
func QuantizeQ8K(dst []BlockQ8K, x []float32) {
	for i := range dst {
		xb := x[i*QK_K : (i+1)*QK_K]
		var amax, maxv float32
		for _, v := range xb {
			if a := abs32(v); a > amax {
				amax, maxv = a, v
			}
		}
		b := &dst[i]
		if amax == 0 {
			*b = BlockQ8K{}
			continue
		}
		iscale := -127 / maxv
		for j, v := range xb {
			b.Qs[j] = int8(min(127, NearestInt(iscale*v)))
		}
		for j := range b.Bsums {
			var s int16
			for _, q := range b.Qs[j*16 : j*16+16] {
				s += int16(q)
			}
			b.Bsums[j] = s
		}
		b.D = 1 / iscale
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// Q8_0: blocks of 32 values, an f16 scale then 32 int8 quants (34 bytes).
const (
	Q8_0Block      = 32
	Q8_0BlockBytes = 34
)

// QuantizeQ8_0 quantizes x into Q8_0 bytes (quantize_row_q8_0_ref: d =
// amax/127, q = roundf(x/d) half away from zero).
func QuantizeQ8_0(dst []byte, x []float32) {
	for i := 0; i < len(x)/Q8_0Block; i++ {
		xb := x[i*Q8_0Block : (i+1)*Q8_0Block]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		b := dst[i*Q8_0BlockBytes:]
		binary.LittleEndian.PutUint16(b, F32ToF16(d))
		for j, v := range xb {
			b[2+j] = byte(int8(math.Round(float64(v * id))))
		}
	}
}

// DequantQ8_0 expands Q8_0 bytes into floats.
func DequantQ8_0(dst []float32, src []byte) {
	for i := 0; i < len(dst)/Q8_0Block; i++ {
		b := src[i*Q8_0BlockBytes:]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		for j := 0; j < Q8_0Block; j++ {
			dst[i*Q8_0Block+j] = float32(int8(b[2+j])) * d
		}
	}
}

// DotQ8_0 is the Q8_0 × Q8_0 dot product of two rows of n elements in
// ggml's AVX2 order (see lanes.go): per block and lane m, the integer sum of
// the products of elements 4m..4m+3, then acc[m] = fma(dx·dy, float(lane),
// acc[m]).
func DotQ8_0(x, y []byte, n int) float32 {
	var acc [8]float32
	for i := 0; i < n/Q8_0Block; i++ {
		bx, by := x[i*Q8_0BlockBytes:], y[i*Q8_0BlockBytes:]
		d := F16ToF32(binary.LittleEndian.Uint16(bx)) * F16ToF32(binary.LittleEndian.Uint16(by))
		for m := range acc {
			var s int32
			for j := 4 * m; j < 4*m+4; j++ {
				s += int32(int8(bx[2+j])) * int32(int8(by[2+j]))
			}
			acc[m] = FMA32(d, float32(s), acc[m])
		}
	}
	return Hsum8(&acc)
}

// QuantizeQ8_0Act quantizes activations into Q8_0 bytes as ggml-cpu's x86
// quantize_row_q8_0 does (the from_float of Q8_0 matmuls on the reference
// engines' machines), which differs from QuantizeQ8_0 (the weight
// quantizer, quantize_row_q8_0_ref) in two rounding points: the inverse
// scale is 127/amax rather than 1/(amax/127), and the products round half
// to even.
func QuantizeQ8_0Act(dst []byte, x []float32) {
	for i := 0; i < len(x)/Q8_0Block; i++ {
		xb := x[i*Q8_0Block : (i+1)*Q8_0Block]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		b := dst[i*Q8_0BlockBytes:]
		binary.LittleEndian.PutUint16(b, F32ToF16(amax/127))
		for j, v := range xb {
			r := math.RoundToEven(float64(v * id))
			b[2+j] = byte(int8(max(-128, min(127, r))))
		}
	}
}
