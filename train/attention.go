package train

import (
	"math"

	"github.com/bitnet-go/bitnet/asm"
)

// Causal grouped-query attention over sequences of T tokens, one job per
// (sequence, head) in the forward pass and per (sequence, KV head) in the
// backward pass. Rows are processed in blocks of attnBlock queries so that
// the products skip the masked upper triangle block by block.
const attnBlock = 64

// attention computes a.att from a.qkv (q and k already rotated), keeping the
// probabilities in a.p.
func (e *engine) attention(a *layerActs, nb, T int) {
	c := e.c
	H, hd := c.Heads, c.HeadDim()
	Q, KV := c.QDim(), c.KVDim()
	ldq := Q + 2*KV
	group := H / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	e.pool.ForEach(nb*H, func(w, job int) {
		b, h := job/H, job%H
		g := h / group
		base := b * T * ldq
		q := a.qkv[base+h*hd:]
		k := a.qkv[base+Q+g*hd:]
		v := a.qkv[base+Q+KV+g*hd:]
		p := a.p[job*T*T : (job+1)*T*T]
		out := a.att[b*T*Q+h*hd:]
		gw := e.gw[w]
		for i0 := 0; i0 < T; i0 += attnBlock {
			i1 := min(T, i0+attnBlock)
			// S[i0:i1, :i1] = Q[i0:i1]·K[:i1]ᵀ
			asm.GemmF32(false, true, i1-i0, i1, hd, q[i0*ldq:], ldq, k, ldq, p[i0*T:], T, false, gw)
			for i := i0; i < i1; i++ {
				row := p[i*T : i*T+i+1]
				for j := range row {
					row[j] *= scale
				}
				softmaxRow(row)
				clear(p[i*T+i+1 : (i+1)*T])
			}
			// O[i0:i1] = P[i0:i1, :i1]·V[:i1]
			asm.GemmF32(false, false, i1-i0, hd, i1, p[i0*T:], T, v, ldq, out[i0*Q:], Q, false, gw)
		}
	})
}

// attentionBackward turns datt (M×Q, the gradient of a.att) into dqkv
// (M×(Q+2KV)): the gradients of the rotated q and k and of v.
func (e *engine) attentionBackward(a *layerActs, datt, dqkv []float32, nb, T int) {
	c := e.c
	H, hd := c.Heads, c.HeadDim()
	Q, KV := c.QDim(), c.KVDim()
	ldq := Q + 2*KV
	group := H / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	e.pool.ForEach(nb*c.KVHeads, func(w, job int) {
		b, g := job/c.KVHeads, job%c.KVHeads
		base := b * T * ldq
		k := a.qkv[base+Q+g*hd:]
		v := a.qkv[base+Q+KV+g*hd:]
		dk := dqkv[base+Q+g*hd:]
		dv := dqkv[base+Q+KV+g*hd:]
		ds := e.dsBuf[w][:T*T]
		gw := e.gw[w]
		for h := g * group; h < (g+1)*group; h++ {
			acc := h > g*group // the group's heads add into one dK, dV
			q := a.qkv[base+h*hd:]
			dq := dqkv[base+h*hd:]
			p := a.p[(b*H+h)*T*T : (b*H+h+1)*T*T]
			do := datt[b*T*Q+h*hd:]
			for i0 := 0; i0 < T; i0 += attnBlock {
				i1 := min(T, i0+attnBlock)
				// dP[i0:i1, :i1] = dO[i0:i1]·V[:i1]ᵀ
				asm.GemmF32(false, true, i1-i0, i1, hd, do[i0*Q:], Q, v, ldq, ds[i0*T:], T, false, gw)
				// dS = P∘(dP − Σ_j P·dP)·scale, zero above the diagonal.
				for i := i0; i < i1; i++ {
					pr := p[i*T : i*T+i+1]
					dr := ds[i*T : i*T+i+1]
					var dot float32
					for j, pv := range pr {
						dot += pv * dr[j]
					}
					for j, pv := range pr {
						dr[j] = pv * (dr[j] - dot) * scale
					}
					clear(ds[i*T+i+1 : (i+1)*T])
				}
				// dQ[i0:i1] = dS[i0:i1, :i1]·K[:i1]
				asm.GemmF32(false, false, i1-i0, hd, i1, ds[i0*T:], T, k, ldq, dq[i0*ldq:], ldq, false, gw)
			}
			for j0 := 0; j0 < T; j0 += attnBlock {
				j1 := min(T, j0+attnBlock)
				// dK[j0:j1] += dS[j0:, j0:j1]ᵀ·Q[j0:]; dV[j0:j1] += P[j0:, j0:j1]ᵀ·dO[j0:]
				asm.GemmF32(true, false, j1-j0, hd, T-j0, ds[j0*T+j0:], T, q[j0*ldq:], ldq, dk[j0*ldq:], ldq, acc, gw)
				asm.GemmF32(true, false, j1-j0, hd, T-j0, p[j0*T+j0:], T, do[j0*Q:], Q, dv[j0*ldq:], ldq, acc, gw)
			}
		}
	})
}
