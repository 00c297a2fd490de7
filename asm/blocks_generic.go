package asm

import (
	"encoding/binary"

	"github.com/bitnet-go/bitnet/asm/generic"
)

// Portable Go versions of the block-format GEMVs for builds without
// assembly (purego, gccgo, other architectures):
// the same lanes and float order as the references in package generic
// (which stay the oracle the tests compare against), written for speed — one pass
// over each block's bytes, fixed-size arrays, no per-element decode calls.

// lanes8 adds Σ v[k]·q[k] over k ≡ 4m..4m+3 (mod 32) of a 32-element chunk
// to lanes[m], scaled by lo for m < 4 and hi for m ≥ 4.
func lanes8(lanes *[8]int32, v *[32]int8, q *[32]int8, lo, hi int32) {
	for m := 0; m < 8; m++ {
		s := int32(v[4*m])*int32(q[4*m]) + int32(v[4*m+1])*int32(q[4*m+1]) +
			int32(v[4*m+2])*int32(q[4*m+2]) + int32(v[4*m+3])*int32(q[4*m+3])
		if m < 4 {
			lanes[m] += lo * s
		} else {
			lanes[m] += hi * s
		}
	}
}

func q6kDotsGo(dst []float32, w []byte, y []generic.BlockQ8K) {
	rb := len(y) * generic.Q6_KBlockBytes
	for r := range dst {
		row := w[r*rb : (r+1)*rb]
		var acc [8]float32
		for i := range y {
			b := (*[generic.Q6_KBlockBytes]byte)(row[i*generic.Q6_KBlockBytes:])
			yb := &y[i]
			var lanes [8]int32
			for j := 0; j < 2; j++ {
				ql := (*[64]byte)(b[64*j:])
				qh := (*[32]byte)(b[128+32*j:])
				var v [4][32]int8
				for l := 0; l < 32; l++ {
					h := qh[l]
					v[0][l] = int8(ql[l]&0xF|(h&3)<<4) - 32
					v[1][l] = int8(ql[l+32]&0xF|(h>>2&3)<<4) - 32
					v[2][l] = int8(ql[l]>>4|(h>>4&3)<<4) - 32
					v[3][l] = int8(ql[l+32]>>4|(h>>6)<<4) - 32
				}
				for k := 0; k < 4; k++ {
					c := 4*j + k // chunk: scales 2c (elements 0..15) and 2c+1
					lanes8(&lanes, &v[k], (*[32]int8)(yb.Qs[32*c:]), int32(int8(b[192+2*c])), int32(int8(b[193+2*c])))
				}
			}
			d := yb.D * generic.F16ToF32(binary.LittleEndian.Uint16(b[208:]))
			for m := range acc {
				acc[m] = generic.FMA32(d, float32(lanes[m]), acc[m])
			}
		}
		dst[r] = generic.Hsum8(&acc)
	}
}

// tqLanes finishes a ternary block: subtract the group sums (codes 0..2
// become −1..1) and add float(lane)·d to the accumulators.
func tqFinish(acc *[8]float32, lanes *[8]int32, yb *generic.BlockQ8K, dh uint16) {
	d := yb.D * generic.F16ToF32(dh)
	for m := range acc {
		l := lanes[m] - int32(yb.Bsums[2*m]) - int32(yb.Bsums[2*m+1])
		acc[m] = float32(float32(l)*d) + acc[m]
	}
}

func tq2DotsGo(dst []float32, w []byte, y []generic.BlockQ8K) {
	rb := len(y) * generic.TQ2_0BlockBytes
	for r := range dst {
		row := w[r*rb : (r+1)*rb]
		var acc [8]float32
		for i := range y {
			b := (*[generic.TQ2_0BlockBytes]byte)(row[i*generic.TQ2_0BlockBytes:])
			yb := &y[i]
			var lanes [8]int32
			for j := 0; j < 2; j++ {
				q := (*[128]int8)(yb.Qs[128*j:])
				for k := 0; k < 32; k++ {
					x := b[32*j+k]
					lanes[k>>2] += int32(x&3)*int32(q[k]) + int32(x>>2&3)*int32(q[32+k]) +
						int32(x>>4&3)*int32(q[64+k]) + int32(x>>6)*int32(q[96+k])
				}
			}
			tqFinish(&acc, &lanes, yb, binary.LittleEndian.Uint16(b[64:]))
		}
		dst[r] = generic.Hsum8(&acc)
	}
}

// trit[n][x] is trit n of a TQ1_0 byte x: ((x·3ⁿ mod 256)·3) >> 8.
var trit = func() (t [5][256]int8) {
	for n, p := range [5]uint8{1, 3, 9, 27, 81} {
		for x := 0; x < 256; x++ {
			t[n][x] = int8(uint16(uint8(x)*p) * 3 >> 8)
		}
	}
	return
}()

func tq1DotsGo(dst []float32, w []byte, y []generic.BlockQ8K) {
	rb := len(y) * generic.TQ1_0BlockBytes
	for r := range dst {
		row := w[r*rb : (r+1)*rb]
		var acc [8]float32
		for i := range y {
			b := (*[generic.TQ1_0BlockBytes]byte)(row[i*generic.TQ1_0BlockBytes:])
			yb := &y[i]
			var c [256]int8 // element order, as generic.TQ1Codes
			for n := 0; n < 5; n++ {
				for m := 0; m < 32; m++ {
					c[32*n+m] = trit[n][b[m]]
				}
				for m := 0; m < 16; m++ {
					c[160+16*n+m] = trit[n][b[32+m]]
				}
			}
			for n := 0; n < 4; n++ {
				for j := 0; j < 4; j++ {
					c[240+4*n+j] = trit[n][b[48+j]]
				}
			}
			var lanes [8]int32
			for v := 0; v < 8; v++ {
				lanes8(&lanes, (*[32]int8)(c[32*v:]), (*[32]int8)(yb.Qs[32*v:]), 1, 1)
			}
			tqFinish(&acc, &lanes, yb, binary.LittleEndian.Uint16(b[52:]))
		}
		dst[r] = generic.Hsum8(&acc)
	}
}

func q80DotsGo(dst []float32, w []byte, y []byte) {
	rb, nb := len(y), len(y)/generic.Q8_0BlockBytes
	for r := range dst {
		row := w[r*rb : (r+1)*rb]
		var acc [8]float32
		for i := 0; i < nb; i++ {
			bx := (*[generic.Q8_0BlockBytes]byte)(row[i*generic.Q8_0BlockBytes:])
			by := (*[generic.Q8_0BlockBytes]byte)(y[i*generic.Q8_0BlockBytes:])
			d := generic.F16ToF32(binary.LittleEndian.Uint16(bx[:])) * generic.F16ToF32(binary.LittleEndian.Uint16(by[:]))
			for m := 0; m < 8; m++ {
				k := 2 + 4*m
				s := int32(int8(bx[k]))*int32(int8(by[k])) + int32(int8(bx[k+1]))*int32(int8(by[k+1])) +
					int32(int8(bx[k+2]))*int32(int8(by[k+2])) + int32(int8(bx[k+3]))*int32(int8(by[k+3]))
				acc[m] = generic.FMA32(d, float32(s), acc[m])
			}
		}
		dst[r] = generic.Hsum8(&acc)
	}
}

func q4kDotsGo(dst []float32, w []byte, y []generic.BlockQ8K) {
	rb := len(y) * generic.Q4_KBlockBytes
	for r := range dst {
		row := w[r*rb : (r+1)*rb]
		var acc [8]float32
		var accm [4]float32
		for i := range y {
			b := (*[generic.Q4_KBlockBytes]byte)(row[i*generic.Q4_KBlockBytes:])
			yb := &y[i]
			var sc, mn [8]int32
			for j := 0; j < 4; j++ {
				sc[j], mn[j] = int32(b[4+j]&63), int32(b[8+j]&63)
				sc[j+4] = int32(b[12+j]&0xF | b[4+j]>>6<<4)
				mn[j+4] = int32(b[12+j]>>4 | b[8+j]>>6<<4)
			}
			d := yb.D * generic.F16ToF32(binary.LittleEndian.Uint16(b[0:]))
			dmin := -yb.D * generic.F16ToF32(binary.LittleEndian.Uint16(b[2:]))
			for l := range accm {
				s0 := int32(yb.Bsums[4*l]) + int32(yb.Bsums[4*l+1])
				s1 := int32(yb.Bsums[4*l+2]) + int32(yb.Bsums[4*l+3])
				accm[l] = generic.FMA32(dmin, float32(mn[2*l]*s0+mn[2*l+1]*s1), accm[l])
			}
			var lanes [8]int32
			for j := 0; j < 4; j++ {
				qs := (*[32]byte)(b[16+32*j:])
				var lo, hi [32]int8
				for l := 0; l < 32; l++ {
					lo[l], hi[l] = int8(qs[l]&0xF), int8(qs[l]>>4)
				}
				lanes8(&lanes, &lo, (*[32]int8)(yb.Qs[64*j:]), sc[2*j], sc[2*j])
				lanes8(&lanes, &hi, (*[32]int8)(yb.Qs[64*j+32:]), sc[2*j+1], sc[2*j+1])
			}
			for m := range acc {
				acc[m] = generic.FMA32(d, float32(lanes[m]), acc[m])
			}
		}
		dst[r] = generic.Hsum8(&acc) + ((accm[0] + accm[2]) + (accm[1] + accm[3]))
	}
}
