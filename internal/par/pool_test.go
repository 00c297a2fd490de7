package par

import (
	"fmt"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"unsafe"
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

// TestForGuided checks that ForGuided visits every index once, in ranges
// aligned to grain, with valid worker indices, including on a pool with
// more workers than processors.
func TestForGuided(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		p := New(threads)
		for _, n := range []int{0, 1, 5, 16, 17, 100, 1000, 100000} {
			for _, grain := range []int{1, 4, 16, 32} {
				hits := make([]int32, n)
				p.ForGuided(n, grain, func(w, lo, hi int) {
					if w < 0 || w >= threads {
						t.Errorf("worker %d of %d", w, threads)
						return
					}
					if lo >= hi || lo%grain != 0 || (hi != n && hi%grain != 0) {
						t.Errorf("range [%d,%d) empty or not aligned to %d", lo, hi, grain)
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

// TestOversubscribed runs pools of more workers than processors (the
// blocking hand-off) and checks every index is visited once, loop after
// loop, including when GOMAXPROCS changes under a live pool.
func TestOversubscribed(t *testing.T) {
	prev := goruntime.GOMAXPROCS(1)
	defer goruntime.GOMAXPROCS(prev)
	p := New(4)
	defer p.Close()
	hits := make([]int32, 257)
	for iter := 0; iter < 2000; iter++ {
		if iter == 1000 {
			goruntime.GOMAXPROCS(8) // now the pool spins again
		}
		p.For(len(hits), 3, func(w, lo, hi int) {
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
		})
	}
	for i, h := range hits {
		if h != 2000 {
			t.Fatalf("index %d visited %d times, want 2000", i, h)
		}
	}
}

func TestWorkerPadding(t *testing.T) {
	if s := unsafe.Sizeof(worker{}); s != 2*cacheLine {
		t.Fatalf("worker is %d bytes, want %d (two cache lines)", s, 2*cacheLine)
	}
}

// BenchmarkForThreads runs a parallel loop of a decode-sized job (summing
// 32 KiB, about what one thread does per matrix tile group) at 1, 2 and 4
// threads: with more threads than processors (-cpu 2 and t4) the pool must
// not lose to t2.
func BenchmarkForThreads(b *testing.B) {
	data := make([]float32, 8192)
	for i := range data {
		data[i] = float32(i & 7)
	}
	var sums [64]float32
	for _, threads := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("t%d", threads), func(b *testing.B) {
			p := New(threads)
			defer p.Close()
			fn := func(w, lo, hi int) {
				var s float32
				for _, v := range data[lo:hi] {
					s += v
				}
				sums[w*8] = s
			}
			for b.Loop() {
				p.For(len(data), 256, fn)
			}
			b.SetBytes(int64(4 * len(data)))
		})
	}
}

// TestNoEarlyReturn runs many tiny loops through the caller's sleep path
// (an oversubscribed pool never spins) and checks that every range of a
// loop has finished when For returns. It is a stress test: the bug it
// guards against (the "caller asleep" flag kept apart from the pending
// count, so the last worker of one loop, preempted between its decrement and
// claiming the flag, woke the caller of the next loop early, which then
// miscounted and slept for ever; bitnet-train's end-to-end test hung on a
// loaded machine) needs a preemption inside a two-instruction window that a
// test cannot force. The fix removes the window by construction: count and
// flag are one atomic word (Pool.state).
func TestNoEarlyReturn(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(2))
	for _, n := range []int{3, 5} {
		p := New(n)
		marks := make([]atomic.Int64, n)
		for it := int64(1); it <= 100000; it++ {
			p.For(n, 1, func(w, lo, hi int) {
				marks[w].Store(it)
				if int(it)%n == w {
					goruntime.Gosched() // a late finisher: widen the window
				}
			})
			for w := range marks {
				if got := marks[w].Load(); got != it {
					t.Fatalf("%d workers, loop %d: range %d not finished when For returned (mark %d)", n, it, w, got)
				}
			}
		}
		p.Close()
	}
}
