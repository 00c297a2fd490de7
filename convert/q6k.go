package convert

import (
	"encoding/binary"
	"math"

	"github.com/bitnet-go/bitnet/asm/ref"
)

// Q6_K quantization as ggml's quantize_row_q6_K_ref (llama-quantize without
// an importance matrix). Products are rounded to float32 explicitly so the
// compiler cannot fuse them (the C reference is compiled without FMA
// contraction across these statements on x86; an FMA build could differ in
// the last bit of a block scale).

const groupMaxEps = 1e-15

// nearestInt rounds half to even through the 1.5·2^23 trick, like ggml's
// nearest_int (valid for |x| ≤ 2^22).
func nearestInt(x float32) int32 {
	v := x + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// makeQXQuants is make_qx_quants with rmse_type 1 and no weights.
func makeQXQuants(x []float32, nmax int32, L []int8) float32 {
	var max, amax float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, max = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	clamp := func(l int32) int32 { return min(nmax-1, max32(-nmax, l)) }
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale * v)))
		L[i] = int8(l + nmax)
		w := float32(v * v)
		sumlx += float32(float32(w*v) * float32(l))
		suml2 += float32(float32(w*float32(l)) * float32(l))
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := clamp(nearestInt(float32(iscale * v)))
			w := float32(v * v)
			sumlx += float32(float32(w*v) * float32(l))
			suml2 += float32(float32(w*float32(l)) * float32(l))
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clamp(nearestInt(float32(iscale*v))))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

func max32(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}

// quantizeQ6K quantizes len(x) (a multiple of 256) values into Q6_K
// blocks of 210 bytes: ql[128], qh[64], scales[16], d (f16).
func quantizeQ6K(dst []byte, x []float32) {
	var L [ref.QK_K]int8
	var scales [ref.QK_K / 16]float32
	for i := 0; i < len(x)/ref.QK_K; i++ {
		xb := x[i*ref.QK_K : (i+1)*ref.QK_K]
		b := dst[i*ref.Q6_KBlockBytes : (i+1)*ref.Q6_KBlockBytes]
		var maxScale, maxAbs float32
		for ib := range scales {
			s := makeQXQuants(xb[16*ib:16*ib+16], 32, L[16*ib:])
			scales[ib] = s
			if a := float32(math.Abs(float64(s))); a > maxAbs {
				maxAbs, maxScale = a, s
			}
		}
		clear(b)
		if maxAbs < groupMaxEps {
			continue
		}
		iscale := -128 / maxScale
		binary.LittleEndian.PutUint16(b[208:], ref.F32ToF16(1/iscale))
		sc := b[192:208]
		for ib := range scales {
			sc[ib] = byte(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
		}
		d16 := ref.F16ToF32(binary.LittleEndian.Uint16(b[208:]))
		for j := 0; j < ref.QK_K/16; j++ {
			d := float32(d16 * float32(int8(sc[j])))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := min(31, max32(-32, nearestInt(xb[16*j+ii]/d)))
				L[16*j+ii] = int8(l + 32)
			}
		}
		ql, qh := b[0:128], b[128:192]
		for j := 0; j < ref.QK_K; j += 128 {
			for l := 0; l < 32; l++ {
				q1, q2, q3, q4 := uint8(L[j+l])&0xF, uint8(L[j+l+32])&0xF, uint8(L[j+l+64])&0xF, uint8(L[j+l+96])&0xF
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
			}
			ql, qh = ql[64:], qh[32:]
		}
	}
}
