// Package runtime runs BitNet b1.58 decoders: the forward pass of the
// 2B4T graph (ReLU² gated FFN, attention and FFN sub-norms), of the
// 1bitLLM graph (SiLU gated FFN) and of the plain Llama graph (SiLU gated
// FFN, no sub-norms, normal RoPE) that HF1BitLLM, Falcon3-1.58bit and
// Falcon-E files use, with a KV cache, a worker pool and the reference
// numerics of each weight format (see Matrix).
//
// The package knows nothing about files: package loader builds a Model from
// a GGUF file.
package runtime

import "fmt"

// Activation is the gate activation of the FFN.
type Activation int

const (
	ReLU2 Activation = iota // relu(g)², the 2B4T graph (bitnet-b1.58, bitnet-25)
	SiLU                    // silu(g), the 1bitLLM graph (bitnet)
)

func (a Activation) String() string {
	if a == SiLU {
		return "silu"
	}
	return "relu2"
}

// RopeStyle is how RoPE pairs the values of a head.
type RopeStyle int

const (
	// RopeNeoX pairs value i with value i + d/2 (ggml's NEOX mode): the
	// bitnet, bitnet-25 and bitnet-b1.58 graphs, HF's rotate_half.
	RopeNeoX RopeStyle = iota
	// RopeNorm pairs values 2i and 2i+1 (ggml's normal mode): the llama
	// graph, whose converter permutes the q/k rows to match.
	RopeNorm
)

func (r RopeStyle) String() string {
	if r == RopeNorm {
		return "norm"
	}
	return "neox"
}

// Engine names the reference engine whose rounding points the forward pass
// follows where the two differ.
type Engine int

const (
	// BitNetFork is llama.cpp's BitNet fork (bitnet.cpp, build 3960), the
	// engine of I2_S files: batches of several tokens multiply the attention
	// probabilities (and the activations of F16 weights) in f32 through
	// llamafile's sgemm; single tokens round them to F16.
	BitNetFork Engine = iota
	// Upstream is current llama.cpp, the engine of TQ1_0/TQ2_0 files: the
	// attention probabilities are rounded to F16 for every batch size.
	Upstream
)

func (e Engine) String() string {
	if e == Upstream {
		return "upstream llama.cpp"
	}
	return "bitnet.cpp fork"
}

// Config holds the hyperparameters of a model.
type Config struct {
	Arch       string // general.architecture
	Dim        int    // embedding length
	Layers     int
	Heads      int
	KVHeads    int
	HeadDim    int
	FFN        int
	Vocab      int
	RopeDim    int // rotated dimensions per head (== HeadDim for BitNet)
	RopeBase   float32
	NormEps    float32
	TrainCtx   int
	Activation Activation
	Rope       RopeStyle
	Engine     Engine // whose numerics to follow (set by the loader from the weight format)
}

// Validate checks that the dimensions are consistent.
func (c *Config) Validate() error {
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.FFN <= 0 || c.Vocab <= 0:
		return fmt.Errorf("config: non-positive dimension in %+v", *c)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("config: %d heads is not a multiple of %d KV heads", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return fmt.Errorf("config: head dimension %d must be positive and even", c.HeadDim)
	case c.RopeDim != c.HeadDim:
		return fmt.Errorf("config: rope dimension %d != head dimension %d (required for BitNet graphs)", c.RopeDim, c.HeadDim)
	}
	return nil
}

// QDim is the width of the query projection.
func (c *Config) QDim() int { return c.Heads * c.HeadDim }

// KVDim is the width of the key and value projections.
func (c *Config) KVDim() int { return c.KVHeads * c.HeadDim }

// Layer holds the weights of one decoder block. The optional per-matrix
// scales (1bitLLM conversions that store pure signs) are 0 when absent. The
// sub-norms are nil in the llama graph, which has none.
type Layer struct {
	AttnNorm, AttnSubNorm, FFNNorm, FFNSubNorm []float32

	Wq, Wk, Wv, Wo     *Matrix
	Wgate, Wup, Wdown  *Matrix
	ScaleQ, ScaleK     float32
	ScaleV, ScaleO     float32
	ScaleGate, ScaleUp float32
	ScaleDown          float32
}

// Model is a loaded model: configuration and weights.
type Model struct {
	Config
	Embed      *Matrix // token embedding, Vocab rows of Dim
	OutputNorm []float32
	Output     *Matrix // output head, Vocab rows of Dim (Embed itself where tied)
	Layers     []Layer
}
