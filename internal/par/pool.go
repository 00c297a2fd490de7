// Package par runs parallel loops on a persistent set of worker goroutines,
// shared by the runtime and the trainer.
package par

import (
	goruntime "runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// Pool is a fixed set of worker goroutines. For splits work into contiguous
// ranges in a fixed way for a given thread count, and each output element is
// meant to be written by one worker in a fixed order, so results are
// deterministic for a given thread count (and independent of it when each
// element's computation does not depend on the split).
//
// A decode step runs a few hundred short parallel loops, so handing work to
// a worker must be cheap: workers spin for a short while on an atomic
// sequence number before they park on a channel, and the caller spins for a
// short while until its workers are done before it sleeps on a channel.
//
// Spinning only pays while every worker has a processor of its own. When the
// pool has more workers than GOMAXPROCS (say -t 4 on two cores) a spinning
// worker holds a processor that a worker with work is waiting for, so such a
// pool never spins: idle workers park at once and the caller sleeps until the
// last range is done. The caller reads GOMAXPROCS at every For, so a pool
// follows later changes to it (go test -cpu, for one). The caller's spin is bounded
// too: when the operating system has descheduled a worker (a machine busy
// with other programs), spinning on would only keep that worker off the CPU.
type Pool struct {
	n       int
	workers []*worker
	// state is the number of ranges handed out and not yet finished, plus
	// asleepBit while the caller waits on done. One atomic word, so the
	// worker whose decrement finishes the loop learns in the same operation
	// whether the caller sleeps: there is no gap in which a late worker of
	// one loop could wake the caller of the next.
	state   atomic.Int64
	oversub atomic.Bool // more workers than GOMAXPROCS: nobody spins
	done    chan struct{}
	closed  bool

	guided guidedLoop
	gFn    func(w, lo, hi int) // p.guidedRun, made once
}

// guidedLoop is the state of a ForGuided loop: next is the first index not
// yet handed out, on a cache line of its own.
type guidedLoop struct {
	_        [cacheLine]byte
	next     atomic.Int64
	_        [cacheLine - 8]byte
	n, grain int
	fn       func(w, lo, hi int)
}

type task struct {
	fn        func(w, lo, hi int)
	w, lo, hi int
}

// worker is padded to two cache lines of its own (it is allocated alone, in
// a 128-byte size class), so the caller writing one worker's task never
// invalidates the line another worker is polling.
type worker struct {
	workerHot
	_ [2*cacheLine - unsafe.Sizeof(workerHot{})]byte
}

type workerHot struct {
	seq    atomic.Uint64 // bumped by the caller after writing task
	task   task
	parked atomic.Bool
	wake   chan struct{} // one token per wake-up of a parked worker
}

const cacheLine = 64

// asleepBit in Pool.state: the caller sleeps on done.
const asleepBit = 1 << 32

// spinTime is how long a worker polls for new work before it parks, and how
// long the caller of For polls for its workers before it sleeps: longer
// than the gaps between the parallel loops of a decode step and of a
// batched step (the serial work between two products, a worker finishing
// its share of the output head later than the caller), short against the
// pause between two requests. A bound in time, not in polls, because a
// poll's cost differs between machines: 2¹⁴ polls were about 20 µs on AMD
// Zen 5 and parked the workers several times a token; waking them cost
// 10-20 % of two-thread decode (2B4T-shaped file, tg64 at t=2, interleaved
// rounds: 25.5-29.0 tok/s with the old bound, 31.1-31.8 with 500 µs,
// 28.9-33.0 with 2 ms).
const spinTime = time.Millisecond

// spinner bounds a polling loop in time: every 256 polls it yields the
// processor (Gosched) and reads the clock.
type spinner struct {
	i     int
	start time.Time
}

// more reports whether to keep polling.
func (s *spinner) more() bool {
	s.i++
	if s.i&255 != 0 {
		return true
	}
	goruntime.Gosched()
	if s.start.IsZero() {
		s.start = time.Now()
		return true
	}
	return time.Since(s.start) < spinTime
}

// New starts a pool of n workers (n ≥ 1; the calling goroutine is one of
// them).
func New(n int) *Pool {
	n = max(n, 1)
	p := &Pool{n: n, done: make(chan struct{}, 1)}
	p.gFn = p.guidedRun
	p.oversub.Store(n > goruntime.GOMAXPROCS(0))
	for i := 1; i < n; i++ {
		w := &worker{workerHot: workerHot{wake: make(chan struct{}, 1)}}
		p.workers = append(p.workers, w)
		go p.loop(w)
	}
	return p
}

// loop runs tasks handed to w until the pool is closed (a task with a nil
// fn).
func (p *Pool) loop(w *worker) {
	var seen uint64
	for {
		// Wait for the next sequence number: spin (unless the pool has
		// more workers than processors), then park.
		spin := !p.oversub.Load()
		sp := spinner{}
		for w.seq.Load() == seen {
			if spin && sp.more() {
				continue
			}
			w.parked.Store(true)
			if w.seq.Load() != seen {
				// Work arrived while parking: undo, unless the caller
				// already claimed the wake-up (then consume its token).
				if !w.parked.CompareAndSwap(true, false) {
					<-w.wake
				}
				break
			}
			<-w.wake
			sp = spinner{}
		}
		seen = w.seq.Load()
		t := w.task
		if t.fn == nil {
			return
		}
		t.fn(t.w, t.lo, t.hi)
		if p.state.Add(-1) == asleepBit {
			p.done <- struct{}{} // the last range, and the caller sleeps
		}
	}
}

// hand gives w a task.
func (p *Pool) hand(w *worker, t task) {
	w.task = t
	w.seq.Add(1)
	if w.parked.CompareAndSwap(true, false) {
		w.wake <- struct{}{}
	}
}

// Threads is the number of workers.
func (p *Pool) Threads() int { return p.n }

// Close stops the workers; the pool must not be used afterwards.
func (p *Pool) Close() {
	if p.closed {
		return
	}
	p.closed = true
	for _, w := range p.workers {
		p.hand(w, task{})
	}
}

// For runs fn(w, lo, hi) over [0, n) cut into at most Threads() contiguous
// ranges whose bounds are multiples of grain (except the last), and waits.
// w is the index of the range (0 ≤ w < Threads()), so fn may use per-worker
// scratch space. Passing a func value that was made once (not a fresh
// closure) keeps the call free of allocations. For must not be called
// concurrently on one pool.
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
	// Only the caller asks for GOMAXPROCS (it takes the scheduler's lock);
	// the workers read the flag, which is rewritten only when it changes.
	if over := p.n > goruntime.GOMAXPROCS(0); over != p.oversub.Load() {
		p.oversub.Store(over)
	}
	spin := !p.oversub.Load()
	p.state.Store(int64(workers - 1))
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
			p.hand(p.workers[w-1], t)
		}
		lo = hi
	}
	mine.fn(mine.w, mine.lo, mine.hi)
	sp := spinner{}
	for {
		v := p.state.Load()
		if v == 0 {
			return
		}
		if spin && sp.more() {
			continue
		}
		// Sleep: set asleepBit while ranges are still running; the worker
		// whose decrement leaves exactly asleepBit sends on done.
		if p.state.CompareAndSwap(v, v|asleepBit) {
			<-p.done
			return
		}
	}
}

// ForGuided runs fn(w, lo, hi) over [0, n) like For, but hands the ranges
// out as the workers ask for them (guided self-scheduling): each grab takes
// a share of what is left, 1/(2·Threads()) of it rounded up to a multiple
// of grain, so the first ranges are long and contiguous and the last ones
// short. A worker that starts late or runs slower (a core shared with the
// operating system, a slower path to memory) then takes less, and nobody
// waits out the imbalance of a fixed split. A worker may get several
// ranges, or none; use it where the results do not depend on the split.
// Like For, it must not be called concurrently on one pool.
//
// A pool with more workers than processors runs For's fixed split instead:
// there a worker that holds a range can be descheduled in the middle of it,
// and the guided split lost to the fixed one (-t 4 on two cores, decode:
// 22.4-23.9 tokens/s against 24.1-27.8 in three interleaved rounds; with
// this fallback 23.4-24.6 against 20.1-26.3 in five).
func (p *Pool) ForGuided(n, grain int, fn func(w, lo, hi int)) {
	grain = max(grain, 1)
	if p.n == 1 || n <= grain {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	if p.n > goruntime.GOMAXPROCS(0) {
		p.For(n, grain, fn)
		return
	}
	g := &p.guided
	g.next.Store(0)
	g.n, g.grain, g.fn = n, grain, fn
	p.For(p.n, 1, p.gFn)
	g.fn = nil
}

// guidedRun is one worker's part of a ForGuided loop.
func (p *Pool) guidedRun(w, _, _ int) {
	g := &p.guided
	n, grain, div := int64(g.n), int64(g.grain), int64(2*p.n)
	for {
		lo := g.next.Load()
		if lo >= n {
			return
		}
		size := (n - lo + div - 1) / div
		size = max(grain, (size+grain-1)/grain*grain)
		hi := min(n, lo+size)
		if g.next.CompareAndSwap(lo, hi) {
			g.fn(w, int(lo), int(hi))
		}
	}
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
