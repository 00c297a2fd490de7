package runtime

import (
	"errors"
	"fmt"
	"math"

	"github.com/bitnet-go/bitnet/asm"
)

// ErrContextFull is returned when a forward pass would run past the KV
// cache.
var ErrContextFull = errors.New("context is full")

// State is one inference session: the KV cache (its Seq) and the buffers
// of the forward pass. A State is not safe for concurrent use.
type State struct {
	Seq
	work
	logits []float32
	one    [1]int32 // the token of a decode step
}

// work holds the buffers of a forward pass over at most maxBatch rows. The
// rows may belong to one sequence (State) or to several (Batch); rows says
// where each one goes.
type work struct {
	m        *Model
	pool     *Pool
	maxBatch int
	// per-token buffers, maxBatch rows each
	x, h, q, k, v, att, o []float32
	gate, up              []float32
	qh                    []uint16 // queries rounded to F16
	scores                []float32
	scoreCtx              int // the length of each worker's score buffer
	ropeCos, ropeSin      []float32
	scratch               Scratch
	group3                [3]*Matrix
	outs3                 [3][]float32
	rows                  []rowSpec // where each row of the pass goes
	single                []bool    // rows[t].single, for the matrix products

	att1   attnJob
	attnFn func(w, lo, hi int)
	tok    tokenJob
	tokFn  func(w, lo, hi int)
	act    actJob
	actFn  func(w, lo, hi int)
}

// rowSpec places one row of a forward pass: the sequence whose cache it
// extends, its position there, and whether it follows the rounding rule of
// a one-token batch (see Batch).
type rowSpec struct {
	seq    *Seq
	pos    int
	single bool
}

// attnJob is the attention of one layer for a batch, split over
// (token, head) pairs by the pool.
type attnJob struct {
	w     *work
	li, n int
	scale float32
}

// NewState makes a session with a KV cache of ctx positions that evaluates
// at most maxBatch tokens per Forward call, running on pool.
func NewState(m *Model, ctx, maxBatch int, pool *Pool) (*State, error) {
	if ctx <= 0 {
		return nil, fmt.Errorf("context size %d must be positive", ctx)
	}
	if maxBatch <= 0 || maxBatch > ctx {
		maxBatch = ctx
	}
	s := &State{Seq: newSeq(m, ctx)}
	s.work.init(m, maxBatch, ctx, pool)
	return s, nil
}

// init allocates the buffers for passes of up to maxBatch rows over caches
// of up to ctx positions.
func (w *work) init(m *Model, maxBatch, ctx int, pool *Pool) {
	c := &m.Config
	w.m, w.pool, w.maxBatch = m, pool, maxBatch
	b := maxBatch
	w.x = make([]float32, b*c.Dim)
	w.h = make([]float32, b*c.Dim)
	w.q = make([]float32, b*c.QDim())
	w.k = make([]float32, b*c.KVDim())
	w.v = make([]float32, b*c.KVDim())
	w.att = make([]float32, b*c.QDim())
	w.o = make([]float32, b*c.Dim)
	w.gate = make([]float32, b*c.FFN)
	w.up = make([]float32, b*c.FFN)
	w.qh = make([]uint16, b*c.QDim())
	w.ropeCos = make([]float32, b*c.HeadDim/2)
	w.ropeSin = make([]float32, b*c.HeadDim/2)
	w.rows = make([]rowSpec, b)
	w.single = make([]bool, b)
	w.growScores(ctx)
	w.attnFn = w.att1.run
	w.tokFn = w.tok.run
	w.actFn = w.act.run
}

// growScores makes each worker's attention score buffer hold ctx positions.
func (w *work) growScores(ctx int) {
	if ctx > w.scoreCtx {
		w.scoreCtx = ctx
		w.scores = make([]float32, w.pool.Threads()*ctx)
	}
}

// Forward evaluates tokens at the next positions of the cache (in batches of
// at most maxBatch) and returns logits: one row of Vocab per token if all is
// set, else only the last token's row. The returned slice is reused by the
// next call.
func (s *State) Forward(tokens []int32, all bool) ([]float32, error) {
	c := &s.m.Config
	if len(tokens) == 0 {
		return nil, errors.New("forward: no tokens")
	}
	if s.pos+len(tokens) > s.ctx {
		return nil, fmt.Errorf("%w: %d tokens at position %d exceed the context of %d", ErrContextFull, len(tokens), s.pos, s.ctx)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= c.Vocab {
			return nil, fmt.Errorf("forward: token id %d outside the vocabulary (%d)", t, c.Vocab)
		}
	}
	nOut := 1
	if all {
		nOut = len(tokens)
	}
	s.logits = grow(s.logits, nOut*c.Vocab)
	done := 0
	for done < len(tokens) {
		n := min(s.maxBatch, len(tokens)-done)
		batch := tokens[done : done+n]
		for t := range n {
			s.rows[t] = rowSpec{seq: &s.Seq, pos: s.pos + t, single: n == 1}
		}
		s.layers(batch)
		s.pos += n
		// Output head on the rows that need logits.
		first := 0
		if !all {
			if done+n < len(tokens) {
				done += n
				continue
			}
			first = n - 1
		}
		rows := n - first
		for t := first; t < n; t++ {
			asm.RMSNorm(s.h[(t-first)*c.Dim:(t-first+1)*c.Dim], s.x[t*c.Dim:(t+1)*c.Dim], s.m.OutputNorm, c.NormEps)
		}
		outOff := 0
		if all {
			outOff = done * c.Vocab
		}
		s.m.Output.MatMul(s.logits[outOff:outOff+rows*c.Vocab], s.h[:rows*c.Dim], rows, s.pool, &s.scratch)
		done += n
	}
	return s.logits, nil
}

// layers runs the decoder blocks on a batch whose rows are placed by
// s.rows[:len(tokens)], leaving the residual stream in s.x. The caller
// advances the positions of the sequences.
//
// Between the matrix products, the element-wise work of each token (norms,
// scales, RoPE, the cache writes, the FFN activation, residual adds) runs in
// tokenStep, a parallel loop over the tokens of a prompt batch (each
// token's results depend on that token alone, so they do not depend on the
// split), inline for a one-token batch.
func (s *work) layers(tokens []int32) {
	m := s.m
	c := &m.Config
	n := len(tokens)
	dim, hd := c.Dim, c.HeadDim
	for t, id := range tokens {
		m.Embed.RowF32(s.x[t*dim:(t+1)*dim], int(id))
	}
	half := hd / 2
	rows, single := s.rows[:n], s.single[:n]
	for t, r := range rows {
		asm.RopeCache(s.ropeCos[t*half:(t+1)*half], s.ropeSin[t*half:(t+1)*half], r.pos, c.RopeBase, hd)
		single[t] = r.single
	}
	h := s.h[:n*dim]
	if len(m.Layers) > 0 {
		s.perToken(stepAttnNorm, 0, n)
	}
	for li := range m.Layers {
		L := &m.Layers[li]
		q, k, v := s.q[:n*c.QDim()], s.k[:n*c.KVDim()], s.v[:n*c.KVDim()]
		s.group3 = [3]*Matrix{L.Wq, L.Wk, L.Wv}
		s.outs3 = [3][]float32{q, k, v}
		matMulGroup(s.group3[:], s.outs3[:], h, n, single, s.pool, &s.scratch)
		s.perToken(stepQKV, li, n)
		s.attention(li, n)
		if L.AttnSubNorm != nil {
			s.perToken(stepAttnSubNorm, li, n)
		}
		s.group3[0], s.outs3[0] = L.Wo, s.o[:n*dim]
		matMulGroup(s.group3[:1], s.outs3[:1], s.att[:n*c.QDim()], n, single, s.pool, &s.scratch)
		s.perToken(stepAttnOut, li, n)

		g, u := s.gate[:n*c.FFN], s.up[:n*c.FFN]
		s.group3 = [3]*Matrix{L.Wgate, L.Wup}
		s.outs3 = [3][]float32{g, u}
		matMulGroup(s.group3[:2], s.outs3[:2], h, n, single, s.pool, &s.scratch)
		s.perToken(stepFFN, li, n)
		s.group3[0], s.outs3[0] = L.Wdown, s.o[:n*dim]
		matMulGroup(s.group3[:1], s.outs3[:1], g, n, single, s.pool, &s.scratch)
		s.perToken(stepFFNOut, li, n)
	}
}

// tokenStep names the element-wise work between two products of a layer.
type tokenStep uint8

const (
	stepAttnNorm    tokenStep = iota // h = attention norm(x) of layer 0
	stepQKV                          // q/k/v scales, RoPE, K/V into the cache, q to F16
	stepAttnSubNorm                  // the attention output's sub-norm
	stepAttnOut                      // Wo's scale, residual add, h = FFN norm(x)
	stepFFN                          // gate/up scales, activation, FFN sub-norm
	stepFFNOut                       // down's scale, residual add, h = next layer's attention norm(x)
)

// tokenJob is one tokenStep of one layer over a batch, split over tokens by
// the pool.
type tokenJob struct {
	w    *work
	step tokenStep
	li   int
}

func (j *tokenJob) run(_, lo, hi int) {
	for t := lo; t < hi; t++ {
		j.w.tokenStep(j.step, j.li, t)
	}
}

// perToken runs step of layer li for the n tokens of the batch.
func (s *work) perToken(step tokenStep, li, n int) {
	if n == 1 {
		if step == stepFFN && s.pool.Threads() > 1 {
			s.ffnOne(li)
			return
		}
		s.tokenStep(step, li, 0)
		return
	}
	s.tok = tokenJob{w: s, step: step, li: li}
	s.pool.For(n, 1, s.tokFn)
}

// tokenStep does step of layer li for token t of the batch.
func (s *work) tokenStep(step tokenStep, li, t int) {
	m := s.m
	c := &m.Config
	L := &m.Layers[li]
	dim, qd, kvd, hd := c.Dim, c.QDim(), c.KVDim(), c.HeadDim
	x, h := s.x[t*dim:(t+1)*dim], s.h[t*dim:(t+1)*dim]
	switch step {
	case stepAttnNorm:
		asm.RMSNorm(h, x, L.AttnNorm, c.NormEps)
	case stepQKV:
		q, k, v := s.q[t*qd:(t+1)*qd], s.k[t*kvd:(t+1)*kvd], s.v[t*kvd:(t+1)*kvd]
		scaleVec(q, L.ScaleQ)
		scaleVec(k, L.ScaleK)
		scaleVec(v, L.ScaleV)
		half := hd / 2
		cs, sn := s.ropeCos[t*half:(t+1)*half], s.ropeSin[t*half:(t+1)*half]
		rope := asm.RopeNeoX
		if c.Rope == RopeNorm {
			rope = ropeNorm
		}
		for hh := 0; hh < c.Heads; hh++ {
			rope(q[hh*hd:(hh+1)*hd], cs, sn)
		}
		for hh := 0; hh < c.KVHeads; hh++ {
			rope(k[hh*hd:(hh+1)*hd], cs, sn)
		}
		// The cache holds K and V in F16, and the queries are rounded to F16
		// before the QK dot, as in llama.cpp.
		r := s.rows[t]
		asm.F32ToF16s(r.seq.k[li][r.pos*kvd:(r.pos+1)*kvd], k)
		asm.F32ToF16s(r.seq.v[li][r.pos*kvd:(r.pos+1)*kvd], v)
		asm.F32ToF16s(s.qh[t*qd:(t+1)*qd], q)
	case stepAttnSubNorm:
		att := s.att[t*qd : (t+1)*qd]
		asm.RMSNorm(att, att, L.AttnSubNorm, c.NormEps)
	case stepAttnOut:
		o := s.o[t*dim : (t+1)*dim]
		scaleVec(o, L.ScaleO)
		for i := range x {
			x[i] += o[i]
		}
		asm.RMSNorm(h, x, L.FFNNorm, c.NormEps)
	case stepFFN:
		s.ffnAct(li, t, 0, c.FFN)
		if L.FFNSubNorm != nil {
			g := s.gate[t*c.FFN : (t+1)*c.FFN]
			asm.RMSNorm(g, g, L.FFNSubNorm, c.NormEps)
		}
	case stepFFNOut:
		o := s.o[t*dim : (t+1)*dim]
		scaleVec(o, L.ScaleDown)
		for i := range x {
			x[i] += o[i]
		}
		if li+1 < len(m.Layers) {
			asm.RMSNorm(h, x, m.Layers[li+1].AttnNorm, c.NormEps)
		}
	}
}

// ffnAct applies the gate and up scales and the gated activation of layer
// li to elements [lo, hi) of token t's FFN vectors, leaving the result in
// s.gate. Each element depends on its own inputs alone.
func (s *work) ffnAct(li, t, lo, hi int) {
	c := &s.m.Config
	L := &s.m.Layers[li]
	g, u := s.gate[t*c.FFN+lo:t*c.FFN+hi], s.up[t*c.FFN+lo:t*c.FFN+hi]
	scaleVec(g, L.ScaleGate)
	scaleVec(u, L.ScaleUp)
	switch c.Activation {
	case ReLU2:
		for i, gv := range g {
			r := max(gv, 0)
			g[i] = (r * r) * u[i]
		}
	case SiLU:
		for i, gv := range g {
			g[i] = gv / (1 + float32(math.Exp(float64(-gv)))) * u[i]
		}
	}
}

// actJob is the FFN activation of one token split over the pool.
type actJob struct {
	w  *work
	li int
}

func (j *actJob) run(_, lo, hi int) { j.w.ffnAct(j.li, 0, lo, hi) }

// ffnGrain is the split granularity of a one-token FFN activation.
const ffnGrain = 256

// ffnOne is stepFFN for a one-token batch with the activation split over
// the pool: the SiLU's exp is most of the serial work between the products
// of a decode step (6912 math.Exp calls a layer for the 3B-style graph),
// which the other threads would otherwise wait out. The results do not
// depend on the split. The sub-norm, a sequential sum, stays on this
// thread.
func (s *work) ffnOne(li int) {
	c := &s.m.Config
	L := &s.m.Layers[li]
	s.act = actJob{w: s, li: li}
	s.pool.For(c.FFN, ffnGrain, s.actFn)
	if L.FFNSubNorm != nil {
		g := s.gate[:c.FFN]
		asm.RMSNorm(g, g, L.FFNSubNorm, c.NormEps)
	}
}

// ropeNorm rotates one head vector x (len n) in place the way ggml's normal
// RoPE mode does: values 2i and 2i+1 form pair i, rotated by the angle of
// RopeCache's entry i (the same angles as the NeoX mode, other pairs).
func ropeNorm(x, cos, sin []float32) {
	for i := range len(x) / 2 {
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i] = x0*cos[i] - x1*sin[i]
		x[2*i+1] = x0*sin[i] + x1*cos[i]
	}
}

func scaleVec(x []float32, s float32) {
	if s == 0 {
		return
	}
	for i := range x {
		x[i] *= s
	}
}

// attention computes causal multi-head attention of the n new queries over
// the caches of their sequences, ggml's way: f16(q)·f16(k) in f32, softmax
// with the 1/√d scale in f32, then the probabilities times the f16 values
// (the probabilities are rounded to F16 when the reference engine does; see
// attnJob.run).
func (s *work) attention(li, n int) {
	hd := s.m.HeadDim
	s.att1 = attnJob{w: s, li: li, n: n, scale: 1 / float32(math.Sqrt(float64(hd)))}
	// Jobs are numbered head-major (job = head·n + token): a worker's range
	// then holds whole heads, all tokens of them, so the causal rows (whose
	// cost grows with the position) spread evenly over the workers, and
	// consecutive jobs read the same cached keys and values.
	s.pool.For(n*s.m.Heads, 1, s.attnFn)
}

func (j *attnJob) run(w, lo, hi int) {
	s := j.w
	c := &s.m.Config
	qd, kvd, hd := c.QDim(), c.KVDim(), c.HeadDim
	group := c.Heads / c.KVHeads
	sc := s.scores[w*s.scoreCtx : (w+1)*s.scoreCtx] // this worker's score buffer
	for job := lo; job < hi; job++ {
		hh, t := job/j.n, job%j.n
		r := &s.rows[t]
		kvh := hh / group
		nkv := r.pos + 1
		scores := sc[:nkv]
		kc, vc := r.seq.k[j.li], r.seq.v[j.li]
		// Scores of this query head against every cached key of its KV head.
		asm.F16DotsStrided(scores, kc[kvh*hd:], kvd, s.qh[t*qd+hh*hd:t*qd+(hh+1)*hd])
		asm.SoftmaxInPlace(scores, j.scale)
		if r.single || c.Engine == Upstream {
			// The fork multiplies V with the probabilities rounded to F16
			// for a one-token batch (ggml's vec_dot_f16 path) and in f32 for
			// larger batches (llamafile's sgemm); upstream rounds them for
			// every batch. (A Batch applies the one-token rule to the rows
			// of its one-token chunks.) Matching this is what keeps the logits within
			// ~1e-6 of the reference engines' until an int8 rounding flips.
			for i, v := range scores {
				scores[i] = asm.RoundF16(v)
			}
		}
		out := s.att[t*qd+hh*hd : t*qd+(hh+1)*hd]
		clear(out)
		asm.F16AXPYStrided(out, scores, vc[kvh*hd:], kvd)
	}
}
