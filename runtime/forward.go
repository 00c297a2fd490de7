package runtime

import (
	"errors"
	"fmt"
	"math"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/ref"
)

// ErrContextFull is returned when a forward pass would run past the KV
// cache.
var ErrContextFull = errors.New("context is full")

// State is one inference session: the KV cache and the buffers of the
// forward pass. A State is not safe for concurrent use.
type State struct {
	m    *Model
	pool *Pool
	ctx  int
	pos  int

	// KV cache in binary16, [layer][pos][kvDim], as llama.cpp keeps it.
	kcache, vcache [][]uint16

	maxBatch int
	// per-token buffers, maxBatch rows each
	x, h, q, k, v, att, o []float32
	gate, up              []float32
	logits                []float32
	qh                    []uint16 // queries rounded to F16
	scores                []float32
	ropeCos, ropeSin      []float32
	scratch               Scratch
	one                   [1]int32 // the token of a decode step
	group3                [3]*Matrix
	outs3                 [3][]float32

	att1   attnJob
	attnFn func(w, lo, hi int)
}

// attnJob is the attention of one layer for a batch, split over
// (token, head) pairs by the pool.
type attnJob struct {
	s      *State
	li, n  int
	scale  float32
	kc, vc []uint16
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
	c := &m.Config
	s := &State{m: m, pool: pool, ctx: ctx, maxBatch: maxBatch}
	s.kcache = make([][]uint16, c.Layers)
	s.vcache = make([][]uint16, c.Layers)
	for l := range s.kcache {
		s.kcache[l] = make([]uint16, ctx*c.KVDim())
		s.vcache[l] = make([]uint16, ctx*c.KVDim())
	}
	b := maxBatch
	s.x = make([]float32, b*c.Dim)
	s.h = make([]float32, b*c.Dim)
	s.q = make([]float32, b*c.QDim())
	s.k = make([]float32, b*c.KVDim())
	s.v = make([]float32, b*c.KVDim())
	s.att = make([]float32, b*c.QDim())
	s.o = make([]float32, b*c.Dim)
	s.gate = make([]float32, b*c.FFN)
	s.up = make([]float32, b*c.FFN)
	s.qh = make([]uint16, b*c.QDim())
	s.scores = make([]float32, pool.Threads()*ctx)
	s.ropeCos = make([]float32, b*c.HeadDim/2)
	s.ropeSin = make([]float32, b*c.HeadDim/2)
	s.attnFn = s.att1.run
	return s, nil
}

// Pos is the number of positions in the KV cache.
func (s *State) Pos() int { return s.pos }

// KVBytes is the size of the KV cache in bytes.
func (s *State) KVBytes() int {
	n := 0
	for l := range s.kcache {
		n += 2 * (len(s.kcache[l]) + len(s.vcache[l]))
	}
	return n
}

// Ctx is the size of the KV cache.
func (s *State) Ctx() int { return s.ctx }

// Reset empties the KV cache.
func (s *State) Reset() { s.pos = 0 }

// Truncate drops cache positions from pos on.
func (s *State) Truncate(pos int) {
	if pos < s.pos {
		s.pos = max(pos, 0)
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
		s.layers(batch)
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
			ref.RMSNorm(s.h[(t-first)*c.Dim:(t-first+1)*c.Dim], s.x[t*c.Dim:(t+1)*c.Dim], s.m.OutputNorm, c.NormEps)
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

// layers runs the decoder blocks on a batch, leaving the residual stream in
// s.x and advancing the position.
func (s *State) layers(tokens []int32) {
	m := s.m
	c := &m.Config
	n := len(tokens)
	dim, qd, kvd, hd := c.Dim, c.QDim(), c.KVDim(), c.HeadDim
	for t, id := range tokens {
		m.Embed.RowF32(s.x[t*dim:(t+1)*dim], int(id))
	}
	half := hd / 2
	for t := 0; t < n; t++ {
		ref.RopeCache(s.ropeCos[t*half:(t+1)*half], s.ropeSin[t*half:(t+1)*half], s.pos+t, c.RopeBase, hd)
	}
	x, h := s.x[:n*dim], s.h[:n*dim]
	for li := range m.Layers {
		L := &m.Layers[li]
		for t := 0; t < n; t++ {
			ref.RMSNorm(h[t*dim:(t+1)*dim], x[t*dim:(t+1)*dim], L.AttnNorm, c.NormEps)
		}
		q, k, v := s.q[:n*qd], s.k[:n*kvd], s.v[:n*kvd]
		s.group3 = [3]*Matrix{L.Wq, L.Wk, L.Wv}
		s.outs3 = [3][]float32{q, k, v}
		MatMulGroup(s.group3[:], s.outs3[:], h, n, s.pool, &s.scratch)
		scaleVec(q, L.ScaleQ)
		scaleVec(k, L.ScaleK)
		scaleVec(v, L.ScaleV)
		kc, vc := s.kcache[li], s.vcache[li]
		for t := 0; t < n; t++ {
			cs, sn := s.ropeCos[t*half:(t+1)*half], s.ropeSin[t*half:(t+1)*half]
			rope := ref.RopeNeoX
			if c.Rope == RopeNorm {
				rope = ropeNorm
			}
			for hh := 0; hh < c.Heads; hh++ {
				rope(q[t*qd+hh*hd:t*qd+(hh+1)*hd], cs, sn)
			}
			for hh := 0; hh < c.KVHeads; hh++ {
				rope(k[t*kvd+hh*hd:t*kvd+(hh+1)*hd], cs, sn)
			}
		}
		// The cache holds K and V in F16, and the queries are rounded to F16
		// before the QK dot, as in llama.cpp.
		asm.F32ToF16s(kc[s.pos*kvd:(s.pos+n)*kvd], k)
		asm.F32ToF16s(vc[s.pos*kvd:(s.pos+n)*kvd], v)
		asm.F32ToF16s(s.qh[:n*qd], q)
		s.attention(li, n)
		att := s.att[:n*qd]
		if L.AttnSubNorm != nil {
			for t := 0; t < n; t++ {
				ref.RMSNorm(att[t*qd:(t+1)*qd], att[t*qd:(t+1)*qd], L.AttnSubNorm, c.NormEps)
			}
		}
		o := s.o[:n*dim]
		L.Wo.MatMul(o, att, n, s.pool, &s.scratch)
		scaleVec(o, L.ScaleO)
		for i := range x {
			x[i] += o[i]
		}

		for t := 0; t < n; t++ {
			ref.RMSNorm(h[t*dim:(t+1)*dim], x[t*dim:(t+1)*dim], L.FFNNorm, c.NormEps)
		}
		g, u := s.gate[:n*c.FFN], s.up[:n*c.FFN]
		s.group3 = [3]*Matrix{L.Wgate, L.Wup}
		s.outs3 = [3][]float32{g, u}
		MatMulGroup(s.group3[:2], s.outs3[:2], h, n, s.pool, &s.scratch)
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
		if L.FFNSubNorm != nil {
			for t := 0; t < n; t++ {
				ref.RMSNorm(g[t*c.FFN:(t+1)*c.FFN], g[t*c.FFN:(t+1)*c.FFN], L.FFNSubNorm, c.NormEps)
			}
		}
		L.Wdown.MatMul(o, g, n, s.pool, &s.scratch)
		scaleVec(o, L.ScaleDown)
		for i := range x {
			x[i] += o[i]
		}
	}
	s.pos += n
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
// the cache, ggml's way: f16(q)·f16(k) in f32, softmax with the 1/√d scale
// in f32, then the probabilities times the f16 values (the probabilities are
// rounded to F16 when the reference engine does; see attnJob.run).
func (s *State) attention(li, n int) {
	hd := s.m.HeadDim
	s.att1 = attnJob{s: s, li: li, n: n, scale: 1 / float32(math.Sqrt(float64(hd))), kc: s.kcache[li], vc: s.vcache[li]}
	s.pool.For(n*s.m.Heads, 1, s.attnFn)
}

func (j *attnJob) run(w, lo, hi int) {
	s := j.s
	c := &s.m.Config
	qd, kvd, hd := c.QDim(), c.KVDim(), c.HeadDim
	group := c.Heads / c.KVHeads
	sc := s.scores[w*s.ctx : (w+1)*s.ctx] // this worker's score buffer
	for job := lo; job < hi; job++ {
		t, hh := job/c.Heads, job%c.Heads
		kvh := hh / group
		nkv := s.pos + t + 1
		scores := sc[:nkv]
		// Scores of this query head against every cached key of its KV head.
		asm.F16DotsStrided(scores, j.kc[kvh*hd:], kvd, s.qh[t*qd+hh*hd:t*qd+(hh+1)*hd])
		ref.SoftmaxInPlace(scores, j.scale)
		if j.n == 1 || c.Engine == Upstream {
			// The fork multiplies V with the probabilities rounded to F16
			// for a one-token batch (ggml's vec_dot_f16 path) and in f32 for
			// larger batches (llamafile's sgemm); upstream rounds them for
			// every batch. Matching this is what keeps the logits within
			// ~1e-6 of the reference engines' until an int8 rounding flips.
			for i, v := range scores {
				scores[i] = ref.RoundF16(v)
			}
		}
		out := s.att[t*qd+hh*hd : t*qd+(hh+1)*hd]
		clear(out)
		asm.F16AXPYStrided(out, scores, j.vc[kvh*hd:], kvd)
	}
}
