package main

import "fmt"

// The F16 output head on NEON: f16DotsNEON converts 16 F16 weights per
// step with FCVTL/FCVTL2 (half to single, exact) and multiplies them with
// the f32 activations into four 4-lane FMLA accumulators (lane l of
// accumulator a sums the columns 16i + 4a + l), then adds the accumulators
// and their lanes. Like the x86 kernels it accumulates in float32 in its own
// lane order (ggml's NEON head multiplies in F16 arithmetic where the CPU
// has it; the golden tests bound the difference).

func init() {
	kernels = append(kernels, kernel{
		sig: "func f16DotsNEON(dst *float32, w *uint16, x *float32, rows int, k int)",
		doc: []string{
			"f16DotsNEON sets dst[r] = Σ_i f32(w[r·k + i])·x[i] for r < rows over the",
			"first k &^ 15 columns (k ≥ 16), accumulated in float32.",
		},
		body: f16DotsBody,
	})
}

func f16DotsBody(e *emitter) {
	e.text("f16DotsNEON", 40)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD w+8(FP), R1")
	e.ins("MOVD x+16(FP), R2")
	e.ins("MOVD rows+24(FP), R3")
	e.ins("MOVD k+32(FP), R4")
	e.ins("LSL $1, R4, R5") // row stride in bytes
	e.ins("LSR $4, R4, R6") // 16-column steps per row
	e.label("row")
	e.ins("MOVD R1, R7")
	e.ins("MOVD R2, R8")
	e.ins("MOVD R6, R9")
	for a := V(16); a < 20; a++ {
		e.ins("VEOR %s.B16, %s.B16, %s.B16", a, a, a)
	}
	e.label("loop")
	e.ins("VLD1.P 32(R7), [V0.H8, V1.H8]")
	e.ins("VLD1.P 64(R8), [V2.S4, V3.S4, V4.S4, V5.S4]")
	e.word(fcvtlEnc(6, 0, false))
	e.word(fcvtlEnc(7, 0, true))
	e.word(fcvtlEnc(8, 1, false))
	e.word(fcvtlEnc(9, 1, true))
	for a := V(0); a < 4; a++ {
		e.word(fmlaEnc(16+a, 6+a, 2+a))
	}
	e.ins("SUBS $1, R9, R9")
	e.ins("BNE f16DotsNEON_loop")
	e.word(faddEnc(16, 16, 17))
	e.word(faddEnc(18, 18, 19))
	e.word(faddEnc(16, 16, 18))
	e.word(faddpEnc(16, 16, 16))
	e.word(faddpScalarEnc(16, 16))
	e.ins("FMOVS F16, (R0)")
	e.ins("ADD $4, R0, R0")
	e.ins("ADD R5, R1, R1")
	e.ins("SUBS $1, R3, R3")
	e.ins("BNE f16DotsNEON_row")
	e.ins("RET")
}

// FCVTL{2} Vd.4S, Vn.{4,8}H: the low (high) four halves to singles.
func fcvtlEnc(d, n V, hi bool) inst {
	if hi {
		return inst{rr(0x4e217800, d, n), fmt.Sprintf("FCVTL2 v%d.4s, v%d.8h", d, n)}
	}
	return inst{rr(0x0e217800, d, n), fmt.Sprintf("FCVTL v%d.4s, v%d.4h", d, n)}
}

// FADDP Vd.4S, Vn.4S, Vm.4S (pairwise).
func faddpEnc(d, n, m V) inst {
	return inst{rrr(0x6e20d400, d, n, m), fmt.Sprintf("FADDP v%d.4s, v%d.4s, v%d.4s", d, n, m)}
}
