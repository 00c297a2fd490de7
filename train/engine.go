package train

import (
	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/internal/par"
)

// engine runs the forward and backward passes of micro-batches on a pool of
// workers. It owns every activation buffer, sized for maxRows tokens.
type engine struct {
	c     Config
	lay   *paramLayout
	pool  *par.Pool
	quant bool // BitLinear quantizers on (off only in gradient checks)
	// f16 makes the forward pass round q, k and v to F16 as the runtime
	// does with its F16 KV cache (a batched runtime forward multiplies the
	// F16 head with f32 activations); tests use it to compare with the
	// runtime at rounding level.
	f16 bool

	gw     []*asm.GemmWork // per worker
	i8     [][]int8        // per worker: quantizer codes
	dsBuf  [][]float32     // per worker: T×T attention gradient scratch
	dwPart [][]float32     // per worker: partial norm-weight gradients

	ropeCos, ropeSin []float32 // [Ctx][HeadDim/2]

	// Weights of the current step (setWeights).
	w      []float32   // master weights
	fwdW   []float32   // forward GEMM operand: ternary codes t (quant) or w
	bwdW   []float32   // backward GEMM operand: t·γ (quant) or w
	gamma  []float32   // γ per tensor (1 for non-ternary tensors or !quant)
	colQKV [][]float32 // per layer: γ of the q/k/v row each output column uses
	colGU  [][]float32 // per layer: γ of gate/up per output column
	colO   [][]float32 // per layer: γ_o per output column
	colDn  [][]float32 // per layer: γ_down per output column
	hist   [3]int      // ternary code counts (−1, 0, +1) of the step

	// The weights packed for the GEMM micro-kernel once per step: the
	// forward operand Wᵀ and the backward operand W of each BitLinear
	// (q/k/v fused, gate/up fused) and of the tied head.
	packFwd, packBwd map[int]*asm.PackedB // by first tensor index
	pbAct            asm.PackedB          // activations (weight gradients)

	maxRows int
	acts    []layerActs
	x       []float32 // residual stream, M×D
	xf      []float32 // final normed stream, M×D
	r5      []float32 // output-norm r, M
	logits  []float32 // M×V, turned into dlogits by the loss
	rowLoss []float64 // M

	// scratch
	qs   []float32 // per-row quantizer scale s, M
	qi   []float32 // integer codes of a GEMM input, M×max(D,Q,F)
	hn   []float32 // normed rows, M×max(D,Q,F)
	tmp  []float32 // M×D
	dx   []float32 // M×D
	dh   []float32 // M×max(D,Q)
	dF   []float32 // M×F
	dF2  []float32 // M×F
	dgu  []float32 // M×2F
	dAtt []float32 // M×Q
	dqkv []float32 // M×(Q+2KV)
}

// layerActs are the activations one block keeps for its backward pass.
type layerActs struct {
	xin  []float32 // block input, M×D
	r1   []float32 // attn_norm r, M
	hqd  []float32 // quantized attention input (dequantized), M×D
	qkv  []float32 // q, k (after RoPE) and v, M×(Q+2KV)
	p    []float32 // attention probabilities, [seq][head][T][T]
	att  []float32 // attention output, M×Q
	r2   []float32 // attn_sub_norm r, M
	aqd  []float32 // quantized attn_output input, M×Q
	xmid []float32 // residual after attention, M×D
	r3   []float32 // ffn_norm r, M
	h2qd []float32 // quantized FFN input, M×D
	gu   []float32 // gate and up projections, M×2F
	f    []float32 // relu(gate)²·up, M×F
	r4   []float32 // ffn_sub_norm r, M
	fqd  []float32 // quantized ffn_down input, M×F
}

func newEngine(c Config, lay *paramLayout, threads, maxRows int) *engine {
	e := &engine{c: c, lay: lay, pool: par.New(threads), quant: true, maxRows: maxRows}
	D, Q, KV, F, V, T := c.Dim, c.QDim(), c.KVDim(), c.FFN, c.Vocab, c.Ctx
	wide := max(D, Q, F)
	for w := 0; w < e.pool.Threads(); w++ {
		e.gw = append(e.gw, new(asm.GemmWork))
		e.i8 = append(e.i8, make([]int8, wide))
		e.dsBuf = append(e.dsBuf, make([]float32, T*T))
		e.dwPart = append(e.dwPart, make([]float32, wide))
	}
	hd := c.HeadDim()
	e.ropeCos = make([]float32, T*hd/2)
	e.ropeSin = make([]float32, T*hd/2)
	for p := 0; p < T; p++ {
		asm.RopeCache(e.ropeCos[p*hd/2:(p+1)*hd/2], e.ropeSin[p*hd/2:(p+1)*hd/2], p, c.RopeBase, hd)
	}
	M := maxRows
	f := func(n int) []float32 { return make([]float32, n) }
	ldq := Q + 2*KV
	nseq := (M + T - 1) / T
	e.acts = make([]layerActs, c.Layers)
	for l := range e.acts {
		e.acts[l] = layerActs{
			xin: f(M * D), r1: f(M), hqd: f(M * D), qkv: f(M * ldq), p: f(nseq * c.Heads * T * T),
			att: f(M * Q), r2: f(M), aqd: f(M * Q), xmid: f(M * D), r3: f(M), h2qd: f(M * D),
			gu: f(M * 2 * F), f: f(M * F), r4: f(M), fqd: f(M * F),
		}
	}
	e.x, e.xf, e.r5, e.logits = f(M*D), f(M*D), f(M), f(M*V)
	e.rowLoss = make([]float64, M)
	e.qs, e.qi, e.hn, e.tmp = f(M), f(M*wide), f(M*wide), f(M*D)
	e.dx, e.dh, e.dF, e.dF2, e.dgu, e.dqkv = f(M*D), f(M*max(D, Q)), f(M*F), f(M*F), f(M*2*F), f(M*ldq)
	e.dAtt = f(M * Q)
	e.fwdW, e.bwdW = f(lay.Size), f(lay.Size)
	e.packFwd, e.packBwd = map[int]*asm.PackedB{}, map[int]*asm.PackedB{}
	e.gamma = f(len(lay.Tensors))
	for range c.Layers {
		e.colQKV = append(e.colQKV, f(ldq))
		e.colGU = append(e.colGU, f(2*F))
		e.colO = append(e.colO, f(D))
		e.colDn = append(e.colDn, f(D))
	}
	return e
}

func (e *engine) close() { e.pool.Close() }

// setWeights ternarizes the BitLinear weights of w for the next passes (or,
// without quantization, uses w as is).
func (e *engine) setWeights(w []float32) {
	e.w = w
	e.hist = [3]int{}
	ts := e.lay.Tensors
	hists := make([][3]int, len(ts))
	e.pool.ForEach(len(ts), func(_, i int) {
		t := ts[i]
		src := w[t.Off : t.Off+t.Size()]
		fw, bw := e.fwdW[t.Off:t.Off+t.Size()], e.bwdW[t.Off:t.Off+t.Size()]
		if t.Kind != kindTernary || !e.quant {
			copy(fw, src)
			copy(bw, src)
			e.gamma[i] = 1
			return
		}
		e.gamma[i] = ternarize(fw, bw, src, &hists[i])
	})
	for i := range hists {
		for j := range e.hist {
			e.hist[j] += hists[i][j]
		}
	}
	fill := func(dst []float32, g float32) {
		for i := range dst {
			dst[i] = g
		}
	}
	Q, KV, F := e.c.QDim(), e.c.KVDim(), e.c.FFN
	e.packWeights()
	for l, lt := range e.lay.Layers {
		fill(e.colQKV[l][:Q], e.gamma[lt.Q])
		fill(e.colQKV[l][Q:Q+KV], e.gamma[lt.K])
		fill(e.colQKV[l][Q+KV:], e.gamma[lt.V])
		fill(e.colGU[l][:F], e.gamma[lt.Gate])
		fill(e.colGU[l][F:], e.gamma[lt.Up])
		fill(e.colO[l], e.gamma[lt.O])
		fill(e.colDn[l], e.gamma[lt.Down])
	}
}

// linearShapes lists the weight matrices the GEMMs use, by first tensor
// index: rows (outputs) × cols (inputs), fused where tensors are adjacent.
func (e *engine) linearShapes() [][3]int {
	c := e.c
	D, Q, KV, F := c.Dim, c.QDim(), c.KVDim(), c.FFN
	shapes := [][3]int{{e.lay.Embed, c.Vocab, D}}
	for _, lt := range e.lay.Layers {
		shapes = append(shapes, [3]int{lt.Q, Q + 2*KV, D}, [3]int{lt.O, D, Q}, [3]int{lt.Gate, 2 * F, D}, [3]int{lt.Down, D, F})
	}
	return shapes
}

// packWeights packs every weight matrix for the forward product (op(B) =
// Wᵀ, k = inputs) and the input-gradient product (op(B) = W, k = outputs).
func (e *engine) packWeights() {
	shapes := e.linearShapes()
	for _, s := range shapes {
		if e.packFwd[s[0]] == nil {
			e.packFwd[s[0]], e.packBwd[s[0]] = new(asm.PackedB), new(asm.PackedB)
		}
	}
	e.pool.ForEach(2*len(shapes), func(_, i int) {
		s := shapes[i/2]
		off, rows, cols := e.lay.Tensors[s[0]].Off, s[1], s[2]
		if i%2 == 0 {
			pb := e.packFwd[s[0]]
			pb.Reset(cols, rows)
			pb.Pack(true, e.fwdW[off:], cols, 0, rows)
		} else {
			pb := e.packBwd[s[0]]
			pb.Reset(rows, cols)
			pb.Pack(false, e.bwdW[off:], cols, 0, cols)
		}
	})
}

// gemm runs asm.GemmF32 on the pool: the workers pack B together (split
// by columns), then compute C split by rows; every element of C is computed
// by one worker, in an order that does not depend on the split.
func (e *engine) gemm(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	pb := &e.pbAct
	pb.Reset(k, n)
	_, nr := pb.Tile()
	e.pool.For(n, nr, func(_, lo, hi int) { pb.Pack(tB, b, ldb, lo, hi) })
	e.gemmPacked(tA, m, a, lda, pb, c, ldc, acc)
}

// gemmPacked computes C = op(A)·B for a packed B on the pool, split by rows.
func (e *engine) gemmPacked(tA bool, m int, a []float32, lda int, pb *asm.PackedB, c []float32, ldc int, acc bool) {
	mr, _ := pb.Tile()
	e.pool.For(m, mr, func(w, lo, hi int) {
		off := lo * lda
		if tA {
			off = lo
		}
		asm.GemmF32Packed(tA, hi-lo, a[off:], lda, pb, c[lo*ldc:], ldc, acc, e.gw[w])
	})
}

// rows runs fn over row ranges on the pool.
func (e *engine) rows(M int, fn func(w, lo, hi int)) {
	e.pool.For(M, 16, fn)
}

// normQuant normalizes the M rows of x (width n) with norm weight wn into
// r, quantizes them into e.qi (codes) and qd (dequantized), and leaves the
// quantizer scales in e.qs. Without quantization qi and qd get the normed
// rows and the scales are 1.
func (e *engine) normQuant(x []float32, M, n int, wn []float32, r, qd []float32) {
	e.rows(M, func(w, lo, hi int) {
		for m := lo; m < hi; m++ {
			h := e.hn[m*n : (m+1)*n]
			r[m] = rmsNorm(h, x[m*n:(m+1)*n], wn, e.c.NormEps)
			e.quantRow(w, m, n, h, qd)
		}
	})
}

func (e *engine) quantRow(w, m, n int, h, qd []float32) {
	qi, q := e.qi[m*n:(m+1)*n], qd[m*n:(m+1)*n]
	if !e.quant {
		copy(qi, h)
		copy(q, h)
		e.qs[m] = 1
		return
	}
	e.qs[m] = quantizeRow(qi, q, h, e.i8[w])
}

// bitLinear computes y (M×N) = BitLinear(x) for the rows quantized by
// normQuant: the exact integer product of the codes e.qi (M×K) and the
// ternary codes of the weight at off (N×K), then y = raw / s_row · γ_col —
// the runtime's (Σ code·q − Σq)/s·γ. When add is set y is added into out
// instead (out += y, the residual connection).
func (e *engine) bitLinear(out []float32, M, N, K, ti int, col []float32, add bool) {
	y := out
	if add {
		y = e.tmp
	}
	e.gemmPacked(false, M, e.qi, K, e.packFwd[ti], y, N, false)
	e.rows(M, func(_, lo, hi int) {
		for m := lo; m < hi; m++ {
			s := e.qs[m]
			yr := y[m*N : (m+1)*N]
			col := col[:N]
			if add {
				o := out[m*N : (m+1)*N]
				for n, v := range yr {
					o[n] += v / s * col[n]
				}
				continue
			}
			for n, v := range yr {
				yr[n] = v / s * col[n]
			}
		}
	})
}

// bitLinearBackward gives the input gradient dx (M×K) = dy·W_q and adds the
// weight gradient dW += dyᵀ·x_q (straight-through for both quantizers).
func (e *engine) bitLinearBackward(dx, dy []float32, M, N, K, ti int, xq []float32, grad []float32) {
	e.gemmPacked(false, M, dy, N, e.packBwd[ti], dx, K, false)
	e.gemm(true, false, N, K, M, dy, N, xq, K, grad[e.lay.Tensors[ti].Off:], K, true)
}

// forward evaluates the micro-batch tokens (nb sequences of T tokens each,
// row-major) up to the logits, keeping what the backward pass needs.
func (e *engine) forward(tokens []int32, nb int) {
	c := e.c
	M := len(tokens)
	T := M / nb
	D, Q, KV, F, V := c.Dim, c.QDim(), c.KVDim(), c.FFN, c.Vocab
	ldq := Q + 2*KV
	hd := c.HeadDim()
	emb := e.lay.view(e.w, e.lay.Embed)
	x := e.x[:M*D]
	for m, t := range tokens {
		copy(x[m*D:(m+1)*D], emb[int(t)*D:(int(t)+1)*D])
	}
	for l, lt := range e.lay.Layers {
		a := &e.acts[l]
		copy(a.xin, x)
		// Attention.
		e.normQuant(x, M, D, e.lay.view(e.w, lt.AttnNorm), a.r1, a.hqd)
		qkv := a.qkv[:M*ldq]
		e.bitLinear(qkv, M, ldq, D, lt.Q, e.colQKV[l], false)
		e.rows(M, func(_, lo, hi int) {
			for m := lo; m < hi; m++ {
				p := m % T
				cs, sn := e.ropeCos[p*hd/2:(p+1)*hd/2], e.ropeSin[p*hd/2:(p+1)*hd/2]
				ropeRows(qkv[m*ldq:m*ldq+Q], c.Heads, hd, cs, sn)
				ropeRows(qkv[m*ldq+Q:m*ldq+Q+KV], c.KVHeads, hd, cs, sn)
				if e.f16 {
					roundF16(qkv[m*ldq : (m+1)*ldq])
				}
			}
		})
		e.attention(a, nb, T)
		e.normQuant(a.att, M, Q, e.lay.view(e.w, lt.AttnSubNorm), a.r2, a.aqd)
		e.bitLinear(x, M, D, Q, lt.O, e.colO[l], true)
		copy(a.xmid, x)
		// FFN.
		e.normQuant(x, M, D, e.lay.view(e.w, lt.FFNNorm), a.r3, a.h2qd)
		gu := a.gu[:M*2*F]
		e.bitLinear(gu, M, 2*F, D, lt.Gate, e.colGU[l], false)
		wsub := e.lay.view(e.w, lt.FFNSubNorm)
		e.rows(M, func(w, lo, hi int) {
			for m := lo; m < hi; m++ {
				f := a.f[m*F : (m+1)*F]
				reluSqGate(f, gu[m*2*F:m*2*F+F], gu[m*2*F+F:(m+1)*2*F])
				h := e.hn[m*F : (m+1)*F]
				a.r4[m] = rmsNorm(h, f, wsub, c.NormEps)
				e.quantRow(w, m, F, h, a.fqd)
			}
		})
		e.bitLinear(x, M, D, F, lt.Down, e.colDn[l], true)
	}
	wout := e.lay.view(e.w, e.lay.OutputNorm)
	e.rows(M, func(_, lo, hi int) {
		for m := lo; m < hi; m++ {
			e.r5[m] = rmsNorm(e.xf[m*D:(m+1)*D], x[m*D:(m+1)*D], wout, c.NormEps)
		}
	})
	// Tied output head (not quantized).
	e.gemmPacked(false, M, e.xf, D, e.packFwd[e.lay.Embed], e.logits, V, false)
}

// loss returns the summed cross-entropy of the logits against targets and,
// when grad is set, replaces the logits by dLoss/dlogits·scale.
func (e *engine) loss(targets []int32, scale float32, grad bool) float64 {
	V := e.c.Vocab
	M := len(targets)
	e.rows(M, func(_, lo, hi int) {
		for m := lo; m < hi; m++ {
			row := e.logits[m*V : (m+1)*V]
			var d []float32
			if grad {
				d = row
			}
			e.rowLoss[m] = crossEntropyRow(d, row, targets[m], scale)
		}
	})
	var sum float64
	for _, v := range e.rowLoss[:M] {
		sum += v
	}
	return sum
}

// normBackward runs rmsNormBackward over M rows of width n, adding the
// weight gradient into gw (summed over workers in a fixed order).
func (e *engine) normBackward(dx, x, wn, dy, r []float32, M, n int, gw []float32, overwrite bool) {
	e.rows(M, func(w, lo, hi int) {
		part := e.dwPart[w][:n]
		clear(part)
		for m := lo; m < hi; m++ {
			rmsNormBackward(dx[m*n:(m+1)*n], part, x[m*n:(m+1)*n], wn, dy[m*n:(m+1)*n], r[m], overwrite)
		}
	})
	workers := min(e.pool.Threads(), (M+15)/16)
	for w := 0; w < workers; w++ {
		for i, v := range e.dwPart[w][:n] {
			gw[i] += v
		}
	}
}

// backward propagates the gradient left in e.logits by loss back through
// the micro-batch evaluated by forward, adding the parameter gradients into
// grad.
func (e *engine) backward(tokens []int32, nb int, grad []float32) {
	c := e.c
	M := len(tokens)
	T := M / nb
	D, Q, KV, F, V := c.Dim, c.QDim(), c.KVDim(), c.FFN, c.Vocab
	ldq := Q + 2*KV
	hd := c.HeadDim()
	gEmb := e.lay.view(grad, e.lay.Embed)

	// Head: logits = xf·Eᵀ.
	dxf := e.dh[:M*D]
	e.gemmPacked(false, M, e.logits, V, e.packBwd[e.lay.Embed], dxf, D, false)
	e.gemm(true, false, V, D, M, e.logits, V, e.xf, D, gEmb, D, true)
	dx := e.dx[:M*D]
	e.normBackward(dx, e.x, e.lay.view(e.w, e.lay.OutputNorm), dxf, e.r5, M, D, e.lay.view(grad, e.lay.OutputNorm), true)

	for l := c.Layers - 1; l >= 0; l-- {
		lt := e.lay.Layers[l]
		a := &e.acts[l]
		// FFN: x += down(subnorm(relu(gate)²·up)).
		dfq := e.dF[:M*F]
		e.bitLinearBackward(dfq, dx, M, D, F, lt.Down, a.fqd, grad)
		df := e.dF2[:M*F]
		e.normBackward(df, a.f, e.lay.view(e.w, lt.FFNSubNorm), dfq, a.r4, M, F, e.lay.view(grad, lt.FFNSubNorm), true)
		dgu := e.dgu[:M*2*F]
		e.rows(M, func(_, lo, hi int) {
			for m := lo; m < hi; m++ {
				g := a.gu[m*2*F : (m+1)*2*F]
				d := dgu[m*2*F : (m+1)*2*F]
				reluSqGateBackward(d[:F], d[F:], df[m*F:(m+1)*F], g[:F], g[F:])
			}
		})
		dh := e.dh[:M*D]
		e.bitLinearBackward(dh, dgu, M, 2*F, D, lt.Gate, a.h2qd, grad)
		e.normBackward(dx, a.xmid, e.lay.view(e.w, lt.FFNNorm), dh, a.r3, M, D, e.lay.view(grad, lt.FFNNorm), false)

		// Attention: x += o(subnorm(attn(rope(q), rope(k), v))).
		daq := e.dh[:M*Q]
		e.bitLinearBackward(daq, dx, M, D, Q, lt.O, a.aqd, grad)
		datt := e.dAtt[:M*Q]
		e.normBackward(datt, a.att, e.lay.view(e.w, lt.AttnSubNorm), daq, a.r2, M, Q, e.lay.view(grad, lt.AttnSubNorm), true)
		dqkv := e.dqkv[:M*ldq]
		e.attentionBackward(a, datt, dqkv, nb, T)
		e.rows(M, func(_, lo, hi int) {
			for m := lo; m < hi; m++ {
				p := m % T
				cs, sn := e.ropeCos[p*hd/2:(p+1)*hd/2], e.ropeSin[p*hd/2:(p+1)*hd/2]
				ropeRowsBackward(dqkv[m*ldq:m*ldq+Q], c.Heads, hd, cs, sn)
				ropeRowsBackward(dqkv[m*ldq+Q:m*ldq+Q+KV], c.KVHeads, hd, cs, sn)
			}
		})
		dh = e.dh[:M*D]
		e.bitLinearBackward(dh, dqkv, M, ldq, D, lt.Q, a.hqd, grad)
		e.normBackward(dx, a.xin, e.lay.view(e.w, lt.AttnNorm), dh, a.r1, M, D, e.lay.view(grad, lt.AttnNorm), false)
	}
	// Embedding rows (sequential: tokens repeat).
	for m, t := range tokens {
		g := gEmb[int(t)*D : (int(t)+1)*D]
		for i, v := range dx[m*D : (m+1)*D] {
			g[i] += v
		}
	}
}

func roundF16(x []float32) {
	for i, v := range x {
		x[i] = asm.F16ToF32(asm.F32ToF16(v))
	}
}
