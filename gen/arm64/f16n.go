package main

import "fmt"

// The n-token F16 head (f16DotsNEONN2..N4) and the float dots (dotF32NEON,
// dotF16NEON).

func init() {
	for n := 2; n <= f16MaxN; n++ {
		name := fmt.Sprintf("f16DotsNEONN%d", n)
		kernels = append(kernels, kernel{
			sig: fmt.Sprintf("func %s(dst *float32, ldd int, w *uint16, x *float32, ldx int, rows int, k int)", name),
			doc: []string{
				fmt.Sprintf("%s sets dst[t·ldd + r] = Σ_i f32(w[r·k + i])·x[t·ldx + i] for t < %d,", name, n),
				"r < rows, over the first k &^ 15 columns (k ≥ 16), as f16DotsNEON does per",
				"token (bit for bit).",
			},
			body: func(e *emitter) { f16DotsNBody(e, name, n) },
		})
	}
	kernels = append(kernels,
		kernel{
			sig:  "func dotF32NEON(a, b *float32, n int) float32",
			doc:  []string{"dotF32NEON returns Σ a[i]·b[i] over n floats (n a positive multiple of 16)."},
			body: dotF32Body,
		},
		kernel{
			sig: "func dotF16NEON(a, b *uint16, n int) float32",
			doc: []string{
				"dotF16NEON returns Σ f32(a[i])·f32(b[i]) over n binary16 values (n a",
				"positive multiple of 16), accumulated in float32.",
			},
			body: dotF16Body,
		},
	)
}

// f16MaxN is the most tokens an f16DotsNEONN kernel takes: four
// accumulators per token (V16..V31 for four), and four tokens' activations
// of the 2B4T head (40 KiB) fit a 64 KiB L1.
const f16MaxN = 4

// fold4 adds the four accumulators a..a+3 and then the lanes of the sum,
// as f16DotsNEON does, into lane 0 of a (Fa).
func fold4(e *emitter, a V) {
	e.word(faddEnc(a, a, a+1))
	e.word(faddEnc(a+2, a+2, a+3))
	e.word(faddEnc(a, a, a+2))
	e.word(faddpEnc(a, a, a))
	e.word(faddpScalarEnc(a, a))
}

// f16DotsNBody is f16DotsBody for n tokens: the 16 weights of a step are
// converted once (V6..V9) and each token t multiplies them with its own
// activations (V2..V5 or V10..V13, alternately) into its own accumulators
// V16+4t..V19+4t, with the FMLAs of f16DotsNEON in the same order, and
// folds them the same way. Token t's activations: R(10+t).
func f16DotsNBody(e *emitter, name string, n int) {
	e.text(name, 56)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD ldd+8(FP), R1")
	e.ins("LSL $2, R1, R1") // bytes between tokens' outputs
	e.ins("MOVD w+16(FP), R2")
	e.ins("MOVD x+24(FP), R3")
	e.ins("MOVD ldx+32(FP), R4")
	e.ins("LSL $2, R4, R4") // bytes between tokens' activations
	e.ins("MOVD rows+40(FP), R5")
	e.ins("MOVD k+48(FP), R6")
	e.ins("LSL $1, R6, R7") // row stride in bytes
	e.ins("LSR $4, R6, R6") // 16-column steps per row
	e.label("row")
	e.ins("MOVD R2, R8")
	e.ins("MOVD R3, R10")
	for t := 1; t < n; t++ {
		e.ins("ADD R4, R%d, R%d", 9+t, 10+t)
	}
	e.ins("MOVD R6, R9")
	for a := V(16); a < V(16+4*n); a++ {
		e.ins("VEOR %s.B16, %s.B16, %s.B16", a, a, a)
	}
	e.label("loop")
	e.ins("VLD1.P 32(R8), [V0.H8, V1.H8]")
	e.word(fcvtlEnc(6, 0, false))
	e.word(fcvtlEnc(7, 0, true))
	e.word(fcvtlEnc(8, 1, false))
	e.word(fcvtlEnc(9, 1, true))
	for t := 0; t < n; t++ {
		x := V(2)
		if t%2 == 1 {
			x = 10
		}
		e.ins("VLD1.P 64(R%d), [%s.S4, %s.S4, %s.S4, %s.S4]", 10+t, x, x+1, x+2, x+3)
		for a := V(0); a < 4; a++ {
			e.word(fmlaEnc(V(16+4*t)+a, 6+a, x+a))
		}
	}
	e.ins("SUBS $1, R9, R9")
	e.ins("BNE %s_loop", name)
	e.ins("MOVD R0, R11")
	for t := 0; t < n; t++ {
		a := V(16 + 4*t)
		fold4(e, a)
		e.ins("FMOVS %s, (R11)", fReg(a))
		if t < n-1 {
			e.ins("ADD R1, R11, R11")
		}
	}
	e.ins("ADD $4, R0, R0")
	e.ins("ADD R7, R2, R2")
	e.ins("SUBS $1, R5, R5")
	e.ins("BNE %s_row", name)
	e.ins("RET")
}

// fReg names the scalar float view of a SIMD register.
func fReg(v V) string { return fmt.Sprintf("F%d", uint32(v)) }

func dotF32Body(e *emitter) {
	e.text("dotF32NEON", 28)
	e.ins("MOVD a+0(FP), R0")
	e.ins("MOVD b+8(FP), R1")
	e.ins("MOVD n+16(FP), R2")
	e.ins("LSR $4, R2, R2")
	for a := V(16); a < 20; a++ {
		e.ins("VEOR %s.B16, %s.B16, %s.B16", a, a, a)
	}
	e.label("loop")
	e.ins("VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]")
	e.ins("VLD1.P 64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]")
	for a := V(0); a < 4; a++ {
		e.word(fmlaEnc(16+a, a, 4+a))
	}
	e.ins("SUBS $1, R2, R2")
	e.ins("BNE dotF32NEON_loop")
	fold4(e, 16)
	e.ins("FMOVS F16, ret+24(FP)")
	e.ins("RET")
}

func dotF16Body(e *emitter) {
	e.text("dotF16NEON", 28)
	e.ins("MOVD a+0(FP), R0")
	e.ins("MOVD b+8(FP), R1")
	e.ins("MOVD n+16(FP), R2")
	e.ins("LSR $4, R2, R2")
	for a := V(16); a < 20; a++ {
		e.ins("VEOR %s.B16, %s.B16, %s.B16", a, a, a)
	}
	e.label("loop")
	e.ins("VLD1.P 32(R0), [V0.H8, V1.H8]")
	e.ins("VLD1.P 32(R1), [V2.H8, V3.H8]")
	for i := V(0); i < 4; i++ {
		e.word(fcvtlEnc(4+i, i/2, i%2 == 1))
		e.word(fcvtlEnc(8+i, 2+i/2, i%2 == 1))
	}
	for a := V(0); a < 4; a++ {
		e.word(fmlaEnc(16+a, 4+a, 8+a))
	}
	e.ins("SUBS $1, R2, R2")
	e.ins("BNE dotF16NEON_loop")
	fold4(e, 16)
	e.ins("FMOVS F16, ret+24(FP)")
	e.ins("RET")
}
