package train

import (
	"fmt"
	"math"
)

// Bounds on a model's shape and a run's settings, checked before anything
// is allocated: they keep every size computation below far from int
// overflow. The memory a run needs is checked against the machine's by
// CheckMemory.
const (
	MaxDim     = 1 << 16 // dim, FFN, query width
	MaxLayers  = 1 << 10
	MaxCtx     = 1 << 16
	MaxVocab   = 1 << 24
	MaxBatch   = 1 << 16 // sequences per step
	MaxSteps   = 1 << 30
	MaxThreads = 1 << 10
)

// EstimateBytes is the memory (bytes, an upper estimate) that training a
// model of shape c with options o holds: master weights, gradients, AdamW
// moments, the quantized and packed weights, checkpoint moments on resume,
// and the activations of one micro-batch. It is computed in float64, so it
// never overflows; c and o need not be valid.
func EstimateBytes(c Config, o Options) float64 {
	D, Q, F, V, T, L := float64(c.Dim), float64(c.Dim), float64(c.FFN), float64(c.Vocab), float64(c.Ctx), float64(c.Layers)
	KV := 0.0
	if c.Heads > 0 {
		KV = float64(c.KVHeads) * D / float64(c.Heads)
	}
	H := float64(c.Heads)
	ldq := Q + 2*KV
	wide := math.Max(D, F)
	params := V*D + L*(ldq*D+Q+D*Q+2*D+2*F*D+F+D*F) + D
	micro, threads := float64(max(o.Micro, 1)), float64(max(o.Threads, 1))
	M := micro * T
	perLayer := M*(4*D+2*Q+ldq+4*F+4) + micro*H*T*T
	global := M*(5*D+3*wide+4*F+ldq+Q+V+4) + threads*(T*T+2*wide)
	// W, grad, m, v, the forward and backward GEMM operands, their packed
	// copies and the moments read from a checkpoint: 10 vectors.
	return 4 * (10*params + L*perLayer + global)
}

// CheckMemory returns an error when a run of shape c with options o needs
// more memory than this machine has (or, where the machine's memory is
// unknown, more than 16 TiB).
func CheckMemory(c Config, o Options) error {
	need := EstimateBytes(c, o)
	limit, known := float64(systemMemory()), true
	if limit <= 0 {
		limit, known = 16*(1<<40), false
	}
	if need > limit {
		if known {
			return fmt.Errorf("train: a run of this shape (dim %d, %d layers, FFN %d, vocabulary %d, context %d, micro-batch %d, %d threads) needs about %.1f GiB, more than this machine's %.1f GiB",
				c.Dim, c.Layers, c.FFN, c.Vocab, c.Ctx, o.Micro, o.Threads, need/(1<<30), limit/(1<<30))
		}
		return fmt.Errorf("train: a run of this shape needs about %.1f GiB", need/(1<<30))
	}
	return nil
}
