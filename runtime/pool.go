package runtime

import (
	"sync"
)

// Pool is a persistent set of worker goroutines that run parallel loops.
// Work is split into contiguous ranges, one per worker, so results never
// depend on the number of threads as long as each output element is computed
// by one worker in a fixed order.
type Pool struct {
	n     int
	tasks []chan task
	wg    sync.WaitGroup
}

type task struct {
	fn        func(w, lo, hi int)
	w, lo, hi int
}

// NewPool starts a pool of n workers (n ≥ 1; the caller's goroutine is one
// of them).
func NewPool(n int) *Pool {
	if n < 1 {
		n = 1
	}
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

// Close stops the workers.
func (p *Pool) Close() {
	for _, ch := range p.tasks {
		close(ch)
	}
	p.tasks = nil
}

// For runs fn over [0, n) split into at most Threads() contiguous ranges
// whose bounds are multiples of grain (except the last), and waits. w is the
// index of the worker (0 ≤ w < Threads()), for per-worker scratch space.
func (p *Pool) For(n, grain int, fn func(w, lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	workers := min(p.n, chunks)
	if workers <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	per := chunks / workers
	extra := chunks % workers
	lo := 0
	p.wg.Add(workers - 1)
	var mine task
	for w := 0; w < workers; w++ {
		c := per
		if w < extra {
			c++
		}
		hi := min(n, lo+c*grain)
		if w == workers-1 {
			mine = task{fn, w, lo, hi}
		} else {
			p.tasks[w] <- task{fn, w, lo, hi}
		}
		lo = hi
	}
	mine.fn(mine.w, mine.lo, mine.hi)
	p.wg.Wait()
}
