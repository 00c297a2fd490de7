package main

import "fmt"

// Attention over a binary16 KV cache on NEON (ref/attn.go): the query × key
// scores (f16DotsStridedNEON), the probability × value accumulation
// (f16AXPYStridedNEON, f16AXPYNEON) and the bulk conversions (f32ToF16sNEON
// for the cache stores, f16ToF32sNEON). Half to single is FCVTL/FCVTL2
// (exact, NaNs quieted with their payload, like generic.F16ToF32); single
// to half is FCVTN/FCVTN2, which rounds with the FPCR mode: Go leaves it at
// round to nearest even with flush-to-zero and default NaN off, which is
// generic.F32ToF16 bit for bit (NaNs included: sign, quiet bit, top nine
// payload bits). The AXPYs multiply (FMUL by element) and add (FADD)
// separately, never fused, as ref.F16AXPY does.

func init() {
	kernels = append(kernels,
		kernel{
			sig: "func f16DotsStridedNEON(dst *float32, k *uint16, stride int, q *uint16, rows int, n int)",
			doc: []string{
				"f16DotsStridedNEON sets dst[j] = Σ_i f32(k[j·stride + i])·f32(q[i]) for",
				"j < rows (rows ≥ 1) over the first n &^ 7 elements (n ≥ 8; stride in",
				"elements), accumulated in float32.",
			},
			body: f16DotsStridedBody,
		},
		kernel{
			sig: "func f16AXPYStridedNEON(dst *float32, a *float32, x *uint16, stride int, rows int, n int)",
			doc: []string{
				"f16AXPYStridedNEON sets dst[i] += a[j]·f32(x[j·stride + i]) for j = 0, 1,",
				"…, rows−1 in turn (rows ≥ 1) and i < n (n a positive multiple of 8; stride",
				"in elements), with FMUL then FADD (no FMA): bit-exact with rows calls of",
				"ref.F16AXPY.",
			},
			body: f16AXPYStridedBody,
		},
		kernel{
			sig: "func f32ToF16sNEON(dst *uint16, src *float32, n int)",
			doc: []string{
				"f32ToF16sNEON converts n floats (n a positive multiple of 16) to binary16",
				"with FCVTN/FCVTN2, rounding to nearest even: bit-exact with",
				"generic.F32ToF16.",
			},
			body: f32ToF16sBody,
		},
		kernel{
			sig: "func f16ToF32sNEON(dst *float32, src *uint16, n int)",
			doc: []string{
				"f16ToF32sNEON converts n binary16 values (n a positive multiple of 16) to",
				"float32 with FCVTL/FCVTL2: exact, NaNs quieted, bit-exact with",
				"generic.F16ToF32.",
			},
			body: f16ToF32sBody,
		},
		kernel{
			sig: "func f16AXPYNEON(dst *float32, a float32, x *uint16, n int)",
			doc: []string{
				"f16AXPYNEON sets dst[i] += a·f32(x[i]) for n floats (n a positive multiple",
				"of 16), with FMUL then FADD (no FMA): bit-exact with ref.F16AXPY.",
			},
			body: f16AXPYBody,
		},
	)
}

// f16DotsStridedBody: rows four at a time (each 8 halves of q converted
// once for the four rows; row r's two accumulators V16+2r, V17+2r; the
// four sums leave with one store), then one at a time. Row pointers
// R10..R13.
func f16DotsStridedBody(e *emitter) {
	e.text("f16DotsStridedNEON", 48)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD k+8(FP), R1")
	e.ins("MOVD stride+16(FP), R2")
	e.ins("LSL $1, R2, R2") // bytes
	e.ins("MOVD q+24(FP), R3")
	e.ins("MOVD rows+32(FP), R4")
	e.ins("MOVD n+40(FP), R5")
	e.ins("LSR $3, R5, R5") // 8-element steps
	e.ins("LSL $2, R2, R6") // four rows
	e.label("tile4")
	e.ins("CMP $4, R4")
	e.ins("BLT f16DotsStridedNEON_tile1")
	for a := V(16); a < 24; a++ {
		e.ins("VEOR %s.B16, %s.B16, %s.B16", a, a, a)
	}
	e.ins("MOVD R1, R10")
	for r := 1; r < 4; r++ {
		e.ins("ADD R2, R%d, R%d", 9+r, 10+r)
	}
	e.ins("MOVD R3, R14")
	e.ins("MOVD R5, R15")
	e.label("tile4_loop")
	e.ins("VLD1.P 16(R14), [V0.H8]")
	e.word(fcvtlEnc(1, 0, false))
	e.word(fcvtlEnc(2, 0, true))
	for r := V(0); r < 4; r++ {
		e.ins("VLD1.P 16(R%d), [%s.H8]", 10+r, 3+r)
	}
	for r := V(0); r < 4; r++ {
		e.word(fcvtlEnc(7+2*r, 3+r, false))
		e.word(fcvtlEnc(8+2*r, 3+r, true))
	}
	for r := V(0); r < 4; r++ {
		e.word(fmlaEnc(16+2*r, 7+2*r, 1))
		e.word(fmlaEnc(17+2*r, 8+2*r, 2))
	}
	e.ins("SUBS $1, R15, R15")
	e.ins("BNE f16DotsStridedNEON_tile4_loop")
	// Row r's sum: (lane 0 + lane 1) + (lane 2 + lane 3) of V16+2r + V17+2r,
	// as in the one-row tail below.
	for r := V(0); r < 4; r++ {
		e.word(faddEnc(16+2*r, 16+2*r, 17+2*r))
	}
	e.word(faddpEnc(16, 16, 18))
	e.word(faddpEnc(20, 20, 22))
	e.word(faddpEnc(16, 16, 20))
	e.ins("VST1.P [V16.S4], 16(R0)")
	e.ins("ADD R6, R1, R1")
	e.ins("SUB $4, R4, R4")
	e.ins("B f16DotsStridedNEON_tile4")
	e.label("tile1")
	e.ins("CBZ R4, f16DotsStridedNEON_done")
	e.ins("VEOR V16.B16, V16.B16, V16.B16")
	e.ins("VEOR V17.B16, V17.B16, V17.B16")
	e.ins("MOVD R1, R10")
	e.ins("MOVD R3, R14")
	e.ins("MOVD R5, R15")
	e.label("tile1_loop")
	e.ins("VLD1.P 16(R14), [V0.H8]")
	e.ins("VLD1.P 16(R10), [V3.H8]")
	e.word(fcvtlEnc(1, 0, false))
	e.word(fcvtlEnc(2, 0, true))
	e.word(fcvtlEnc(7, 3, false))
	e.word(fcvtlEnc(8, 3, true))
	e.word(fmlaEnc(16, 7, 1))
	e.word(fmlaEnc(17, 8, 2))
	e.ins("SUBS $1, R15, R15")
	e.ins("BNE f16DotsStridedNEON_tile1_loop")
	e.word(faddEnc(16, 16, 17))
	e.word(faddpEnc(16, 16, 16))
	e.word(faddpScalarEnc(16, 16))
	e.ins("FMOVS.P F16, 4(R0)")
	e.ins("ADD R2, R1, R1")
	e.ins("SUB $1, R4, R4")
	e.ins("B f16DotsStridedNEON_tile1")
	e.label("done")
	e.ins("RET")
}

// f16AXPYStridedBody keeps a block of dst in registers while it adds every
// row's products in row order, so each element sees exactly the operations
// of one ref.F16AXPY per row: blocks of 64 floats (V16..V31), then of 8
// (V16, V17). a[j] is loaded as a scalar into V8 and used by element.
func f16AXPYStridedBody(e *emitter) {
	const name = "f16AXPYStridedNEON"
	e.text(name, 48)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD a+8(FP), R1")
	e.ins("MOVD x+16(FP), R2")
	e.ins("MOVD stride+24(FP), R3")
	e.ins("LSL $1, R3, R3") // bytes
	e.ins("MOVD rows+32(FP), R4")
	e.ins("MOVD n+40(FP), R5")
	e.ins("LSR $6, R5, R6")  // 64-float blocks
	e.ins("AND $63, R5, R7") // then 8-float blocks
	e.ins("LSR $3, R7, R7")
	e.ins("SUB $64, R3, R8") // stride less the first 32 halves
	e.label("cols64")
	e.ins("CBZ R6, %s_cols8", name)
	e.ins("MOVD R0, R9")
	e.ins("VLD1.P 64(R9), [V16.S4, V17.S4, V18.S4, V19.S4]")
	e.ins("VLD1.P 64(R9), [V20.S4, V21.S4, V22.S4, V23.S4]")
	e.ins("VLD1.P 64(R9), [V24.S4, V25.S4, V26.S4, V27.S4]")
	e.ins("VLD1 (R9), [V28.S4, V29.S4, V30.S4, V31.S4]")
	e.ins("MOVD R1, R10")
	e.ins("MOVD R2, R11")
	e.ins("MOVD R4, R12")
	e.label("cols64_row")
	e.ins("FMOVS.P 4(R10), F8")
	for half := V(0); half < 2; half++ {
		if half == 0 {
			e.ins("VLD1.P 64(R11), [V0.H8, V1.H8, V2.H8, V3.H8]")
		} else {
			e.ins("VLD1 (R11), [V0.H8, V1.H8, V2.H8, V3.H8]")
		}
		// Halves 8i..8i+7 of this 32 become V(i) (low four) and V(4+i).
		for i := V(0); i < 4; i++ {
			e.word(fcvtlEnc(4+i, i, true))
			e.word(fcvtlEnc(i, i, false))
		}
		for i := V(0); i < 8; i++ {
			e.word(fmulElemEnc(i, i, 8, 0))
		}
		for i := V(0); i < 4; i++ {
			acc := 16 + 8*half + 2*i
			e.word(faddEnc(acc, acc, i))
			e.word(faddEnc(acc+1, acc+1, 4+i))
		}
	}
	e.ins("ADD R8, R11, R11")
	e.ins("SUBS $1, R12, R12")
	e.ins("BNE %s_cols64_row", name)
	e.ins("VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R0)")
	e.ins("VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R0)")
	e.ins("VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R0)")
	e.ins("VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], 64(R0)")
	e.ins("ADD $128, R2, R2")
	e.ins("SUB $1, R6, R6")
	e.ins("B %s_cols64", name)
	e.label("cols8")
	e.ins("CBZ R7, %s_done", name)
	e.ins("VLD1 (R0), [V16.S4, V17.S4]")
	e.ins("MOVD R1, R10")
	e.ins("MOVD R2, R11")
	e.ins("MOVD R4, R12")
	e.label("cols8_row")
	e.ins("FMOVS.P 4(R10), F8")
	e.ins("VLD1.P (R11)(R3), [V0.H8]")
	e.word(fcvtlEnc(1, 0, true))
	e.word(fcvtlEnc(0, 0, false))
	e.word(fmulElemEnc(0, 0, 8, 0))
	e.word(fmulElemEnc(1, 1, 8, 0))
	e.word(faddEnc(16, 16, 0))
	e.word(faddEnc(17, 17, 1))
	e.ins("SUBS $1, R12, R12")
	e.ins("BNE %s_cols8_row", name)
	e.ins("VST1.P [V16.S4, V17.S4], 32(R0)")
	e.ins("ADD $16, R2, R2")
	e.ins("SUB $1, R7, R7")
	e.ins("B %s_cols8", name)
	e.label("done")
	e.ins("RET")
}

func f32ToF16sBody(e *emitter) {
	e.text("f32ToF16sNEON", 24)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD src+8(FP), R1")
	e.ins("MOVD n+16(FP), R2")
	e.ins("LSR $4, R2, R2")
	e.label("loop")
	e.ins("VLD1.P 64(R1), [V0.S4, V1.S4, V2.S4, V3.S4]")
	e.word(fcvtnEnc(4, 0, false))
	e.word(fcvtnEnc(4, 1, true))
	e.word(fcvtnEnc(5, 2, false))
	e.word(fcvtnEnc(5, 3, true))
	e.ins("VST1.P [V4.H8, V5.H8], 32(R0)")
	e.ins("SUBS $1, R2, R2")
	e.ins("BNE f32ToF16sNEON_loop")
	e.ins("RET")
}

func f16ToF32sBody(e *emitter) {
	e.text("f16ToF32sNEON", 24)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD src+8(FP), R1")
	e.ins("MOVD n+16(FP), R2")
	e.ins("LSR $4, R2, R2")
	e.label("loop")
	e.ins("VLD1.P 32(R1), [V0.H8, V1.H8]")
	for i := V(0); i < 4; i++ {
		e.word(fcvtlEnc(2+i, i/2, i%2 == 1))
	}
	e.ins("VST1.P [V2.S4, V3.S4, V4.S4, V5.S4], 64(R0)")
	e.ins("SUBS $1, R2, R2")
	e.ins("BNE f16ToF32sNEON_loop")
	e.ins("RET")
}

func f16AXPYBody(e *emitter) {
	e.text("f16AXPYNEON", 32)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("FMOVS a+8(FP), F8")
	e.ins("MOVD x+16(FP), R1")
	e.ins("MOVD n+24(FP), R2")
	e.ins("LSR $4, R2, R2")
	e.label("loop")
	e.ins("VLD1.P 32(R1), [V0.H8, V1.H8]")
	e.ins("VLD1 (R0), [V4.S4, V5.S4, V6.S4, V7.S4]")
	for i := V(0); i < 4; i++ {
		e.word(fcvtlEnc(16+i, i/2, i%2 == 1))
	}
	for i := V(0); i < 4; i++ {
		e.word(fmulElemEnc(16+i, 16+i, 8, 0))
	}
	for i := V(0); i < 4; i++ {
		e.word(faddEnc(4+i, 4+i, 16+i))
	}
	e.ins("VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)")
	e.ins("SUBS $1, R2, R2")
	e.ins("BNE f16AXPYNEON_loop")
	e.ins("RET")
}

// FCVTN{2} Vd.{4,8}H, Vn.4S: four singles to halves in the low (high) half
// of Vd, rounding with the FPCR mode.
func fcvtnEnc(d, n V, hi bool) inst {
	if hi {
		return inst{rr(0x4e216800, d, n), fmt.Sprintf("FCVTN2 v%d.8h, v%d.4s", d, n)}
	}
	return inst{rr(0x0e216800, d, n), fmt.Sprintf("FCVTN v%d.4h, v%d.4s", d, n)}
}

// FMUL Vd.4S, Vn.4S, Vm.S[i] (by element).
func fmulElemEnc(d, n, m V, i int) inst {
	enc := rrr(0x4f809000, d, n, m) | uint32(i&1)<<21 | uint32(i>>1)<<11
	return inst{enc, fmt.Sprintf("FMUL v%d.4s, v%d.4s, v%d.s[%d]", d, n, m, i)}
}
