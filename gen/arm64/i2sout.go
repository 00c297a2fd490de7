package main

import "fmt"

// The I2_S output scaling of one token's row dots, generic.I2SOutput per
// lane: SCVTF (int32 to single, rounding with the FPCR mode, which Go
// leaves at round to nearest even, as its scalar float32(int32) does),
// then FSUB, FDIV (correctly rounded, no reciprocal estimate) and FMUL,
// each rounded to float32 in the scalar formula's order and never fused.
func init() {
	kernels = append(kernels, kernel{
		sig: "func i2sOutputsNEON(y *float32, raw *int32, n int, sum float32, s float32, gamma float32)",
		doc: []string{
			"i2sOutputsNEON sets y[i] = (float32(raw[i]) − sum) / s · gamma for n outputs",
			"(n a positive multiple of 4; sum already float32): bit-exact with",
			"generic.I2SOutput.",
		},
		body: i2sOutputsBody,
	})
}

// i2sOutputsBody: 16 outputs per step in V0..V3, then 4 at a time; sum, s
// and gamma broadcast in V28, V29, V30.
func i2sOutputsBody(e *emitter) {
	const name = "i2sOutputsNEON"
	e.text(name, 36)
	e.ins("MOVD y+0(FP), R0")
	e.ins("MOVD raw+8(FP), R1")
	e.ins("MOVD n+16(FP), R2")
	for i, p := range []string{"sum+24", "s+28", "gamma+32"} {
		r := 28 + i
		e.ins("FMOVS %s(FP), F%d", p, r)
		e.ins("VDUP V%d.S[0], V%d.S4", r, r)
	}
	e.ins("LSR $4, R2, R3")  // 16-output steps
	e.ins("AND $15, R2, R4") // then 4-output steps
	e.ins("LSR $2, R4, R4")
	e.label("loop16")
	e.ins("CBZ R3, %s_loop4", name)
	e.ins("VLD1.P 64(R1), [V0.S4, V1.S4, V2.S4, V3.S4]")
	for i := V(0); i < 4; i++ {
		e.word(scvtfEnc(i, i))
	}
	for i := V(0); i < 4; i++ {
		e.word(fsubEnc(i, i, 28))
	}
	for i := V(0); i < 4; i++ {
		e.word(fdivEnc(i, i, 29))
	}
	for i := V(0); i < 4; i++ {
		e.word(fmulEnc(i, i, 30))
	}
	e.ins("VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)")
	e.ins("SUB $1, R3, R3")
	e.ins("B %s_loop16", name)
	e.label("loop4")
	e.ins("CBZ R4, %s_done", name)
	e.ins("VLD1.P 16(R1), [V0.S4]")
	e.word(scvtfEnc(0, 0))
	e.word(fsubEnc(0, 0, 28))
	e.word(fdivEnc(0, 0, 29))
	e.word(fmulEnc(0, 0, 30))
	e.ins("VST1.P [V0.S4], 16(R0)")
	e.ins("SUB $1, R4, R4")
	e.ins("B %s_loop4", name)
	e.label("done")
	e.ins("RET")
}

// FSUB Vd.4S, Vn.4S, Vm.4S (Vn − Vm).
func fsubEnc(d, n, m V) inst {
	return inst{rrr(0x4ea0d400, d, n, m), fmt.Sprintf("FSUB v%d.4s, v%d.4s, v%d.4s", d, n, m)}
}

// FDIV Vd.4S, Vn.4S, Vm.4S (Vn / Vm).
func fdivEnc(d, n, m V) inst {
	return inst{rrr(0x6e20fc00, d, n, m), fmt.Sprintf("FDIV v%d.4s, v%d.4s, v%d.4s", d, n, m)}
}
