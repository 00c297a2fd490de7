package main

import "fmt"

// ---------------------------------------------------------------------------
// Block-format GEMVs (see gen/amd64/blocks.go and asm/generic/lanes.go): per
// block, eight int32 lanes — V24 holds lanes 0..3 (the products of bytes
// 4m..4m+3 of the first 16 bytes of every 32-element chunk), V25 lanes
// 4..7 (the second 16 bytes) — converted to float and combined with the
// block scale into the float accumulators V26, V27 (FMLA for Q6_K and
// Q8_0; FMUL, FADD for TQ1_0/TQ2_0), reduced per row as hsum_float_8. With
// the dot-product extension the lanes come from SDOT; without it from
// SMULL/SMULL2, ADDP (pairs) and SADALP (pairs of pairs), the same sums.
//
// Registers: R0 dst, R1 w, R2 y, R3 rows, R4 nblk, R5 the current
// activation block, R6 blocks left, R7/R8 scratch; V0..V23 per kernel,
// V28..V31 constants.
// ---------------------------------------------------------------------------

func init() {
	for _, f := range []struct {
		name, ref, what string
		wBytes, yBytes  int
		fused, mins     bool
		body, dscale    func(e *emitter, sdot bool)
		setup           func(e *emitter)
	}{
		{"q6kDots", "ref.DotQ6K(row r, y)", "Q6_K rows (210 bytes per block) and Q8_K activations",
			210, 292, true, false, q6kBody, f16ScaleAt(208), q6kSetup},
		{"q4kDots", "ref.DotQ4K(row r, y)", "Q4_K rows (144 bytes per block) and Q8_K activations",
			144, 292, true, true, q4kBody, f16ScaleAt(0), q4kSetup},
		{"tq2Dots", "ref.DotTQ(row r, y, false)", "TQ2_0 rows (66 bytes per block) and Q8_K activations",
			66, 292, false, false, tq2Body, f16ScaleAt(64), tq2Setup},
		{"tq1Dots", "ref.DotTQ(row r, y, true)", "TQ1_0 rows (54 bytes per block) and Q8_K activations",
			54, 292, false, false, tq1Body, f16ScaleAt(52), tq1Setup},
		{"q80Dots", "ref.DotQ8_0(row r, y)", "Q8_0 rows (34 bytes per block) and Q8_0 activations without −128",
			34, 34, true, false, q80Body, q80Scale, nil},
	} {
		for _, sdot := range []bool{true, false} {
			name := f.name + "NEON"
			if sdot {
				name = f.name + "SDOT"
			}
			f, sdot := f, sdot
			kernels = append(kernels, kernel{
				sig: fmt.Sprintf("func %s(dst *float32, w *byte, y *byte, rows int, nblk int)", name),
				doc: []string{
					fmt.Sprintf("%s sets dst[r] = %s for %s", name, f.ref, f.what),
					"(rows, nblk ≥ 1), bit-exact with the reference: see asm/generic/lanes.go.",
				},
				body: func(e *emitter) {
					blockGEMV(e, name, f.wBytes, f.yBytes, f.fused, f.mins, sdot, f.setup, f.body, f.dscale)
				},
			})
		}
	}
}

// With mins (Q4_K), the body also accumulates a four-lane float sum in
// V29, added to the result as (m0+m2) + (m1+m3).
func blockGEMV(e *emitter, name string, wBytes, yBytes int, fused, mins, sdot bool, setup func(*emitter), body, dscale func(*emitter, bool)) {
	e.text(name, 40)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD w+8(FP), R1")
	e.ins("MOVD y+16(FP), R2")
	e.ins("MOVD rows+24(FP), R3")
	e.ins("MOVD nblk+32(FP), R4")
	if setup != nil {
		setup(e)
	}
	e.label("row")
	e.ins("VEOR V26.B16, V26.B16, V26.B16")
	e.ins("VEOR V27.B16, V27.B16, V27.B16")
	if mins {
		e.ins("VEOR V29.B16, V29.B16, V29.B16")
	}
	e.ins("MOVD R2, R5")
	e.ins("MOVD R4, R6")
	e.label("block")
	e.ins("VEOR V24.B16, V24.B16, V24.B16")
	e.ins("VEOR V25.B16, V25.B16, V25.B16")
	body(e, sdot)
	e.word(scvtfEnc(24, 24))
	e.word(scvtfEnc(25, 25))
	dscale(e, sdot) // d in S20
	e.ins("VDUP V20.S[0], V20.S4")
	if fused {
		e.word(fmlaEnc(26, 24, 20))
		e.word(fmlaEnc(27, 25, 20))
	} else {
		e.word(fmulEnc(24, 24, 20))
		e.word(fmulEnc(25, 25, 20))
		e.word(faddEnc(26, 26, 24))
		e.word(faddEnc(27, 27, 25))
	}
	e.ins("ADD $%d, R1, R1", wBytes)
	e.ins("ADD $%d, R5, R5", yBytes)
	e.ins("SUBS $1, R6, R6")
	e.ins("BNE %s_block", name)
	// hsum_float_8: x = acc0 + acc1 = [a0+a4, a1+a5, a2+a6, a3+a7], then
	// (x0+x2) + (x1+x3).
	e.word(faddEnc(26, 26, 27))
	e.ins("VEXT $8, V26.B16, V26.B16, V27.B16")
	e.word(faddEnc(26, 26, 27))
	e.word(faddpScalarEnc(26, 26))
	if mins {
		e.ins("VEXT $8, V29.B16, V29.B16, V30.B16")
		e.word(faddEnc(29, 29, 30))
		e.word(faddpScalarEnc(29, 29))
		e.ins("FADDS F29, F26, F26")
	}
	e.ins("FMOVS.P F26, 4(R0)")
	e.ins("SUBS $1, R3, R3")
	e.ins("BNE %s_row", name)
	e.ins("RET")
}

// dot4 adds the products of bytes 4m..4m+3 of a and b to lane m of acc
// (int32); t1, t2 are scratch for the form without SDOT.
func dot4(e *emitter, sdot bool, acc, a, b, t1, t2 V) {
	if sdot {
		e.word(sdotEnc(acc, a, b))
		return
	}
	e.word(smullEnc(t1, a, b, false))
	e.word(smullEnc(t2, a, b, true))
	e.ins("VADDP %s.H8, %s.H8, %s.H8", t2, t1, t1)
	e.word(sadalpEnc(acc, t1))
}

// f16ScaleAt loads f32(fp16 at w+off)·y.d into S20.
func f16ScaleAt(off int) func(e *emitter, sdot bool) {
	return func(e *emitter, sdot bool) {
		e.ins("MOVHU %d(R1), R7", off)
		e.ins("FMOVS R7, F20")
		e.ins("FCVTHS F20, F20")
		e.ins("FMOVS (R5), F21")
		e.ins("FMULS F21, F20, F20")
	}
}

func q80Scale(e *emitter, sdot bool) {
	e.ins("MOVHU (R1), R7")
	e.ins("MOVHU (R5), R8")
	e.ins("FMOVS R7, F20")
	e.ins("FCVTHS F20, F20")
	e.ins("FMOVS R8, F21")
	e.ins("FCVTHS F21, F21")
	e.ins("FMULS F21, F20, F20")
}

// loadQ8K loads the 256 activation quants of the block at R5 into
// V4..V19 (chunk c, half h in V(4+2c+h)).
func loadQ8K(e *emitter) {
	e.ins("ADD $4, R5, R7")
	for i := 0; i < 4; i++ {
		e.ins("VLD1.P 64(R7), [V%d.B16, V%d.B16, V%d.B16, V%d.B16]", 4+4*i, 5+4*i, 6+4*i, 7+4*i)
	}
}

// subBsums subtracts bsums[2m] + bsums[2m+1] from lane m.
func subBsums(e *emitter) {
	e.ins("ADD $260, R5, R7")
	e.ins("VLD1 (R7), [V20.H8, V21.H8]")
	e.word(saddlp4sEnc(20, 20))
	e.word(saddlp4sEnc(21, 21))
	e.ins("VSUB V20.S4, V24.S4, V24.S4")
	e.ins("VSUB V21.S4, V25.S4, V25.S4")
}

func tq2Setup(e *emitter) { e.ins("VMOVI $3, V31.B16") }

// tq2Body: qs in V0..V3 (half j, 16-byte part h in V(2j+h)); the codes of
// element 128j + 32l + m are bits 2l of byte m of half j.
func tq2Body(e *emitter, sdot bool) {
	e.ins("VLD1 (R1), [V0.B16, V1.B16, V2.B16, V3.B16]")
	loadQ8K(e)
	for j := 0; j < 2; j++ {
		for l := 0; l < 4; l++ {
			for h := 0; h < 2; h++ {
				src, t := V(2*j+h), V(22+h)
				switch l {
				case 0:
					e.ins("VAND V31.B16, %s.B16, %s.B16", src, t)
				case 3:
					e.ins("VUSHR $6, %s.B16, %s.B16", src, t)
				default:
					e.ins("VUSHR $%d, %s.B16, %s.B16", 2*l, src, t)
					e.ins("VAND V31.B16, %s.B16, %s.B16", t, t)
				}
				dot4(e, sdot, V(24+h), t, V(4+2*(4*j+l)+h), 20, 21)
			}
		}
	}
	subBsums(e)
}

func tq1Setup(e *emitter) {
	e.ins("VMOVI $85, V28.B16")
	e.ins("VMOVI $170, V29.B16")
}

// trit sets t to the trits (q·3)>>8 of the bytes of q: (q > 85) + (q > 170).
func trit(e *emitter, q, t V) {
	e.word(cmhiEnc(t, q, 28))
	e.word(cmhiEnc(30, q, 29))
	e.ins("VADD V30.B16, %s.B16, %s.B16", t, t)
	e.word(negEnc(t, t))
}

// times3 sets q = 3·q (bytes) using t.
func times3(e *emitter, q, t V) {
	e.ins("VADD %s.B16, %s.B16, %s.B16", q, q, t)
	e.ins("VADD %s.B16, %s.B16, %s.B16", t, q, q)
}

// tq1Body: elements 32n+m are trit n of qs[m] (n < 5), 160+16n+m trit n of
// qs[32+m], 240+4n+j trit n of qh[j].
func tq1Body(e *emitter, sdot bool) {
	e.ins("VLD1 (R1), [V0.B16, V1.B16, V2.B16]")
	e.ins("MOVWU 48(R1), R8")
	loadQ8K(e)
	e.ins("VMOV V0.B16, V20.B16")
	e.ins("VMOV V1.B16, V21.B16")
	for n := 0; n < 5; n++ {
		if n > 0 {
			times3(e, 20, 22)
			times3(e, 21, 23)
		}
		for h := 0; h < 2; h++ {
			trit(e, V(20+h), 31)
			dot4(e, sdot, V(24+h), 31, V(4+2*n+h), 22, 23)
		}
	}
	// qh: dword n of V23 holds qh·3ⁿ.
	e.ins("VDUP R8, V21.S4")
	e.ins("VMOV V21.B16, V23.B16")
	for n := 1; n < 4; n++ {
		times3(e, 21, 22)
		e.ins("VMOV V21.S[%d], V23.S[%d]", n, n)
	}
	e.ins("VMOV V2.B16, V20.B16")
	for n := 0; n < 5; n++ {
		if n > 0 {
			times3(e, 20, 22)
		}
		c, h := 5+n/2, n%2
		trit(e, 20, 31)
		dot4(e, sdot, V(24+h), 31, V(4+2*c+h), 21, 22)
	}
	trit(e, 23, 31)
	dot4(e, sdot, 25, 31, V(4+2*7+1), 21, 22)
	subBsums(e)
}

func q80Body(e *emitter, sdot bool) {
	e.ins("ADD $2, R1, R7")
	e.ins("VLD1 (R7), [V0.B16, V1.B16]")
	e.ins("ADD $2, R5, R8")
	e.ins("VLD1 (R8), [V2.B16, V3.B16]")
	dot4(e, sdot, 24, 0, 2, 20, 21)
	dot4(e, sdot, 25, 1, 3, 20, 21)
}

func q6kSetup(e *emitter) {
	e.ins("VMOVI $15, V28.B16")
	e.ins("VMOVI $48, V29.B16")
	e.ins("VMOVI $32, V30.B16")
}

// q6kBody: scales widened to int32 in V16..V19 (scale s in V(16+s/4) lane
// s%4); per half j: ql in V0..V3, qh in V4, V5, the activations of chunk
// 4j+k, part h in V(6+2k+h). Part h of chunk c gets scale 2c+h, which
// MLA (by element) applies to its four lanes.
func q6kBody(e *emitter, sdot bool) {
	e.ins("ADD $192, R1, R7")
	e.ins("VLD1 (R7), [V20.B16]")
	e.word(sshllEnc(21, 20, false, false))
	e.word(sshllEnc(22, 20, false, true))
	e.word(sshllEnc(16, 21, true, false))
	e.word(sshllEnc(17, 21, true, true))
	e.word(sshllEnc(18, 22, true, false))
	e.word(sshllEnc(19, 22, true, true))
	for j := 0; j < 2; j++ {
		e.ins("ADD $%d, R1, R7", 64*j)
		e.ins("VLD1 (R7), [V0.B16, V1.B16, V2.B16, V3.B16]")
		e.ins("ADD $%d, R1, R7", 128+32*j)
		e.ins("VLD1 (R7), [V4.B16, V5.B16]")
		e.ins("ADD $%d, R5, R7", 4+128*j)
		e.ins("VLD1.P 64(R7), [V6.B16, V7.B16, V8.B16, V9.B16]")
		e.ins("VLD1 (R7), [V10.B16, V11.B16, V12.B16, V13.B16]")
		for k := 0; k < 4; k++ {
			for h := 0; h < 2; h++ {
				src := V(h)
				if k%2 == 1 {
					src = V(2 + h)
				}
				qh := V(4 + h)
				if k < 2 {
					e.ins("VAND V28.B16, %s.B16, V14.B16", src)
				} else {
					e.ins("VUSHR $4, %s.B16, V14.B16", src)
				}
				switch k {
				case 0:
					e.ins("VSHL $4, %s.B16, V15.B16", qh)
					e.ins("VAND V29.B16, V15.B16, V15.B16")
				case 1:
					e.ins("VSHL $2, %s.B16, V15.B16", qh)
					e.ins("VAND V29.B16, V15.B16, V15.B16")
				case 2:
					e.ins("VAND V29.B16, %s.B16, V15.B16", qh)
				case 3:
					e.ins("VUSHR $2, %s.B16, V15.B16", qh)
					e.ins("VAND V29.B16, V15.B16, V15.B16")
				}
				e.ins("VORR V15.B16, V14.B16, V14.B16")
				e.ins("VSUB V30.B16, V14.B16, V14.B16") // q6 − 32
				y := V(6 + 2*k + h)
				if sdot {
					e.ins("VEOR V15.B16, V15.B16, V15.B16")
					e.word(sdotEnc(15, 14, y))
				} else {
					e.word(smullEnc(20, 14, y, false))
					e.word(smullEnc(21, 14, y, true))
					e.ins("VADDP V21.H8, V20.H8, V20.H8")
					e.word(saddlp4sEnc(15, 20))
				}
				s := 2*(4*j+k) + h
				e.word(mlaElemEnc(V(24+h), 15, V(16+s/4), s%4))
			}
		}
	}
}

func q4kSetup(e *emitter) { e.ins("VMOVI $15, V28.B16") }

// q4kBody: the six-bit scales and mins unpacked in general registers as
// ggml's utmp (bytes sc0..7, m0..7 in V20), scales widened to int32 in V16,
// V17; the mins times the Q8_K sub-block sums (ADDP of the bsums) into V29
// with −y.d·dmin; per 64 elements j, low nibbles with scale 2j, high
// nibbles with scale 2j+1 (MLA by element).
func q4kBody(e *emitter, sdot bool) {
	e.ins("MOVWU 4(R1), R7")
	e.ins("MOVWU 8(R1), R8")
	e.ins("MOVWU 12(R1), R9")
	e.ins("LSRW $4, R9, R10")
	e.ins("ANDW $0x0f0f0f0f, R10, R10")
	e.ins("LSRW $6, R8, R11")
	e.ins("ANDW $0x03030303, R11, R11")
	e.ins("ORRW R11<<4, R10, R10")    // mins 4-7
	e.ins("ANDW $0x3f3f3f3f, R8, R8") // mins 0-3
	e.ins("ANDW $0x0f0f0f0f, R9, R9")
	e.ins("LSRW $6, R7, R11")
	e.ins("ANDW $0x03030303, R11, R11")
	e.ins("ORRW R11<<4, R9, R9")      // scales 4-7
	e.ins("ANDW $0x3f3f3f3f, R7, R7") // scales 0-3
	e.ins("VMOV R7, V20.S[0]")
	e.ins("VMOV R9, V20.S[1]")
	e.ins("VMOV R8, V20.S[2]")
	e.ins("VMOV R10, V20.S[3]")
	e.word(ushllEnc(21, 20, false, false))
	e.word(ushllEnc(16, 21, true, false))
	e.word(ushllEnc(17, 21, true, true))
	e.word(ushllEnc(22, 20, false, true)) // mins as int16
	e.ins("ADD $260, R5, R7")
	e.ins("VLD1 (R7), [V18.H8, V19.H8]")
	e.ins("VADDP V19.H8, V18.H8, V18.H8") // sub-block sums
	e.word(smull16Enc(23, 22, 18, false))
	e.word(smull16Enc(21, 22, 18, true))
	e.ins("VADDP V21.S4, V23.S4, V23.S4")
	e.word(scvtfEnc(23, 23))
	e.ins("MOVHU 2(R1), R7")
	e.ins("FMOVS R7, F21")
	e.ins("FCVTHS F21, F21")
	e.ins("FMOVS (R5), F22")
	e.ins("FMULS F22, F21, F21")
	e.ins("FNEGS F21, F21")
	e.ins("VDUP V21.S[0], V21.S4")
	e.word(fmlaEnc(29, 23, 21))
	for j := 0; j < 4; j++ {
		e.ins("ADD $%d, R1, R7", 16+32*j)
		e.ins("VLD1 (R7), [V0.B16, V1.B16]")
		e.ins("ADD $%d, R5, R7", 4+64*j)
		e.ins("VLD1 (R7), [V2.B16, V3.B16, V4.B16, V5.B16]")
		e.ins("VAND V28.B16, V0.B16, V6.B16")
		e.ins("VAND V28.B16, V1.B16, V7.B16")
		e.ins("VUSHR $4, V0.B16, V8.B16")
		e.ins("VUSHR $4, V1.B16, V9.B16")
		for i, qv := range []V{6, 7, 8, 9} {
			h, s := i%2, 2*j+i/2
			y := V(2 + i)
			if sdot {
				e.ins("VEOR V10.B16, V10.B16, V10.B16")
				e.word(sdotEnc(10, qv, y))
			} else {
				e.word(smullEnc(11, qv, y, false))
				e.word(smullEnc(12, qv, y, true))
				e.ins("VADDP V12.H8, V11.H8, V11.H8")
				e.word(saddlp4sEnc(10, 11))
			}
			e.word(mlaElemEnc(V(24+h), 10, V(16+s/4), s%4))
		}
	}
}

// ---------------------------------------------------------------------------
// Encoders of the block kernels (checked in encode_test.go against llvm-mc).
// ---------------------------------------------------------------------------

// SCVTF Vd.4S, Vn.4S.
func scvtfEnc(d, n V) inst {
	return inst{rr(0x4e21d800, d, n), fmt.Sprintf("SCVTF v%d.4s, v%d.4s", d, n)}
}

// FADD Vd.4S, Vn.4S, Vm.4S.
func faddEnc(d, n, m V) inst {
	return inst{rrr(0x4e20d400, d, n, m), fmt.Sprintf("FADD v%d.4s, v%d.4s, v%d.4s", d, n, m)}
}

// FMLA Vd.4S, Vn.4S, Vm.4S (fused: Vd + Vn·Vm rounded once).
func fmlaEnc(d, n, m V) inst {
	return inst{rrr(0x4e20cc00, d, n, m), fmt.Sprintf("FMLA v%d.4s, v%d.4s, v%d.4s", d, n, m)}
}

// FADDP Sd, Vn.2S.
func faddpScalarEnc(d, n V) inst {
	return inst{rr(0x7e30d800, d, n), fmt.Sprintf("FADDP s%d, v%d.2s", d, n)}
}

// SSHLL{2} #0 (SXTL): Vd.8H ← Vn.8B/16B, or (to32) Vd.4S ← Vn.4H/8H.
func sshllEnc(d, n V, to32, hi bool) inst {
	base, src, dst := uint32(0x0f08a400), "8b", "8h"
	if to32 {
		base, src, dst = 0x0f10a400, "4h", "4s"
	}
	op := "SSHLL"
	if hi {
		base |= 1 << 30
		op = "SSHLL2"
		src = map[string]string{"8b": "16b", "4h": "8h"}[src]
	}
	return inst{rr(base, d, n), fmt.Sprintf("%s v%d.%s, v%d.%s, #0", op, d, dst, n, src)}
}

// MLA Vd.4S, Vn.4S, Vm.S[i].
func mlaElemEnc(d, n, m V, i int) inst {
	enc := rrr(0x6f800000, d, n, m) | uint32(i&1)<<21 | uint32(i>>1)<<11
	return inst{enc, fmt.Sprintf("MLA v%d.4s, v%d.4s, v%d.s[%d]", d, n, m, i)}
}

// CMHI Vd.16B, Vn.16B, Vm.16B (unsigned Vn > Vm).
func cmhiEnc(d, n, m V) inst {
	return inst{rrr(0x6e203400, d, n, m), fmt.Sprintf("CMHI v%d.16b, v%d.16b, v%d.16b", d, n, m)}
}

// NEG Vd.16B, Vn.16B.
func negEnc(d, n V) inst {
	return inst{rr(0x6e20b800, d, n), fmt.Sprintf("NEG v%d.16b, v%d.16b", d, n)}
}

// SADDLP Vd.4S, Vn.8H.
func saddlp4sEnc(d, n V) inst {
	return inst{rr(0x4e602800, d, n), fmt.Sprintf("SADDLP v%d.4s, v%d.8h", d, n)}
}

// USHLL{2} #0 (UXTL): Vd.8H ← Vn.8B/16B, or (to32) Vd.4S ← Vn.4H/8H.
func ushllEnc(d, n V, to32, hi bool) inst {
	in := sshllEnc(d, n, to32, hi)
	in.enc |= 1 << 29
	in.text = "U" + in.text[1:]
	return in
}

// SMULL{2} Vd.4S, Vn.{4,8}H, Vm.{4,8}H.
func smull16Enc(d, n, m V, hi bool) inst {
	if hi {
		return inst{rrr(0x4e60c000, d, n, m), fmt.Sprintf("SMULL2 v%d.4s, v%d.8h, v%d.8h", d, n, m)}
	}
	return inst{rrr(0x0e60c000, d, n, m), fmt.Sprintf("SMULL v%d.4s, v%d.4h, v%d.4h", d, n, m)}
}
