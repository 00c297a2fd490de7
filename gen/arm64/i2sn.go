package main

import "fmt"

// The n-token I2_S kernels (prompt processing): each block's codes are
// unpacked once and multiplied with the activations of n tokens, as the
// amd64 i2sDots*N kernels do.
func init() {
	for _, n := range []int{2, 4} {
		for _, sdot := range []bool{true, false} {
			name := fmt.Sprintf("i2sDotsNEONN%d", n)
			how := "SMULL/SMLAL and SADALP"
			if sdot {
				name = fmt.Sprintf("i2sDotsSDOTN%d", n)
				how = "SDOT"
			}
			n, sdot := n, sdot
			kernels = append(kernels, kernel{
				sig: fmt.Sprintf("func %s(dst *int32, ldd int, w *byte, q *int8, ldq int, rows int, nblk int)", name),
				doc: []string{
					fmt.Sprintf("%s sets dst[t·ldd + r] = Σ_k code(w, r, k)·q[t·ldq + k] for t < %d and", name, n),
					"r < rows (rows, nblk ≥ 1) over rows of nblk 128-element I2_S blocks,",
					fmt.Sprintf("unpacking each block once for the %d tokens (%s). Exact in int32.", n, how),
				},
				body: func(e *emitter) { i2sBodyN(e, name, sdot, n) },
			})
		}
	}
}

// i2sBodyN: W in V0, V1, codes of group g in V20+2g, V21+2g (as i2sBody),
// token t's activations in V2..V9 in turn, its two accumulators in
// V(10+2t), V(11+2t); token t's activation pointer in R(11+t).
func i2sBodyN(e *emitter, name string, sdot bool, n int) {
	e.text(name, 56)
	e.ins("MOVD dst+0(FP), R0")
	e.ins("MOVD ldd+8(FP), R9")
	e.ins("LSL $2, R9, R9") // bytes between tokens' outputs
	e.ins("MOVD w+16(FP), R1")
	e.ins("MOVD q+24(FP), R2")
	e.ins("MOVD ldq+32(FP), R10")
	e.ins("MOVD rows+40(FP), R3")
	e.ins("MOVD nblk+48(FP), R4")
	e.ins("VMOVI $3, V31.B16")
	e.label("row")
	for t := 0; t < n; t++ {
		for a := V(10 + 2*t); a < V(12+2*t); a++ {
			e.ins("VEOR %s.B16, %s.B16, %s.B16", a, a, a)
		}
	}
	e.ins("MOVD R2, R11")
	for t := 1; t < n; t++ {
		e.ins("ADD R10, R%d, R%d", 10+t, 11+t)
	}
	e.ins("MOVD R4, R6")
	e.label("block")
	e.ins("VLD1.P 32(R1), [V0.B16, V1.B16]")
	for g, sh := range []int{6, 4, 2} {
		for h := V(0); h < 2; h++ {
			c := 20 + V(2*g) + h
			e.ins("VUSHR $%d, %s.B16, %s.B16", sh, h, c)
			if g > 0 {
				e.ins("VAND V31.B16, %s.B16, %s.B16", c, c)
			}
		}
	}
	e.ins("VAND V31.B16, V0.B16, V26.B16")
	e.ins("VAND V31.B16, V1.B16, V27.B16")
	for t := 0; t < n; t++ {
		e.ins("VLD1.P 64(R%d), [V2.B16, V3.B16, V4.B16, V5.B16]", 11+t)
		e.ins("VLD1.P 64(R%d), [V6.B16, V7.B16, V8.B16, V9.B16]", 11+t)
		a0, a1 := V(10+2*t), V(11+2*t)
		if sdot {
			for i := V(0); i < 8; i++ {
				e.word(sdotEnc([]V{a0, a1}[i%2], 20+i, 2+i))
			}
			continue
		}
		for i := V(0); i < 8; i++ {
			tmp := V(28) + i/4
			if i%4 == 0 {
				e.word(smullEnc(tmp, 20+i, 2+i, false))
			} else {
				e.word(smlalEnc(tmp, 20+i, 2+i, false))
			}
			e.word(smlalEnc(tmp, 20+i, 2+i, true))
		}
		e.word(sadalpEnc(a0, 28))
		e.word(sadalpEnc(a1, 29))
	}
	e.ins("SUBS $1, R6, R6")
	e.ins("BNE %s_block", name)
	e.ins("MOVD R0, R15")
	for t := 0; t < n; t++ {
		a0, a1 := V(10+2*t), V(11+2*t)
		e.ins("VADD %s.S4, %s.S4, %s.S4", a1, a0, a0)
		e.ins("VADDV %s.S4, %s", a0, a0)
		e.ins("VMOV %s.S[0], R7", a0)
		e.ins("MOVW R7, (R15)")
		if t < n-1 {
			e.ins("ADD R9, R15, R15")
		}
	}
	e.ins("ADD $4, R0, R0")
	e.ins("SUBS $1, R3, R3")
	e.ins("BNE %s_row", name)
	e.ins("RET")
}
