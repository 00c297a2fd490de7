package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Gradient checks: every hand-written backward pass against central finite
// differences on a tiny config, in float32. Checks use directional
// derivatives (a random unit direction per tensor or input) so that the
// compared numbers are large next to float32 noise.

var tinyConfig = Config{Vocab: 23, Dim: 16, Layers: 2, Heads: 4, KVHeads: 2, FFN: 24, Ctx: 8, NormEps: 1e-5, RopeBase: 10000}

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(scale * r.NormFloat64())
	}
	return v
}

func unitDir(r *rand.Rand, n int) []float32 {
	u := randVec(r, n, 1)
	var s float64
	for _, x := range u {
		s += float64(x) * float64(x)
	}
	k := float32(1 / math.Sqrt(s))
	for i := range u {
		u[i] *= k
	}
	return u
}

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// fdCheck compares the analytic directional derivative g·u with the central
// difference of f along u.
func fdCheck(t *testing.T, name string, x, g, u []float32, h float64, tol float64, f func() float64) {
	t.Helper()
	orig := append([]float32(nil), x...)
	set := func(s float64) {
		for i := range x {
			x[i] = orig[i] + float32(s)*u[i]
		}
	}
	central := func(h float64) float64 {
		set(h)
		fp := f()
		set(-h)
		fm := f()
		return (fp - fm) / (2 * h)
	}
	// Richardson extrapolation cancels the h² term of the central difference.
	num := (4*central(h/2) - central(h)) / 3
	copy(x, orig)
	ana := dot64(g, u)
	if d := math.Abs(num - ana); d > tol*math.Max(1e-3, math.Max(math.Abs(num), math.Abs(ana))) {
		t.Errorf("%s: analytic %.6g, finite difference %.6g (rel err %.2g)", name, ana, num, d/math.Max(math.Abs(num), 1e-12))
	} else {
		t.Logf("%s: analytic %.6g, finite difference %.6g", name, ana, num)
	}
}

func TestGradRMSNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	n := 24
	x, w, dy := randVec(r, n, 1), randVec(r, n, 1), randVec(r, n, 1)
	y := make([]float32, n)
	f := func() float64 { rmsNorm(y, x, w, 1e-5); return dot64(y, dy) }
	rr := rmsNorm(y, x, w, 1e-5)
	dx, dw := make([]float32, n), make([]float32, n)
	rmsNormBackward(dx, dw, x, w, dy, rr, true)
	fdCheck(t, "dx", x, dx, unitDir(r, n), 1e-2, 2e-3, f)
	fdCheck(t, "dw", w, dw, unitDir(r, n), 1e-2, 2e-3, f)
}

func TestGradRoPE(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 1))
	heads, hd := 3, 8
	cs, sn := make([]float32, hd/2), make([]float32, hd/2)
	for i := range cs {
		a := r.Float64() * 6
		cs[i], sn[i] = float32(math.Cos(a)), float32(math.Sin(a))
	}
	x, dy := randVec(r, heads*hd, 1), randVec(r, heads*hd, 1)
	y := make([]float32, len(x))
	f := func() float64 { copy(y, x); ropeRows(y, heads, hd, cs, sn); return dot64(y, dy) }
	dx := append([]float32(nil), dy...)
	ropeRowsBackward(dx, heads, hd, cs, sn)
	fdCheck(t, "dx", x, dx, unitDir(r, len(x)), 1e-2, 1e-3, f)
}

func TestGradReLUSqGate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 1))
	n := 32
	g, u, df := randVec(r, n, 1), randVec(r, n, 1), randVec(r, n, 1)
	out := make([]float32, n)
	f := func() float64 { reluSqGate(out, g, u); return dot64(out, df) }
	dg, du := make([]float32, n), make([]float32, n)
	reluSqGateBackward(dg, du, df, g, u)
	fdCheck(t, "dgate", g, dg, unitDir(r, n), 1e-3, 2e-3, f)
	fdCheck(t, "dup", u, du, unitDir(r, n), 1e-2, 1e-3, f)
}

func TestGradCrossEntropy(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 1))
	n := 50
	logits := randVec(r, n, 2)
	d := append([]float32(nil), logits...)
	lossInPlace := crossEntropyRow(d, d, 7, 1) // the engine's in-place use
	f := func() float64 { return crossEntropyRow(nil, logits, 7, 1) }
	if l := f(); l != lossInPlace {
		t.Errorf("in-place loss %v, want %v", lossInPlace, l)
	}
	fdCheck(t, "dlogits", logits, d, unitDir(r, n), 1e-2, 1e-3, f)
	// The loss itself against a float64 log-sum-exp.
	var m, s float64 = math.Inf(-1), 0
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	want := math.Log(s) + m - float64(logits[7])
	if got := f(); math.Abs(got-want) > 1e-5 {
		t.Errorf("loss %v, want %v", got, want)
	}
}

func TestExpf(t *testing.T) {
	worst := 0.0
	for x := -87.0; x < 88; x += 0.0137 {
		got := float64(expf(float32(x)))
		want := math.Exp(float64(float32(x)))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 5e-7 {
		t.Fatalf("expf relative error %.3g", worst)
	}
	if v := expf(-100); v > 2e-38 {
		t.Fatalf("expf(-100) = %v", v)
	}
}

// newTinyEngine returns an engine over a random tiny model with the
// quantizers off (the straight-through backward is then the exact gradient).
func newTinyEngine(t *testing.T, c Config, nb, threads int, quant bool) (*engine, *Model) {
	t.Helper()
	m, err := NewModel(c, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Break the symmetry of the unit norm weights.
	r := rand.New(rand.NewPCG(9, 9))
	for _, tn := range m.lay.Tensors {
		if tn.Kind == kindNorm {
			for i := range m.lay.view(m.W, indexOf(m.lay, tn.Name)) {
				m.W[tn.Off+i] = float32(1 + 0.3*r.NormFloat64())
			}
		}
	}
	e := newEngine(c, m.lay, threads, nb*c.Ctx)
	e.quant = quant
	t.Cleanup(e.close)
	return e, m
}

func indexOf(l *paramLayout, name string) int {
	for i, t := range l.Tensors {
		if t.Name == name {
			return i
		}
	}
	panic("no tensor " + name)
}

func randTokens(r *rand.Rand, n, vocab int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(r.IntN(vocab))
	}
	return t
}

// TestGradModel checks the gradient of the whole model (every op's backward
// composed) along a random direction inside each parameter tensor.
func TestGradModel(t *testing.T) {
	for _, threads := range []int{1, 2} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			c := tinyConfig
			nb := 2
			e, m := newTinyEngine(t, c, nb, threads, false)
			r := rand.New(rand.NewPCG(5, 5))
			in := randTokens(r, nb*c.Ctx, c.Vocab)
			tg := randTokens(r, nb*c.Ctx, c.Vocab)
			scale := float32(1) / float32(len(in))
			lossAt := func() float64 {
				e.setWeights(m.W)
				e.forward(in, nb)
				return e.loss(tg, scale, false) / float64(len(in))
			}
			grad := make([]float32, len(m.W))
			e.setWeights(m.W)
			e.forward(in, nb)
			e.loss(tg, scale, true)
			e.backward(in, nb, grad)
			for i, tn := range m.lay.Tensors {
				if threads == 2 && i%3 != 0 {
					continue // a sample is enough for the threaded run
				}
				x := m.lay.view(m.W, i)
				u := unitDir(r, len(x))
				fdCheck(t, tn.Name, x, m.lay.view(grad, i), u, 1e-2, 1e-2, lossAt)
			}
		})
	}
}

// TestGradAttention checks causal GQA attention alone, with sequences long
// enough to span several attnBlock blocks (and a partial one).
func TestGradAttention(t *testing.T) {
	c := Config{Vocab: 5, Dim: 32, Layers: 1, Heads: 4, KVHeads: 2, FFN: 8, Ctx: 2*attnBlock + 13, NormEps: 1e-5, RopeBase: 10000}
	nb := 2
	for _, threads := range []int{1, 2} {
		e, _ := newTinyEngine(t, c, nb, threads, false)
		a := &e.acts[0]
		r := rand.New(rand.NewPCG(6, uint64(threads)))
		M := nb * c.Ctx
		ldq := c.QDim() + 2*c.KVDim()
		qkv := randVec(r, M*ldq, 1)
		copy(a.qkv, qkv)
		dy := randVec(r, M*c.QDim(), 1)
		f := func() float64 {
			copy(a.qkv, qkv)
			e.attention(a, nb, c.Ctx)
			return dot64(a.att[:M*c.QDim()], dy)
		}
		f()
		dqkv := make([]float32, M*ldq)
		e.attentionBackward(a, dy, dqkv, nb, c.Ctx)
		Q, KV := c.QDim(), c.KVDim()
		for _, part := range []struct {
			name   string
			lo, hi int
		}{{"q", 0, Q}, {"k", Q, Q + KV}, {"v", Q + KV, ldq}} {
			u := make([]float32, M*ldq)
			for m := 0; m < M; m++ {
				for j := part.lo; j < part.hi; j++ {
					u[m*ldq+j] = float32(r.NormFloat64())
				}
			}
			fdCheck(t, fmt.Sprintf("threads=%d/d%s", threads, part.name), qkv, dqkv, u, 1e-2, 1e-3, f)
		}
	}
}

// TestBitLinearSTE checks the quantized linear layer: the forward is the
// runtime's (Σ t·q)/s·γ, the backward passes straight through both
// quantizers (dX = dY·W_q, dW = dYᵀ·X_q).
func TestBitLinearSTE(t *testing.T) {
	c := Config{Vocab: 5, Dim: 64, Layers: 1, Heads: 2, KVHeads: 1, FFN: 96, Ctx: 16, NormEps: 1e-5, RopeBase: 10000}
	e, m := newTinyEngine(t, c, 2, 2, true)
	lt := m.lay.Layers[0]
	e.setWeights(m.W)
	M, K, N := 2*c.Ctx, c.Dim, 2*c.FFN
	r := rand.New(rand.NewPCG(8, 8))
	x := randVec(r, M*K, 1)
	wn := m.lay.view(m.W, lt.FFNNorm)
	qd := make([]float32, M*K)
	rr := make([]float32, M)
	e.normQuant(x, M, K, wn, rr, qd)
	y := make([]float32, M*N)
	off := m.lay.Tensors[lt.Gate].Off
	e.bitLinear(y, M, N, K, lt.Gate, e.colGU[0], false)
	// The runtime's formula, row by row, in integers.
	wt := m.lay.span(m.W, lt.Gate, lt.Up)
	var hist [3]int
	tg := make([]float32, c.FFN*K)
	tu := make([]float32, c.FFN*K)
	gg := ternarize(tg, nil, wt[:c.FFN*K], &hist)
	gup := ternarize(tu, nil, wt[c.FFN*K:], &hist)
	i8 := make([]int8, K)
	h := make([]float32, K)
	for mm := 0; mm < M; mm++ {
		rmsNorm(h, x[mm*K:(mm+1)*K], wn, c.NormEps)
		s, _ := quantizeI8(i8, h)
		for n := 0; n < N; n++ {
			tw, g := tg, gg
			row := n
			if n >= c.FFN {
				tw, g, row = tu, gup, n-c.FFN
			}
			var raw int32
			for k := 0; k < K; k++ {
				raw += int32(i8[k]) * int32(tw[row*K+k])
			}
			want := float32(raw) / s * g
			if got := y[mm*N+n]; got != want {
				t.Fatalf("y[%d,%d] = %v, want %v (runtime formula)", mm, n, got, want)
			}
		}
	}
	// Backward.
	dy := randVec(r, M*N, 1)
	dx := make([]float32, M*K)
	grad := make([]float32, len(m.W))
	e.bitLinearBackward(dx, dy, M, N, K, lt.Gate, qd, grad)
	gw := grad[off : off+N*K]
	wq := make([]float32, N*K)
	for n := 0; n < N; n++ {
		for k := 0; k < K; k++ {
			if n < c.FFN {
				wq[n*K+k] = tg[n*K+k] * gg
			} else {
				wq[n*K+k] = tu[(n-c.FFN)*K+k] * gup
			}
		}
	}
	for mm := 0; mm < M; mm++ {
		for k := 0; k < K; k++ {
			var s float64
			for n := 0; n < N; n++ {
				s += float64(dy[mm*N+n]) * float64(wq[n*K+k])
			}
			if d := math.Abs(float64(dx[mm*K+k]) - s); d > 1e-4*(1+math.Abs(s)) {
				t.Fatalf("dx[%d,%d] = %v, want %v", mm, k, dx[mm*K+k], s)
			}
		}
	}
	for n := 0; n < N; n++ {
		for k := 0; k < K; k++ {
			var s float64
			for mm := 0; mm < M; mm++ {
				s += float64(dy[mm*N+n]) * float64(qd[mm*K+k])
			}
			if d := math.Abs(float64(gw[n*K+k]) - s); d > 1e-4*(1+math.Abs(s)) {
				t.Fatalf("dW[%d,%d] = %v, want %v", n, k, gw[n*K+k], s)
			}
		}
	}
}
