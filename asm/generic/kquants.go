package generic

import "encoding/binary"

// Q6_K: 256 values in 210 bytes: ql[128] (low 4 bits), qh[64] (high 2
// bits), scales[16] (int8), d (f16).
const Q6_KBlockBytes = 210

// Q4_K: 256 values in 144 bytes: d, dmin (f16), scales[12] (6-bit scales and
// mins of 8 sub-blocks), qs[128] (4-bit quants).
const Q4_KBlockBytes = 144

// q6Values writes the 256 signed 6-bit values (−32..31) of a Q6_K block.
func q6Values(dst *[QK_K]int8, b []byte) {
	ql, qh := b[0:128], b[128:192]
	for n := 0; n < 2; n++ {
		l0, h0, y0 := n*64, n*32, n*128
		for l := 0; l < 32; l++ {
			dst[y0+l] = int8(ql[l0+l]&0xF|(qh[h0+l]>>0&3)<<4) - 32
			dst[y0+l+32] = int8(ql[l0+l+32]&0xF|(qh[h0+l]>>2&3)<<4) - 32
			dst[y0+l+64] = int8(ql[l0+l]>>4|(qh[h0+l]>>4&3)<<4) - 32
			dst[y0+l+96] = int8(ql[l0+l+32]>>4|(qh[h0+l]>>6&3)<<4) - 32
		}
	}
}

// DequantQ6K expands Q6_K rows into floats: y = d·scale·q.
func DequantQ6K(dst []float32, src []byte) {
	var q [QK_K]int8
	for i := 0; i < len(dst)/QK_K; i++ {
		b := src[i*Q6_KBlockBytes:]
		q6Values(&q, b)
		sc := b[192:208]
		d := F16ToF32(binary.LittleEndian.Uint16(b[208:]))
		for j := 0; j < QK_K; j++ {
			dst[i*QK_K+j] = d * float32(int8(sc[j/16])) * float32(q[j])
		}
	}
}

// DotQ6K is the Q6_K × Q8_K dot of one row in ggml's AVX2 order (see
// lanes.go): per block and lane m, Σ_j scale_j·Σ q6·q8 over the elements of
// lane m with the signed values q6 (−32..31), then acc[m] =
// fma(fp16(d)·y.d, float(lane), acc[m]).
//
// The signed split is that of ggml's AVX2 kernel before April 2026 (it
// subtracted 32·q8 per product pair), which the upstream build of the
// golden files and bitnet.cpp use: with it the bitnet-s TQ2_0 logits of a
// token whose hidden state matches are bit-identical to the golden ones
// (32000 of 32000), against ~25 % with the later split (unsigned values,
// 32·Σ bsums·scale subtracted per lane).
func DotQ6K(row []byte, y []BlockQ8K) float32 {
	var q [QK_K]int8
	var acc [8]float32
	for i := range y {
		b := row[i*Q6_KBlockBytes:]
		q6Values(&q, b)
		sc := b[192:208]
		var lanes [8]int32
		for m := 0; m < 8; m++ {
			var s int32
			for v := 0; v < 8; v++ { // 32-element chunks
				var p int32
				for e := 4 * m; e < 4*m+4; e++ {
					k := v*32 + e
					p += int32(q[k]) * int32(y[i].Qs[k])
				}
				s += int32(int8(sc[2*v+m/4])) * p
			}
			lanes[m] = s
		}
		d := y[i].D * F16ToF32(binary.LittleEndian.Uint16(b[208:]))
		for m := range acc {
			acc[m] = FMA32(d, float32(lanes[m]), acc[m])
		}
	}
	return Hsum8(&acc)
}

// q4kScaleMin returns the 6-bit scale and min of sub-block j.
func q4kScaleMin(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// q4Values writes the 256 4-bit values (0..15) of a Q4_K block.
func q4Values(dst *[QK_K]uint8, qs []byte) {
	for j := 0; j < 4; j++ {
		for l := 0; l < 32; l++ {
			dst[j*64+l] = qs[j*32+l] & 0xF
			dst[j*64+32+l] = qs[j*32+l] >> 4
		}
	}
}

// DequantQ4K expands Q4_K rows into floats: y = d·sc·q − dmin·m.
func DequantQ4K(dst []float32, src []byte) {
	var q [QK_K]uint8
	for i := 0; i < len(dst)/QK_K; i++ {
		b := src[i*Q4_KBlockBytes:]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		dmin := F16ToF32(binary.LittleEndian.Uint16(b[2:]))
		q4Values(&q, b[16:144])
		for j := 0; j < 8; j++ {
			sc, m := q4kScaleMin(j, b[4:16])
			d1, m1 := d*float32(sc), dmin*float32(m)
			for l := j * 32; l < j*32+32; l++ {
				dst[i*QK_K+l] = d1*float32(q[l]) - m1
			}
		}
	}
}

// DotQ4K is the Q4_K × Q8_K dot of one row in ggml's AVX2 order (see
// lanes.go): per block and lane m, Σ_j scale_j·Σ q4·q8 over the elements
// of lane m (sub-block j is the j-th 32-element chunk), then acc[m] =
// fma(fp16(d)·y.d, float(lane), acc[m]); the mins go into four more
// accumulators, accm[l] = fma(−y.d·fp16(dmin), float(min_2l·s_2l +
// min_2l+1·s_2l+1), accm[l]) with s_j the Q8_K sum of sub-block j, and the
// result is Hsum8(acc) + ((accm0+accm2) + (accm1+accm3)).
func DotQ4K(row []byte, y []BlockQ8K) float32 {
	var q [QK_K]uint8
	var acc [8]float32
	var accm [4]float32
	for i := range y {
		b := row[i*Q4_KBlockBytes:]
		q4Values(&q, b[16:144])
		var sc, mn [8]int32
		for j := range sc {
			s, m := q4kScaleMin(j, b[4:16])
			sc[j], mn[j] = int32(s), int32(m)
		}
		yb := &y[i]
		d := yb.D * F16ToF32(binary.LittleEndian.Uint16(b))
		dmin := -yb.D * F16ToF32(binary.LittleEndian.Uint16(b[2:]))
		for l := range accm {
			s0 := int32(yb.Bsums[4*l]) + int32(yb.Bsums[4*l+1])
			s1 := int32(yb.Bsums[4*l+2]) + int32(yb.Bsums[4*l+3])
			accm[l] = FMA32(dmin, float32(mn[2*l]*s0+mn[2*l+1]*s1), accm[l])
		}
		for m := range acc {
			var lane int32
			for v := 0; v < 8; v++ {
				var p int32
				for e := v*32 + 4*m; e < v*32+4*m+4; e++ {
					p += int32(q[e]) * int32(yb.Qs[e])
				}
				lane += sc[v] * p
			}
			acc[m] = FMA32(d, float32(lane), acc[m])
		}
	}
	return Hsum8(&acc) + ((accm[0] + accm[2]) + (accm[1] + accm[3]))
}
