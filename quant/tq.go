package quant

import (
	"encoding/binary"
	"math"

	"github.com/bitnet-go/bitnet/asm"
)

// PackTQ2 writes one TQ2_0 block (quantize_row_tq2_0_ref's layout) from
// QK_K codes 0..2 (value+1) and the f16 scale d: element h·128+32l+m in bits
// 2l of byte h·32+m, then d after the 64 bytes of codes.
func PackTQ2(dst []byte, codes *[QK_K]int8, d uint16) {
	for half := 0; half < 2; half++ {
		for m := 0; m < 32; m++ {
			var q byte
			for n := 0; n < 4; n++ {
				q |= byte(codes[half*128+n*32+m]&3) << (2 * n)
			}
			dst[half*32+m] = q
		}
	}
	binary.LittleEndian.PutUint16(dst[64:], d)
}

// PackTQ1 writes one TQ1_0 block (quantize_row_tq1_0_ref's layout) from
// QK_K codes 0..2 and the f16 scale d: five trits per byte, base 3 with the
// first trit most significant, stored as ceil(q·256/243) — 32 bytes for
// elements 0..159 (m+32n in byte m), 16 bytes for 160..239 (160+m+16n in
// byte 32+m), 4 bytes of four trits for 240..255 (240+j+4n in byte 48+j),
// then d.
func PackTQ1(dst []byte, codes *[QK_K]int8, d uint16) {
	frac := func(q uint16) byte { return byte((q*256 + 242) / 243) }
	for m := 0; m < 32; m++ {
		var q uint16
		for n := 0; n < 5; n++ {
			q = q*3 + uint16(codes[m+n*32])
		}
		dst[m] = frac(q)
	}
	for m := 0; m < 16; m++ {
		var q uint16
		for n := 0; n < 5; n++ {
			q = q*3 + uint16(codes[160+m+n*16])
		}
		dst[32+m] = frac(q)
	}
	for j := 0; j < 4; j++ {
		var q uint16
		for m := 0; m < 4; m++ {
			q = q*3 + uint16(codes[240+j+m*4])
		}
		dst[48+j] = frac(q * 3)
	}
	binary.LittleEndian.PutUint16(dst[52:], d)
}

// TQCodes computes one block's codes as upstream's quantize_row_tq*_0_ref:
// d = max|x|, code = lround(x/d)+1 (half away from zero; 1 where d = 0). It
// returns d as f16.
func TQCodes(codes *[QK_K]int8, x []float32) uint16 {
	var amax float32
	for _, v := range x[:QK_K] {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	var id float32
	if amax != 0 {
		id = 1 / amax
	}
	for i, v := range x[:QK_K] {
		codes[i] = int8(math.Round(float64(v*id))) + 1
	}
	return asm.F32ToF16(amax)
}

// QuantizeTQ2 quantizes x, a whole number of QK_K-value blocks, into TQ2_0
// (TQ2_0Bytes per block) as quantize_row_tq2_0_ref does.
func QuantizeTQ2(dst []byte, x []float32) {
	var codes [QK_K]int8
	for b := 0; b < len(x)/QK_K; b++ {
		d := TQCodes(&codes, x[b*QK_K:])
		PackTQ2(dst[b*TQ2_0Bytes:(b+1)*TQ2_0Bytes], &codes, d)
	}
}

// QuantizeTQ1 quantizes x, a whole number of QK_K-value blocks, into TQ1_0
// (TQ1_0Bytes per block) as quantize_row_tq1_0_ref does.
func QuantizeTQ1(dst []byte, x []float32) {
	var codes [QK_K]int8
	for b := 0; b < len(x)/QK_K; b++ {
		d := TQCodes(&codes, x[b*QK_K:])
		PackTQ1(dst[b*TQ1_0Bytes:(b+1)*TQ1_0Bytes], &codes, d)
	}
}
