// Package train trains BitNet b1.58 models (the 2B4T graph: ReLU² gated
// FFN, attention and FFN sub-norms, grouped-query attention, NeoX RoPE, tied
// embeddings, no biases) from scratch on a CPU and exports them as GGUF
// files that package loader, bitnet-run and bitnet.cpp load.
//
// The forward pass is the runtime's: every BitLinear ternarizes its weight
// per tensor (γ = mean|W|, W_q = clamp(round(W/(γ+1e-6)), −1, 1)·γ) and
// quantizes its input per token to int8 with the runtime's own quantizer
// (asm.QuantizeI8); the product of the int8 codes and the ternary codes is
// computed exactly (an integer-valued float32 GEMM) and scaled by γ/s, so the
// trainer's logits are the runtime's I2_S logits up to the F16 rounding the
// runtime applies in attention and in the output head. Gradients pass
// straight through both quantizers. Every backward pass is written by hand.
//
// Package layout: model.go (shapes, parameters), engine.go (forward and
// backward of a micro-batch), attention.go, ops.go (element-wise ops),
// optim.go (AdamW, schedule, clipping), data.go (tokens, shards, batches),
// checkpoint.go, export.go (GGUF), report.go (progress, metrics, loss.svg),
// wstats.go (per-matrix weight statistics, bits per parameter, no-bias
// check), wplot.go (ternary.svg) and trainer.go (the training loop).
package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bitnet-go/bitnet/layout"
)

// Config is the shape of a model.
type Config struct {
	Vocab    int     `json:"vocab"`
	Dim      int     `json:"dim"`
	Layers   int     `json:"layers"`
	Heads    int     `json:"heads"`
	KVHeads  int     `json:"kv_heads"`
	FFN      int     `json:"ffn"`
	Ctx      int     `json:"ctx"` // training context (tokens per sequence)
	NormEps  float32 `json:"norm_eps"`
	RopeBase float32 `json:"rope_base"`
}

// HeadDim is the dimension of one attention head.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// QDim is the width of the query projection (= Dim).
func (c Config) QDim() int { return c.Heads * c.HeadDim() }

// KVDim is the width of the key and value projections.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim() }

// Validate checks that the shape is consistent and within the bounds
// (MaxDim, MaxLayers, MaxCtx, MaxVocab).
func (c Config) Validate() error {
	switch {
	case c.Vocab <= 0 || c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.FFN <= 0 || c.Ctx <= 0:
		return fmt.Errorf("train: non-positive dimension in %+v", c)
	case c.Dim > MaxDim || c.FFN > MaxDim:
		return fmt.Errorf("train: dim %d and FFN %d must be at most %d", c.Dim, c.FFN, MaxDim)
	case c.Layers > MaxLayers:
		return fmt.Errorf("train: %d layers: at most %d", c.Layers, MaxLayers)
	case c.Vocab > MaxVocab:
		return fmt.Errorf("train: vocabulary of %d tokens: at most %d", c.Vocab, MaxVocab)
	case c.Ctx < 2 || c.Ctx > MaxCtx:
		// A row is BOS plus Ctx−1 tokens; validation windows advance by
		// Ctx−1 tokens, so a context of 1 would never move.
		return fmt.Errorf("train: context %d: must be between 2 and %d", c.Ctx, MaxCtx)
	case c.Dim%c.Heads != 0:
		return fmt.Errorf("train: dim %d is not a multiple of %d heads", c.Dim, c.Heads)
	case c.HeadDim()%2 != 0:
		return fmt.Errorf("train: head dimension %d must be even (RoPE pairs)", c.HeadDim())
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("train: %d heads is not a multiple of %d KV heads", c.Heads, c.KVHeads)
	case !(c.NormEps > 0) || !(c.RopeBase > 0) || math.IsInf(float64(c.NormEps), 0) || math.IsInf(float64(c.RopeBase), 0):
		return fmt.Errorf("train: norm eps %g and rope base %g must be positive and finite", c.NormEps, c.RopeBase)
	}
	return nil
}

// Kinds of parameter tensors: they differ in quantization and weight decay.
type tensorKind int

const (
	kindEmbed   tensorKind = iota // token_embd: float, no decay
	kindNorm                      // RMSNorm weights: float, no decay
	kindTernary                   // BitLinear weights: ternarized, decayed
)

// tensor is one parameter tensor inside the flat parameter vector: rows ×
// cols floats at off (cols is the input dimension of a linear layer).
type tensor struct {
	Name       string // GGUF name, e.g. "blk.0.attn_q.weight"
	Kind       tensorKind
	Off        int
	Rows, Cols int
}

// Size is the number of elements.
func (t tensor) Size() int { return t.Rows * t.Cols }

// layerTensors indexes the tensors of one block in paramLayout.Tensors. Storage
// keeps q, k, v adjacent (one fused [Q+2KV × Dim] matrix) and gate, up
// adjacent (one [2·FFN × Dim] matrix).
type layerTensors struct {
	AttnNorm, Q, K, V, O, AttnSubNorm   int
	FFNNorm, Gate, Up, Down, FFNSubNorm int
}

// paramLayout places every parameter tensor in one flat float32 vector.
type paramLayout struct {
	Tensors    []tensor
	Size       int
	Embed      int
	OutputNorm int
	Layers     []layerTensors
}

func newLayout(c Config) *paramLayout {
	l := &paramLayout{}
	add := func(name string, kind tensorKind, rows, cols int) int {
		l.Tensors = append(l.Tensors, tensor{name, kind, l.Size, rows, cols})
		l.Size += rows * cols
		return len(l.Tensors) - 1
	}
	l.Embed = add(layout.TokenEmbd, kindEmbed, c.Vocab, c.Dim)
	for i := 0; i < c.Layers; i++ {
		p := func(name string) string { return layout.Block(i, name) }
		var t layerTensors
		t.AttnNorm = add(p(layout.AttnNorm), kindNorm, 1, c.Dim)
		t.Q = add(p(layout.AttnQ), kindTernary, c.QDim(), c.Dim)
		t.K = add(p(layout.AttnK), kindTernary, c.KVDim(), c.Dim)
		t.V = add(p(layout.AttnV), kindTernary, c.KVDim(), c.Dim)
		t.AttnSubNorm = add(p(layout.AttnSubNorm), kindNorm, 1, c.QDim())
		t.O = add(p(layout.AttnOutput), kindTernary, c.Dim, c.QDim())
		t.FFNNorm = add(p(layout.FFNNorm), kindNorm, 1, c.Dim)
		t.Gate = add(p(layout.FFNGate), kindTernary, c.FFN, c.Dim)
		t.Up = add(p(layout.FFNUp), kindTernary, c.FFN, c.Dim)
		t.FFNSubNorm = add(p(layout.FFNSubNorm), kindNorm, 1, c.FFN)
		t.Down = add(p(layout.FFNDown), kindTernary, c.Dim, c.FFN)
		l.Layers = append(l.Layers, t)
	}
	l.OutputNorm = add(layout.OutputNorm, kindNorm, 1, c.Dim)
	return l
}

// view returns tensor i of the flat vector v.
func (l *paramLayout) view(v []float32, i int) []float32 {
	t := l.Tensors[i]
	return v[t.Off : t.Off+t.Size()]
}

// span returns the contiguous tensors first..last of v as one slice.
func (l *paramLayout) span(v []float32, first, last int) []float32 {
	return v[l.Tensors[first].Off : l.Tensors[last].Off+l.Tensors[last].Size()]
}

// Model is a model's shape and float32 master weights.
type Model struct {
	Config Config
	W      []float32 // all parameters, in layout order
	lay    *paramLayout
}

// NewModel returns a model initialized as the reference recipe does:
// weights N(0, 0.02) (embedding included), norm weights 1, from seed.
func NewModel(c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: c, lay: newLayout(c)}
	m.W = make([]float32, m.lay.Size)
	r := rand.New(rand.NewPCG(seed, 0x6269746e6574)) // "bitnet"
	for _, t := range m.lay.Tensors {
		w := m.W[t.Off : t.Off+t.Size()]
		if t.Kind == kindNorm {
			for i := range w {
				w[i] = 1
			}
			continue
		}
		for i := range w {
			w[i] = float32(0.02 * r.NormFloat64())
		}
	}
	return m, nil
}

// NumParams is the number of parameters.
func (m *Model) NumParams() int { return len(m.W) }

// NumTernary is the number of ternarized (BitLinear) weights.
func (m *Model) NumTernary() int {
	n := 0
	for _, t := range m.lay.Tensors {
		if t.Kind == kindTernary {
			n += t.Size()
		}
	}
	return n
}

// ternarize quantizes one weight tensor: γ = mean|w| (summed in float64),
// t = clamp(round(w/(γ+1e-6)), −1, 1) with round half to even. It writes t
// into tern (as floats) and t·γ into wq (either may be nil), counts the
// codes into hist (−1, 0, +1) and returns γ.
func ternarize(tern, wq, w []float32, hist *[3]int) float32 {
	var sum float64
	for _, v := range w {
		sum += math.Abs(float64(v))
	}
	gamma := float32(sum / float64(len(w)))
	den := gamma + 1e-6
	for i, v := range w {
		t := float32(math.RoundToEven(float64(v / den)))
		t = max(-1, min(1, t))
		if tern != nil {
			tern[i] = t
		}
		if wq != nil {
			wq[i] = t * gamma
		}
		if hist != nil {
			hist[int(t)+1]++
		}
	}
	return gamma
}
