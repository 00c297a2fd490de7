package train

import (
	"math"
	"testing"
)

func tinyTrainer(t *testing.T, micro, threads int) *Trainer {
	t.Helper()
	c := tinyConfig
	c.Vocab = 40
	m, err := NewModel(c, 21)
	if err != nil {
		t.Fatal(err)
	}
	stream := make([]int32, 3000)
	r := newRand(4)
	for i := range stream {
		stream[i] = int32(r.IntN(c.Vocab))
	}
	s, err := NewBatchSampler(stream, c.Ctx, 0, SampleRef, 9, func(t int32) bool { return t == 3 })
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions(5)
	o.Batch, o.Micro, o.Threads, o.Schedule.Warmup = 4, micro, threads, 1
	tr, err := NewTrainer(m, o, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// TestDeterministic: the same seed and thread count give bit-identical
// runs; gradient accumulation over micro-batches and another thread count
// change only the rounding.
func TestDeterministic(t *testing.T) {
	run := func(micro, threads int) ([]float64, []float32) {
		tr := tinyTrainer(t, micro, threads)
		var losses []float64
		for i := 0; i < 5; i++ {
			losses = append(losses, tr.Step().Loss)
		}
		return losses, tr.Model.W
	}
	l1, w1 := run(2, 2)
	l2, w2 := run(2, 2)
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("step %d: loss %v then %v with the same seed", i, l1[i], l2[i])
		}
	}
	for i := range w1 {
		if w1[i] != w2[i] {
			t.Fatalf("weight %d differs between identical runs", i)
		}
	}
	for _, v := range []struct{ micro, threads int }{{4, 2}, {1, 2}, {2, 1}} {
		l, w := run(v.micro, v.threads)
		for i := range l {
			if math.Abs(l[i]-l1[i]) > 1e-4 {
				t.Errorf("micro %d threads %d: step %d loss %v, want ≈ %v", v.micro, v.threads, i, l[i], l1[i])
			}
		}
		var d float64
		for i := range w {
			d = math.Max(d, math.Abs(float64(w[i]-w1[i])))
		}
		if d > 1e-4 {
			t.Errorf("micro %d threads %d: weights differ by %g", v.micro, v.threads, d)
		}
	}
}
