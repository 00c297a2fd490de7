package train

import "sync"

// pool is a fixed set of worker goroutines running parallel loops. Work is
// split into contiguous ranges in a fixed way for a given thread count, and
// every output element is written by one worker in a fixed order, so results
// are deterministic for a given thread count.
type pool struct {
	n     int
	tasks []chan poolTask
	wg    sync.WaitGroup
}

type poolTask struct {
	fn        func(w, lo, hi int)
	w, lo, hi int
}

func newPool(n int) *pool {
	n = max(n, 1)
	p := &pool{n: n, tasks: make([]chan poolTask, n-1)}
	for i := range p.tasks {
		ch := make(chan poolTask, 1)
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

func (p *pool) close() {
	for _, ch := range p.tasks {
		close(ch)
	}
	p.tasks = nil
}

// forRange runs fn(worker, lo, hi) over [0, n) cut into at most p.n
// contiguous ranges whose bounds are multiples of grain (except the last);
// worker is the index of the range (0 ≤ worker < p.n), so fn may use
// per-worker scratch.
func (p *pool) forRange(n, grain int, fn func(w, lo, hi int)) {
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
	var mine poolTask
	for w := 0; w < workers; w++ {
		c := per
		if w < extra {
			c++
		}
		hi := min(n, lo+c*grain)
		t := poolTask{fn, w, lo, hi}
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

// forEach runs fn(worker, i) for every i in [0, n), handing out indices
// dynamically; use it for jobs of uneven size whose results do not depend on
// which worker runs them.
func (p *pool) forEach(n int, fn func(w, i int)) {
	if p.n == 1 || n <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var mu sync.Mutex
	next := 0
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		i := next
		next++
		return i
	}
	p.forRange(p.n, 1, func(w, lo, hi int) {
		for i := take(); i < n; i = take() {
			fn(w, i)
		}
	})
}
