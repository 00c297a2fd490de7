package train

import (
	"math"

	"github.com/bitnet-go/bitnet/internal/par"
)

// Schedule is the BitNet two-stage learning-rate and weight-decay schedule
// of the reference run, as a function of the 0-based step i:
//
//   - warm-up: lr = Peak·(i+1)/Warmup for i < Warmup;
//   - stage 1 (i < Steps/2): cosine from Peak down to Stage1Floor·Peak,
//     weight decay WD;
//   - stage 2: cosine from Stage2Start·Peak down to MinLR at the last step,
//     weight decay 0.
type Schedule struct {
	Peak        float64 `json:"lr"`
	Warmup      int     `json:"warmup"`
	Steps       int     `json:"steps"`
	Stage1Floor float64 `json:"s1_floor"` // fraction of Peak reached at the midpoint
	Stage2Start float64 `json:"s2_start"` // fraction of Peak stage 2 starts at
	MinLR       float64 `json:"min_lr"`
	WD          float64 `json:"wd"` // stage-1 weight decay
}

// At returns the learning rate and weight decay of step i.
func (s Schedule) At(i int) (lr, wd float64) {
	mid := s.Steps / 2
	if i < s.Warmup {
		lr = s.Peak * float64(i+1) / float64(s.Warmup)
		if i < mid {
			return lr, s.WD
		}
		return lr, 0
	}
	cos := func(from, to, frac float64) float64 {
		frac = max(0, min(1, frac))
		return to + (from-to)*0.5*(1+math.Cos(math.Pi*frac))
	}
	if i < mid {
		return cos(s.Peak, s.Stage1Floor*s.Peak, float64(i-s.Warmup)/float64(max(1, mid-s.Warmup))), s.WD
	}
	start := max(mid, s.Warmup)
	return cos(s.Stage2Start*s.Peak, s.MinLR, float64(i-start)/float64(max(1, s.Steps-1-start))), 0
}

// AdamW holds the optimizer settings (PyTorch semantics: decoupled weight
// decay p ← p·(1 − lr·wd), bias-corrected moments, ε added to the
// corrected √v).
type AdamW struct {
	Beta1 float64 `json:"beta1"`
	Beta2 float64 `json:"beta2"`
	Eps   float64 `json:"eps"`
	Clip  float64 `json:"clip"` // max global gradient norm (0: off)
}

// optChunk is the granularity of the parallel optimizer loops; sums over
// chunks are combined in chunk order, so the gradient norm does not depend
// on the thread count.
const optChunk = 1 << 15

type optChunkRange struct {
	lo, hi int
	decay  bool
}

// optChunks cuts the parameter vector into chunks that do not cross tensor
// boundaries, recording whether each is weight-decayed (ternary weights
// only: never norms or the embedding).
func optChunks(lay *paramLayout) []optChunkRange {
	var cs []optChunkRange
	for _, t := range lay.Tensors {
		for lo := t.Off; lo < t.Off+t.Size(); lo += optChunk {
			cs = append(cs, optChunkRange{lo, min(lo+optChunk, t.Off+t.Size()), t.Kind == kindTernary})
		}
	}
	return cs
}

// gradNorm returns the global L2 norm of g.
func gradNorm(p *par.Pool, chunks []optChunkRange, g []float32) float64 {
	parts := make([]float64, len(chunks))
	p.ForEach(len(chunks), func(_, i int) {
		var s float64
		for _, v := range g[chunks[i].lo:chunks[i].hi] {
			s += float64(v) * float64(v)
		}
		parts[i] = s
	})
	var s float64
	for _, v := range parts {
		s += v
	}
	return math.Sqrt(s)
}

// step applies one AdamW update with gradient gscale·g at 1-based step t
// (gscale carries the gradient clipping).
func (o AdamW) step(p *par.Pool, chunks []optChunkRange, w, g, m, v []float32, t int, lr, wd float64, gscale float32) {
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	bc1 := 1 - math.Pow(o.Beta1, float64(t))
	bc2 := 1 - math.Pow(o.Beta2, float64(t))
	stepSize := float32(lr / bc1)
	invSqrtBC2 := float32(1 / math.Sqrt(bc2))
	eps := float32(o.Eps)
	p.ForEach(len(chunks), func(_, i int) {
		c := chunks[i]
		ws, gs, ms, vs := w[c.lo:c.hi], g[c.lo:c.hi], m[c.lo:c.hi], v[c.lo:c.hi]
		decay := float32(1)
		if c.decay {
			decay = float32(1 - lr*wd)
		}
		for j, gv := range gs {
			gv *= gscale
			mj := b1*ms[j] + (1-b1)*gv
			vj := b2*vs[j] + (1-b2)*gv*gv
			ms[j], vs[j] = mj, vj
			denom := float32(math.Sqrt(float64(vj)))*invSqrtBC2 + eps
			ws[j] = ws[j]*decay - stepSize*mj/denom
		}
	})
}
