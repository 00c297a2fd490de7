// Package par runs parallel loops on a persistent set of worker goroutines,
// shared by the runtime and the trainer.
package par

import (
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of worker goroutines. For splits work into contiguous
// ranges in a fixed way for a given thread count, and each output element is
// meant to be written by one worker in a fixed order, so results are
// deterministic for a given thread count (and independent of it when each
// element's computation does not depend on the split).
type Pool struct {
	n     int
	tasks []chan task
	wg    sync.WaitGroup
}

type task struct {
	fn        func(w, lo, hi int)
	w, lo, hi int
}

// New starts a pool of n workers (n ≥ 1; the calling goroutine is one of
// them).
func New(n int) *Pool {
	n = max(n, 1)
	p := &Pool{n: n, tasks: make([]chan task, n-1)}
	for i := range p.tasks {
		ch := make(chan task, 1)
		p.tasks[i] = ch
		go func() {
			for t := range ch {
				t.fn(t.w, t.lo, t.hi)
				p.wg.Done()
			}
		}()
	}
	return p
}

// Threads is the number of workers.
func (p *Pool) Threads() int { return p.n }

// Close stops the workers; the pool must not be used afterwards.
func (p *Pool) Close() {
	for _, ch := range p.tasks {
		close(ch)
	}
	p.tasks = nil
}

// For runs fn(w, lo, hi) over [0, n) cut into at most Threads() contiguous
// ranges whose bounds are multiples of grain (except the last), and waits.
// w is the index of the range (0 ≤ w < Threads()), so fn may use per-worker
// scratch space. Passing a func value that was made once (not a fresh
// closure) keeps the call free of allocations.
func (p *Pool) For(n, grain int, fn func(w, lo, hi int)) {
	grain = max(grain, 1)
	chunks := (n + grain - 1) / grain
	workers := min(p.n, chunks)
	if workers <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	per, extra := chunks/workers, chunks%workers
	lo := 0
	p.wg.Add(workers - 1)
	var mine task
	for w := 0; w < workers; w++ {
		c := per
		if w < extra {
			c++
		}
		hi := min(n, lo+c*grain)
		t := task{fn, w, lo, hi}
		if w == 0 {
			mine = t
		} else {
			p.tasks[w-1] <- t
		}
		lo = hi
	}
	mine.fn(mine.w, mine.lo, mine.hi)
	p.wg.Wait()
}

// ForEach runs fn(w, i) for every i in [0, n), handing out indices
// dynamically; use it for jobs of uneven size whose results do not depend on
// which worker runs them.
func (p *Pool) ForEach(n int, fn func(w, i int)) {
	if p.n == 1 || n <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	p.For(p.n, 1, func(w, _, _ int) {
		for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
			fn(w, i)
		}
	})
}
