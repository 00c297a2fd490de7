package train

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/internal/par"
)

// BenchmarkStep times one optimizer step of the reference configuration
// (dim 256, 4 layers, 4/2 heads, FFN 768, vocab 4096, 12 × 256 tokens) on
// two threads and reports tokens/s (the reference trainer: 2287).
func BenchmarkStep(b *testing.B) {
	for _, micro := range []int{4, 12} {
		b.Run(fmt.Sprintf("micro=%d", micro), func(b *testing.B) {
			c := Config{Vocab: 4096, Dim: 256, Layers: 4, Heads: 4, KVHeads: 2, FFN: 768, Ctx: 256, NormEps: 1e-5, RopeBase: 500000}
			m, _ := NewModel(c, 1)
			r := rand.New(rand.NewPCG(1, 2))
			stream := make([]int32, 200000)
			for i := range stream {
				stream[i] = int32(r.IntN(c.Vocab))
			}
			s, _ := NewBatchSampler(stream, c.Ctx, 0, SamplePacked, 1, nil)
			o := DefaultOptions(1000)
			o.Micro = micro
			tr, err := NewTrainer(m, o, s)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			tr.Step()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr.Step()
			}
			b.ReportMetric(float64(b.N*o.Batch*c.Ctx)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

func BenchmarkExpf(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 256
	}
	var s float32
	for b.Loop() {
		for _, v := range x {
			s += expf(v)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/exp")
	_ = s
}

func BenchmarkAdamW(b *testing.B) {
	c := Config{Vocab: 4096, Dim: 256, Layers: 4, Heads: 4, KVHeads: 2, FFN: 768, Ctx: 256, NormEps: 1e-5, RopeBase: 500000}
	m, _ := NewModel(c, 1)
	n := len(m.W)
	g, mm, v := make([]float32, n), make([]float32, n), make([]float32, n)
	p := par.New(2)
	defer p.Close()
	ch := optChunks(m.lay)
	o := DefaultOptions(10).Optimizer
	for b.Loop() {
		o.step(p, ch, m.W, g, mm, v, 3, 1e-3, 0.1, 1)
	}
}
