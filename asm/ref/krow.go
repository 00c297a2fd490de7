package ref

import "encoding/binary"

// KRow is one Q4_K row decoded once, so that a row can be multiplied with
// many tokens without decoding it again. DotKRow gives bit-identical
// results to DotQ4K. (TQ1_0, TQ2_0 and Q6_K rows are multiplied by the
// kernels of package asm directly.)
type KRow struct {
	Vals   []int8    // one 4-bit value per element
	Scales []int16   // integer scale per group of 16 elements
	D      []float32 // per 256-block scale (f16 widened)
	DMin   []float32 // per-block min scale
	Mins   []int16   // integer min per group of 32
}

// DecodeKRow decodes a Q4_K row of cols elements into r, reusing r's
// buffers.
func DecodeKRow(r *KRow, row []byte, cols int) {
	nb := cols / QK_K
	r.Vals = growSlice(r.Vals, cols)
	r.Scales = growSlice(r.Scales, cols/16)
	r.D = growSlice(r.D, nb)
	r.DMin = growSlice(r.DMin, nb)
	r.Mins = growSlice(r.Mins, cols/32)
	var q4 [QK_K]uint8
	for i := 0; i < nb; i++ {
		vals := r.Vals[i*QK_K : (i+1)*QK_K]
		sc := r.Scales[i*16 : (i+1)*16]
		b := row[i*Q4_KBlockBytes:]
		q4Values(&q4, b[16:144])
		for j, v := range q4 {
			vals[j] = int8(v)
		}
		for j := 0; j < 8; j++ {
			s, m := q4kScaleMin(j, b[4:16])
			sc[2*j], sc[2*j+1] = int16(s), int16(s)
			r.Mins[i*8+j] = int16(m)
		}
		r.D[i] = F16ToF32(binary.LittleEndian.Uint16(b))
		r.DMin[i] = F16ToF32(binary.LittleEndian.Uint16(b[2:]))
	}
}

// DotKRow multiplies a decoded row with Q8_K activations.
func DotKRow(r *KRow, y []BlockQ8K) float32 {
	var sum float32
	for i := range y {
		vals := r.Vals[i*QK_K : (i+1)*QK_K]
		var isum int32
		for g := 0; g < 16; g++ {
			var s int32
			for l := g * 16; l < g*16+16; l++ {
				s += int32(vals[l]) * int32(y[i].Qs[l])
			}
			isum += int32(r.Scales[i*16+g]) * s
		}
		d := r.D[i] * y[i].D
		var imin int32
		for j := 0; j < 8; j++ {
			imin += int32(r.Mins[i*8+j]) * (int32(y[i].Bsums[2*j]) + int32(y[i].Bsums[2*j+1]))
		}
		dmin := r.DMin[i] * y[i].D
		sum += float32(d*float32(isum)) - float32(dmin*float32(imin))
	}
	return sum
}

func growSlice[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
