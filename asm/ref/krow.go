package ref

import "encoding/binary"

// KRow is one row of a Q8_K-multiplied format (TQ1_0, TQ2_0, Q4_K, Q6_K)
// decoded once, so that a row can be multiplied with many tokens without
// decoding it again. DotKRow gives bit-identical results to DotTQ, DotQ4K and
// DotQ6K.
type KRow struct {
	Vals   []int8    // one value per element: code−1, q6 or q4
	Scales []int16   // integer scale per group of 16 elements
	D      []float32 // per 256-block scale (f16 widened)
	DMin   []float32 // Q4_K only: per-block min scale
	Mins   []int16   // Q4_K only: integer min per group of 32
	q4k    bool
}

// Kind of KRow contents.
const (
	KRowTQ1 = iota
	KRowTQ2
	KRowQ4K
	KRowQ6K
)

// DecodeKRow decodes a row of cols elements of the given kind into r,
// reusing r's buffers.
func DecodeKRow(r *KRow, kind int, row []byte, cols int) {
	nb := cols / QK_K
	r.Vals = growSlice(r.Vals, cols)
	r.Scales = growSlice(r.Scales, cols/16)
	r.D = growSlice(r.D, nb)
	r.q4k = kind == KRowQ4K
	if r.q4k {
		r.DMin = growSlice(r.DMin, nb)
		r.Mins = growSlice(r.Mins, cols/32)
	}
	var codes [QK_K]int8
	var q4 [QK_K]uint8
	for i := 0; i < nb; i++ {
		vals := r.Vals[i*QK_K : (i+1)*QK_K]
		sc := r.Scales[i*16 : (i+1)*16]
		switch kind {
		case KRowTQ1, KRowTQ2:
			bs := TQ2_0BlockBytes
			if kind == KRowTQ1 {
				bs = TQ1_0BlockBytes
			}
			b := row[i*bs : (i+1)*bs]
			if kind == KRowTQ1 {
				TQ1Codes(&codes, b)
			} else {
				TQ2Codes(&codes, b)
			}
			for j, c := range codes {
				vals[j] = c - 1
			}
			for j := range sc {
				sc[j] = 1
			}
			r.D[i] = F16ToF32(binary.LittleEndian.Uint16(b[bs-2:]))
		case KRowQ6K:
			b := row[i*Q6_KBlockBytes:]
			q6Values((*[QK_K]int8)(vals), b)
			for j := range sc {
				sc[j] = int16(int8(b[192+j]))
			}
			r.D[i] = F16ToF32(binary.LittleEndian.Uint16(b[208:]))
		case KRowQ4K:
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
		if r.q4k {
			var imin int32
			for j := 0; j < 8; j++ {
				imin += int32(r.Mins[i*8+j]) * (int32(y[i].Bsums[2*j]) + int32(y[i].Bsums[2*j+1]))
			}
			dmin := r.DMin[i] * y[i].D
			sum += d*float32(isum) - dmin*float32(imin)
			continue
		}
		sum += d * float32(isum)
	}
	return sum
}

func growSlice[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
