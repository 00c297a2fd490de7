package par

import (
	"sync/atomic"
	"testing"
)

func TestFor(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		p := New(threads)
		for _, n := range []int{0, 1, 5, 16, 17, 100, 1000} {
			for _, grain := range []int{1, 4, 16} {
				hits := make([]int32, n)
				workers := make([]int32, threads)
				p.For(n, grain, func(w, lo, hi int) {
					if w < 0 || w >= threads {
						t.Errorf("worker %d of %d", w, threads)
						return
					}
					if atomic.AddInt32(&workers[w], 1) != 1 {
						t.Errorf("worker %d got two ranges", w)
					}
					if lo%grain != 0 || (hi != n && hi%grain != 0) {
						t.Errorf("range [%d,%d) not aligned to %d", lo, hi, grain)
					}
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("threads %d n %d grain %d: index %d visited %d times", threads, n, grain, i, h)
					}
				}
			}
		}
		p.Close()
	}
}

func TestForEach(t *testing.T) {
	p := New(3)
	defer p.Close()
	hits := make([]int32, 1000)
	p.ForEach(len(hits), func(w, i int) { atomic.AddInt32(&hits[i], 1) })
	for i, h := range hits {
		if h != 1 {
			t.Fatalf("index %d visited %d times", i, h)
		}
	}
}

// BenchmarkForSync measures the cost of one parallel loop with no work: the
// synchronization overhead every matmul of a decode step pays.
func BenchmarkForSync(b *testing.B) {
	p := New(2)
	defer p.Close()
	fn := func(w, lo, hi int) {}
	b.ReportAllocs()
	for b.Loop() {
		p.For(2, 1, fn)
	}
}
