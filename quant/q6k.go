package quant

import (
	"encoding/binary"
	"math"

	"github.com/bitnet-go/bitnet/asm"
)

// Q6_K: ggml's reference quantizer (ggml-quants.c, quantize_row_q6_K_ref),
// which llama-quantize uses when no importance matrix is given.
// Dequantization is asm.DequantQ6K / runtime.Matrix.RowF32.

// groupMaxEps is ggml's GROUP_MAX_EPS: a group whose largest magnitude is
// below it quantizes to zero.
const groupMaxEps = 1e-15

// nearestInt is ggml's nearest_int (the 1.5·2^23 trick): round half to even.
func nearestInt(x float32) int32 { return asm.NearestInt(x) }

// makeQxQuants is ggml's make_qx_quants with rmse_type 1 and no weights:
// the scale (and the levels L, 0..2·nmax−1) minimising the x²-weighted error
// over 19 candidate scales.
func makeQxQuants(x []float32, nmax int, L []int8) float32 {
	var mx, amax float32
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, mx = ax, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	nm := float32(nmax)
	iscale := -nm / mx
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(max(nearestInt(iscale*v), -int32(nmax)), int32(nmax)-1)
		L[i] = int8(l + int32(nmax))
		// The conversions keep Go from fusing into FMAs (as on arm64).
		w := float32(v * v)
		sumlx += float32(float32(w*v) * float32(l))
		suml2 += float32(float32(w*float32(l)) * float32(l))
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(nm + 0.1*float32(is)) / mx
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := min(max(nearestInt(iscale*v), -int32(nmax)), int32(nmax)-1)
			w := float32(v * v)
			sumlx += float32(float32(w*v) * float32(l))
			suml2 += float32(float32(w*float32(l)) * float32(l))
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				l := min(max(nearestInt(iscale*v), -int32(nmax)), int32(nmax)-1)
				L[i] = int8(int32(nmax) + l)
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// QuantizeQ6K is quantize_row_q6_K_ref: x is a whole number of 256-value
// blocks, dst has 210 bytes per block.
func QuantizeQ6K(dst []byte, x []float32) {
	var L [asm.QK_K]int8
	var scales [asm.QK_K / 16]float32
	for i := 0; i < len(x)/asm.QK_K; i++ {
		xb := x[i*asm.QK_K : (i+1)*asm.QK_K]
		b := dst[i*asm.Q6_KBlockBytes : (i+1)*asm.Q6_KBlockBytes]
		var maxScale, maxAbsScale float32
		for ib := range scales {
			s := makeQxQuants(xb[16*ib:16*ib+16], 32, L[16*ib:16*ib+16])
			scales[ib] = s
			if as := abs32(s); as > maxAbsScale {
				maxAbsScale, maxScale = as, s
			}
		}
		if maxAbsScale < groupMaxEps {
			clear(b)
			continue
		}
		iscale := -128 / maxScale
		binary.LittleEndian.PutUint16(b[208:], asm.F32ToF16(1/iscale))
		sc := b[192:208]
		for ib := range scales {
			sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
		}
		d0 := asm.F16ToF32(binary.LittleEndian.Uint16(b[208:]))
		for j := range scales {
			d := d0 * float32(int8(sc[j]))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := min(max(nearestInt(xb[16*j+ii]/d), -32), 31)
				L[16*j+ii] = int8(l + 32)
			}
		}
		ql, qh := b[0:128], b[128:192]
		for j := 0; j < asm.QK_K; j += 128 {
			for l := 0; l < 32; l++ {
				q1 := byte(L[j+l]) & 0xF
				q2 := byte(L[j+l+32]) & 0xF
				q3 := byte(L[j+l+64]) & 0xF
				q4 := byte(L[j+l+96]) & 0xF
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = byte(L[j+l])>>4 | (byte(L[j+l+32])>>4)<<2 | (byte(L[j+l+64])>>4)<<4 | (byte(L[j+l+96])>>4)<<6
			}
			ql, qh = ql[64:], qh[32:]
		}
	}
}
