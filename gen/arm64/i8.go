package main

import "fmt"

// The int8 output head (ref.I8Dots, --head-int8) on NEON: rows four at a
// time, 64 columns per step (the activations loaded once for the four
// rows), then one row at a time. With the dot-product extension each 16
// bytes of a row are one SDOT; without it, SMULL/SMULL2 into int16 (one
// product per lane: two of −128·−128 would overflow) and SADALP into
// int32. Both wrap mod 2³² like the reference's int32 sums.

func init() {
	for _, sdot := range []bool{true, false} {
		name, how := "i8DotsNEON", "SMULL/SMULL2 and SADALP"
		if sdot {
			name, how = "i8DotsSDOT", "SDOT"
		}
		sdot := sdot
		kernels = append(kernels, kernel{
			sig: fmt.Sprintf("func %s(dst *int32, w *int8, q *int8, rows int, k int)", name),
			doc: []string{
				fmt.Sprintf("%s sets dst[r] = Σ_i w[r·k + i]·q[i] for r < rows (rows ≥ 1) over the", name),
				fmt.Sprintf("first k &^ 63 columns (k ≥ 64) of rows of k int8 weights (%s), in", how),
				"int32 wrapping like ref.I8Dots (so exact for every input).",
			},
			body: func(e *emitter) { i8DotsBody(e, name, sdot) },
		})
	}
}

// i8DotsBody: activations in V0..V3, row r's weights in V4..V7 or V8..V11
// (alternately), its two accumulators V16+2r, V17+2r; products (NEON) in
// V24..V31. Row pointers R10..R13.
func i8DotsBody(e *emitter, name string, sdot bool) {
	e.text(name, 40)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD w+8(FP), R1")
	e.ins("MOVD q+16(FP), R2")
	e.ins("MOVD rows+24(FP), R3")
	e.ins("MOVD k+32(FP), R4")
	e.ins("LSR $6, R4, R5") // 64-column steps
	e.ins("LSL $2, R4, R6") // four rows
	// row multiplies row r's 64 weights at wv with the activations.
	row := func(r int, wv V) {
		for c := V(0); c < 4; c++ {
			acc := V(16+2*r) + c%2
			if sdot {
				e.word(sdotEnc(acc, wv+c, c))
				continue
			}
			p := 24 + 2*c
			e.word(smullEnc(p, wv+c, c, false))
			e.word(smullEnc(p+1, wv+c, c, true))
			e.word(sadalpEnc(acc, p))
			e.word(sadalpEnc(acc, p+1))
		}
	}
	for _, R := range []int{4, 1} {
		label := fmt.Sprintf("tile%d", R)
		e.label(label)
		if R == 4 {
			e.ins("CMP $4, R3")
			e.ins("BLT %s_tile1", name)
		} else {
			e.ins("CBZ R3, %s_done", name)
		}
		for a := V(16); a < V(16+2*R); a++ {
			e.ins("VEOR %s.B16, %s.B16, %s.B16", a, a, a)
		}
		e.ins("MOVD R1, R10")
		for r := 1; r < R; r++ {
			e.ins("ADD R4, R%d, R%d", 9+r, 10+r)
		}
		e.ins("MOVD R2, R14")
		e.ins("MOVD R5, R15")
		e.label(label + "_loop")
		e.ins("VLD1.P 64(R14), [V0.B16, V1.B16, V2.B16, V3.B16]")
		for r := 0; r < R; r++ {
			wv := V(4 + 4*(r%2))
			e.ins("VLD1.P 64(R%d), [%s.B16, %s.B16, %s.B16, %s.B16]", 10+r, wv, wv+1, wv+2, wv+3)
			row(r, wv)
		}
		e.ins("SUBS $1, R15, R15")
		e.ins("BNE %s_%s_loop", name, label)
		for r := V(0); r < V(R); r++ {
			e.ins("VADD V%d.S4, V%d.S4, V%d.S4", 17+2*r, 16+2*r, 16+2*r)
		}
		if R == 4 {
			e.ins("VADDP V18.S4, V16.S4, V16.S4")
			e.ins("VADDP V22.S4, V20.S4, V20.S4")
			e.ins("VADDP V20.S4, V16.S4, V16.S4")
			e.ins("VST1.P [V16.S4], 16(R0)")
			e.ins("ADD R6, R1, R1")
			e.ins("SUB $4, R3, R3")
		} else {
			e.ins("VADDV V16.S4, V16")
			e.ins("VMOV V16.S[0], R7")
			e.ins("MOVW.P R7, 4(R0)")
			e.ins("ADD R4, R1, R1")
			e.ins("SUB $1, R3, R3")
		}
		e.ins("B %s_%s", name, label)
	}
	e.label("done")
	e.ins("RET")
}
