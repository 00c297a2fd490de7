package generic

import "encoding/binary"

// TQ2_0: blocks of 256 values, 64 bytes of 2-bit codes then an f16 scale
// (66 bytes). In each 128-value half (32 bytes), byte m holds values
// m + 32l at bits 2l (LSB first). Value = (code − 1)·d.
const TQ2_0BlockBytes = 66

// TQ1_0: blocks of 256 values, 48 bytes of base-3 packed trits (5 per
// byte), 4 bytes of 4 trits each, then an f16 scale (54 bytes).
const TQ1_0BlockBytes = 54

// TQ2Codes writes the 256 codes (0..2) of one TQ2_0 block.
func TQ2Codes(dst *[QK_K]int8, b []byte) {
	for half := 0; half < 2; half++ {
		qs := b[half*32 : half*32+32]
		for l := 0; l < 4; l++ {
			for m := 0; m < 32; m++ {
				dst[half*128+l*32+m] = int8(qs[m] >> (2 * l) & 3)
			}
		}
	}
}

var pow3 = [6]uint8{1, 3, 9, 27, 81, 243}

// TQ1Codes writes the 256 trits (0..2) of one TQ1_0 block.
func TQ1Codes(dst *[QK_K]int8, b []byte) {
	trit := func(x byte, n int) int8 {
		q := uint16(x * pow3[n]) // u8 multiply, wraps
		return int8((q * 3) >> 8)
	}
	qs, qh := b[:48], b[48:52]
	for n := 0; n < 5; n++ {
		for m := 0; m < 32; m++ {
			dst[m+32*n] = trit(qs[m], n)
		}
	}
	for n := 0; n < 5; n++ {
		for m := 0; m < 16; m++ {
			dst[160+m+16*n] = trit(qs[32+m], n)
		}
	}
	for n := 0; n < 4; n++ {
		for j := 0; j < 4; j++ {
			dst[240+j+4*n] = trit(qh[j], n)
		}
	}
}

// DotTQ is the TQ1_0/TQ2_0 × Q8_K dot of one row in ggml's AVX2 order
// (see lanes.go): per block and lane m, Σ code·q8 over the elements of lane
// m minus the Q8_K group sums 2m and 2m+1 (that is Σ (code−1)·q8), then
// acc[m] += float(lane)·(y.d·d), a rounded product and a rounded sum.
func DotTQ(row []byte, y []BlockQ8K, tq1 bool) float32 {
	var codes [QK_K]int8
	bs := TQ2_0BlockBytes
	if tq1 {
		bs = TQ1_0BlockBytes
	}
	var acc [8]float32
	for i := range y {
		b := row[i*bs : (i+1)*bs]
		if tq1 {
			TQ1Codes(&codes, b)
		} else {
			TQ2Codes(&codes, b)
		}
		var lanes [8]int32
		for m := range lanes {
			s := -int32(y[i].Bsums[2*m]) - int32(y[i].Bsums[2*m+1])
			for v := 0; v < 8; v++ {
				for e := v*32 + 4*m; e < v*32+4*m+4; e++ {
					s += int32(y[i].Qs[e]) * int32(codes[e])
				}
			}
			lanes[m] = s
		}
		d := y[i].D * F16ToF32(binary.LittleEndian.Uint16(b[bs-2:]))
		for m := range acc {
			acc[m] = mulAdd32(float32(lanes[m]), d, acc[m])
		}
	}
	return Hsum8(&acc)
}

// DequantTQ expands a TQ1_0 or TQ2_0 row into floats.
func DequantTQ(dst []float32, row []byte, tq1 bool) {
	var codes [QK_K]int8
	bs := TQ2_0BlockBytes
	if tq1 {
		bs = TQ1_0BlockBytes
	}
	for i := 0; i < len(dst)/QK_K; i++ {
		b := row[i*bs : (i+1)*bs]
		if tq1 {
			TQ1Codes(&codes, b)
		} else {
			TQ2Codes(&codes, b)
		}
		d := F16ToF32(binary.LittleEndian.Uint16(b[bs-2:]))
		for j, c := range codes {
			dst[i*QK_K+j] = float32(c-1) * d
		}
	}
}
