package serve_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
	"github.com/bitnet-go/bitnet/serve"
)

func bundled(t testing.TB) *runtime.Model {
	t.Helper()
	m, err := loader.Load(filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m.Model
}

var story = []int32{1, 4080, 263, 346, 709, 263, 264, 892, 11, 1070, 574, 264, 2697}

// requests are 8 different requests: prompts of 1 to 13 tokens, sampled
// and greedy, some stopping at an end-of-generation token.
func requests() []serve.Request {
	var rs []serve.Request
	for i := range 8 {
		p := sampler.DefaultParams()
		p.Seed = uint64(100 + i)
		p.Temp = []float32{0, 0.8, 1.5, 1}[i%4]
		n := []int{13, 5, 1, 9, 2, 12, 7, 3}[i]
		prompt := slices.Clone(story[:n])
		if i >= 4 {
			prompt[n-1] = int32(300 + i) // different tails
		}
		r := serve.Request{Prompt: prompt, Sampler: p, MaxTokens: 6 + 3*i}
		if i%3 == 1 {
			r.IsEOG = func(t int32) bool { return t == 13 || t == 11 }
		}
		rs = append(rs, r)
	}
	return rs
}

// alone is what runtime.State.Generate (bitnet-run's path) makes of r.
func alone(t *testing.T, m *runtime.Model, r serve.Request, ctx int) []int32 {
	t.Helper()
	out, _ := aloneLogits(t, m, r, ctx)
	return out
}

// aloneLogits also returns the checksum of the logits that chose each token.
func aloneLogits(t *testing.T, m *runtime.Model, r serve.Request, ctx int) ([]int32, []uint64) {
	t.Helper()
	var sums []uint64
	p := runtime.NewPool(1)
	defer p.Close()
	s, err := runtime.NewState(m, ctx, 512, p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Generate(r.Prompt, sampler.New(r.Sampler, m.Vocab), runtime.GenerateOptions{MaxTokens: r.MaxTokens, IsEOG: r.IsEOG, IgnoreEOS: r.IgnoreEOS,
		OnToken: func(_ int32, l []float32) bool { sums = append(sums, checksum(l)); return true }})
	if err != nil && !errors.Is(err, runtime.ErrContextFull) {
		t.Fatal(err)
	}
	return out, sums
}

// checksum hashes the bits of a row of logits (FNV-1a).
func checksum(l []float32) uint64 {
	h := uint64(14695981039346656037)
	for _, v := range l {
		h = (h ^ uint64(math.Float32bits(v))) * 1099511628211
	}
	return h
}

// waitGoroutines waits until the number of goroutines is back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for range 200 {
		if goruntime.NumGoroutine() <= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("%d goroutines, want %d:\n%s", goruntime.NumGoroutine(), n, buf[:goruntime.Stack(buf, true)])
}

func checkIdle(t *testing.T, s *serve.Scheduler) {
	t.Helper()
	for _, si := range s.Slots() {
		if si.Busy {
			t.Errorf("slot %d still busy", si.ID)
		}
	}
	if st := s.Stats(); st.Processing != 0 || st.Queued != 0 {
		t.Errorf("processing %d, queued %d after every request ended", st.Processing, st.Queued)
	}
}

// TestConcurrentMatchesAlone: 8 concurrent requests through 4 slots (with
// small batches, so that prompts are evaluated in chunks between decode
// steps) stream exactly the tokens each request makes alone, and the
// scheduler leaks no goroutines or slots.
func TestConcurrentMatchesAlone(t *testing.T) {
	m := bundled(t)
	const ctx = 64
	rs := requests()
	want := make([][]int32, len(rs))
	wantSums := make([][]uint64, len(rs))
	for i, r := range rs {
		want[i], wantSums[i] = aloneLogits(t, m, r, ctx)
	}
	for _, cfg := range []serve.Config{
		{Slots: 4, Ctx: ctx, Threads: 2, MaxBatch: 8, Chunk: 4},
		{Slots: 4, Ctx: ctx, Threads: 1, MaxBatch: 6, Chunk: 3, Reuse: serve.ReuseOff},
		{Slots: 3, Ctx: ctx, Threads: 2},
	} {
		t.Run(fmt.Sprintf("slots%d-batch%d-chunk%d", cfg.Slots, cfg.MaxBatch, cfg.Chunk), func(t *testing.T) {
			g0 := goruntime.NumGoroutine()
			s, err := serve.New(m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			got := make([][]int32, len(rs))
			res := make([]serve.Result, len(rs))
			errs := make([]error, len(rs))
			sums := make([][]uint64, len(rs))
			for i, r := range rs {
				r.OnToken = func(_ int32, l []float32) bool { sums[i] = append(sums[i], checksum(l)); return true }
				wg.Go(func() {
					st, err := s.Submit(context.Background(), r)
					if err != nil {
						errs[i] = err
						return
					}
					for tok := range st.Tokens() {
						got[i] = append(got[i], tok)
					}
					res[i] = st.Wait()
				})
			}
			wg.Wait()
			slotsUsed := map[int]bool{}
			for i := range rs {
				if errs[i] != nil {
					t.Fatalf("request %d: %v", i, errs[i])
				}
				if !slices.Equal(got[i], want[i]) || !slices.Equal(res[i].Tokens, want[i]) {
					t.Errorf("request %d: streamed %v, result %v (%s), alone %v", i, got[i], res[i].Tokens, res[i].Finish, want[i])
				}
				want := serve.FinishLength
				if len(got[i]) < rs[i].MaxTokens {
					want = serve.FinishStop
				}
				if !slices.Equal(sums[i], wantSums[i]) {
					t.Errorf("request %d: the logits differ from those alone", i)
				}
				if res[i].Finish != want || res[i].Err != nil {
					t.Errorf("request %d: finish %s (%v), want %s", i, res[i].Finish, res[i].Err, want)
				}
				slotsUsed[res[i].Slot] = true
			}
			if len(slotsUsed) != cfg.Slots {
				t.Errorf("requests ran in slots %v; want all %d used", slotsUsed, cfg.Slots)
			}
			checkIdle(t, s)
			st := s.Stats()
			if st.Requests != int64(len(rs)) || st.Aborted != 0 {
				t.Errorf("stats: %+v", st)
			}
			if err := s.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitGoroutines(t, g0)
		})
	}
}

// gate is an OnToken hook that stops the scheduler inside a step until the
// test opens it.
type gate struct {
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) hook(int32, []float32) bool {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	return true
}

func long(seed uint64) serve.Request {
	p := sampler.DefaultParams()
	p.Seed = seed
	return serve.Request{Prompt: slices.Clone(story[:4]), Sampler: p, IgnoreEOS: true}
}

func TestQueueFull(t *testing.T) {
	m := bundled(t)
	g0 := goruntime.NumGoroutine()
	s, err := serve.New(m, serve.Config{Slots: 1, Ctx: 32, Threads: 1, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	a := long(1)
	a.OnToken = g.hook
	a.MaxTokens = 3
	sa, err := s.Submit(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	<-g.entered // a holds the slot, the scheduler is stopped in its step
	sb, err := s.Submit(context.Background(), long(2))
	if err != nil {
		t.Fatalf("second request (the queue has room for one): %v", err)
	}
	if _, err := s.Submit(context.Background(), long(3)); !errors.Is(err, serve.ErrQueueFull) {
		t.Fatalf("third request: %v, want ErrQueueFull", err)
	}
	if st := s.Stats(); st.Queued != 1 || st.Processing != 1 {
		t.Errorf("queued %d, processing %d; want 1, 1", st.Queued, st.Processing)
	}
	close(g.open)
	if r := sa.Wait(); r.Finish != serve.FinishLength || len(r.Tokens) != 3 {
		t.Errorf("first request: %s, %d tokens", r.Finish, len(r.Tokens))
	}
	if r := sb.Wait(); r.Finish != serve.FinishContext || len(r.Tokens) != 32-4+1 {
		t.Errorf("second request: %s (%v), %d tokens; want a full context of %d", r.Finish, r.Err, len(r.Tokens), 32-4+1)
	} else if !errors.Is(r.Err, runtime.ErrContextFull) {
		t.Errorf("second request: error %v", r.Err)
	}
	// Room again.
	if _, err := s.Generate(context.Background(), long(4)); err != nil {
		t.Fatal(err)
	}
	s.Shutdown(context.Background())
	waitGoroutines(t, g0)

	// No queue at all: a busy slot refuses the next request.
	s, _ = serve.New(m, serve.Config{Slots: 1, Ctx: 32, Threads: 1, Queue: -1})
	g = newGate()
	a.OnToken = g.hook
	sa, _ = s.Submit(context.Background(), a)
	<-g.entered
	if _, err := s.Submit(context.Background(), long(2)); !errors.Is(err, serve.ErrQueueFull) {
		t.Fatalf("no queue, busy slot: %v, want ErrQueueFull", err)
	}
	close(g.open)
	sa.Wait()
	s.Shutdown(context.Background())
	waitGoroutines(t, g0)
}

func TestCancel(t *testing.T) {
	m := bundled(t)
	g0 := goruntime.NumGoroutine()
	s, err := serve.New(m, serve.Config{Slots: 1, Ctx: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A running request is cancelled after its first token.
	g := newGate()
	ctxA, cancelA := context.WithCancel(context.Background())
	a := long(1)
	a.OnToken = g.hook
	sa, err := s.Submit(ctxA, a)
	if err != nil {
		t.Fatal(err)
	}
	<-g.entered
	// A queued request is cancelled before it gets a slot.
	ctxB, cancelB := context.WithCancel(context.Background())
	sb, err := s.Submit(ctxB, long(2))
	if err != nil {
		t.Fatal(err)
	}
	c := long(3)
	c.MaxTokens = 4
	sc, err := s.Submit(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	cancelB()
	cancelA()
	close(g.open)
	ra := sa.Wait()
	if ra.Finish != serve.FinishCancelled || !errors.Is(ra.Err, context.Canceled) || len(ra.Tokens) == 0 || len(ra.Tokens) > 2 {
		t.Errorf("running request: %s (%v), %d tokens", ra.Finish, ra.Err, len(ra.Tokens))
	}
	rb := sb.Wait()
	if rb.Finish != serve.FinishCancelled || rb.Slot != -1 || len(rb.Tokens) != 0 {
		t.Errorf("queued request: %s in slot %d, %d tokens", rb.Finish, rb.Slot, len(rb.Tokens))
	}
	// The slot was freed for the request behind them, which runs as it
	// would alone.
	rc := sc.Wait()
	if rc.Finish != serve.FinishLength || !slices.Equal(rc.Tokens, alone(t, m, c, 64)) {
		t.Errorf("next request: %s, %v", rc.Finish, rc.Tokens)
	}
	// A request whose context is already done never runs.
	ctxD, cancelD := context.WithCancel(context.Background())
	cancelD()
	if r, err := s.Generate(ctxD, long(4)); err != nil || r.Finish != serve.FinishCancelled {
		t.Errorf("cancelled before submission: %v, %s", err, r.Finish)
	}
	checkIdle(t, s)
	if st := s.Stats(); st.Aborted != 3 {
		t.Errorf("%d aborted requests, want 3", st.Aborted)
	}
	s.Shutdown(context.Background())
	waitGoroutines(t, g0)
}

// TestPrefixReuse: a request that extends a finished one's prompt in the
// same slot evaluates only its new tokens, and (ReuseExact) still makes
// exactly the tokens it makes alone.
func TestPrefixReuse(t *testing.T) {
	m := bundled(t)
	greedy := sampler.DefaultParams()
	greedy.Temp = 0
	for _, mode := range []serve.Reuse{serve.ReuseExact, serve.ReuseAll, serve.ReuseOff} {
		s, err := serve.New(m, serve.Config{Slots: 2, Ctx: 64, Threads: 2, Reuse: mode})
		if err != nil {
			t.Fatal(err)
		}
		run := func(prompt []int32, n int) serve.Result {
			t.Helper()
			before := s.Stats().PromptTokens
			r, err := s.Generate(context.Background(), serve.Request{Prompt: prompt, Sampler: greedy, MaxTokens: n})
			if err != nil {
				t.Fatal(err)
			}
			if ev := s.Stats().PromptTokens - before; ev != int64(len(prompt)-r.CachedTokens) {
				t.Errorf("mode %d: %d prompt tokens evaluated for %d with %d cached", mode, ev, len(prompt), r.CachedTokens)
			}
			return r
		}
		a := run(story, 5)
		// Another prompt goes to the other (empty, least recently used) slot.
		other := []int32{892, 11, 1070, 574}
		if r := run(other, 3); r.Slot == a.Slot || r.CachedTokens != 0 {
			t.Errorf("mode %d: unrelated prompt went to slot %d (first in %d) with %d cached", mode, r.Slot, a.Slot, r.CachedTokens)
		}
		ext := append(slices.Clone(story), 300, 301, 302)
		b := run(ext, 6)
		wantCached := map[serve.Reuse]int{serve.ReuseExact: len(story), serve.ReuseAll: len(story), serve.ReuseOff: 0}[mode]
		if b.CachedTokens != wantCached || (mode != serve.ReuseOff && b.Slot != a.Slot) {
			t.Errorf("mode %d: extension reused %d tokens in slot %d; want %d in slot %d", mode, b.CachedTokens, b.Slot, wantCached, a.Slot)
		}
		if want := alone(t, m, serve.Request{Prompt: ext, Sampler: greedy, MaxTokens: 6}, 64); !slices.Equal(b.Tokens, want) {
			t.Errorf("mode %d: with reuse %v, alone %v", mode, b.Tokens, want)
		}
		// A chat's next turn: the prompt, the answer, new tokens. The cache
		// holds the answer but the last token (never evaluated).
		turn := append(append(slices.Clone(ext), b.Tokens...), 303, 304)
		c := run(turn, 4)
		wantCached = map[serve.Reuse]int{serve.ReuseExact: len(ext), serve.ReuseAll: len(ext) + len(b.Tokens) - 1, serve.ReuseOff: 0}[mode]
		if c.CachedTokens != wantCached {
			t.Errorf("mode %d: next turn reused %d tokens; want %d", mode, c.CachedTokens, wantCached)
		}
		if mode != serve.ReuseAll {
			if want := alone(t, m, serve.Request{Prompt: turn, Sampler: greedy, MaxTokens: 4}, 64); !slices.Equal(c.Tokens, want) {
				t.Errorf("mode %d: next turn %v, alone %v", mode, c.Tokens, want)
			}
		}
		// The same prompt again: all but the last two tokens are reused.
		if mode != serve.ReuseOff {
			if r := run(turn, 2); r.CachedTokens != len(turn)-2 {
				t.Errorf("mode %d: repeated prompt reused %d of %d", mode, r.CachedTokens, len(turn))
			}
		}
		if st := s.Stats(); mode != serve.ReuseOff && st.ReusedTokens == 0 {
			t.Errorf("mode %d: stats %+v", mode, st)
		}
		s.Shutdown(context.Background())
	}
}

func TestShutdown(t *testing.T) {
	m := bundled(t)
	g0 := goruntime.NumGoroutine()
	s, err := serve.New(m, serve.Config{Slots: 2, Ctx: 64, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	rs := requests()
	var sts []*serve.Stream
	for _, r := range rs[:6] {
		st, err := s.Submit(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	// Shutdown drains: every request finishes normally.
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, st := range sts {
		select {
		case <-st.Done():
		default:
			t.Fatalf("request %d still running after Shutdown", i)
		}
		if r := st.Wait(); r.Finish == serve.FinishCancelled || r.Finish == serve.FinishError {
			t.Errorf("request %d: %s (%v)", i, r.Finish, r.Err)
		}
	}
	if _, err := s.Submit(context.Background(), rs[0]); !errors.Is(err, serve.ErrClosed) {
		t.Errorf("Submit after Shutdown: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	waitGoroutines(t, g0)

	// A Shutdown that runs out of time cancels what is left.
	s, _ = serve.New(m, serve.Config{Slots: 1, Ctx: 64, Threads: 1})
	g := newGate()
	a := long(1)
	a.OnToken = g.hook
	sa, _ := s.Submit(context.Background(), a)
	sb, _ := s.Submit(context.Background(), long(2))
	<-g.entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error)
	go func() { done <- s.Shutdown(ctx) }()
	<-ctx.Done()
	close(g.open)
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown past its deadline: %v", err)
	}
	if r := sa.Wait(); r.Finish != serve.FinishCancelled {
		t.Errorf("running request: %s", r.Finish)
	}
	if r := sb.Wait(); r.Finish != serve.FinishCancelled || r.Slot != -1 {
		t.Errorf("queued request: %s, slot %d", r.Finish, r.Slot)
	}
	waitGoroutines(t, g0)
}

func TestErrors(t *testing.T) {
	m := bundled(t)
	for _, c := range []serve.Config{
		{Slots: 0, Ctx: 64, Threads: 1},
		{Slots: 1, Ctx: 1, Threads: 1},
		{Slots: 1, Ctx: 64, Threads: 0},
		{Slots: 4, Ctx: 64, Threads: 1, MaxBatch: 5},
		{Slots: 1, Ctx: 64, Threads: 1, Chunk: 2},
		{Slots: 1, Ctx: 64, Threads: 1, Reuse: 7},
	} {
		if s, err := serve.New(m, c); err == nil {
			s.Shutdown(context.Background())
			t.Errorf("%+v: no error", c)
		}
	}
	s, err := serve.New(m, serve.Config{Slots: 1, Ctx: 16, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	p := sampler.DefaultParams()
	for _, c := range []struct {
		name string
		r    serve.Request
		is   error
	}{
		{"empty", serve.Request{Sampler: p}, nil},
		{"too long", serve.Request{Prompt: make([]int32, 16), Sampler: p}, runtime.ErrContextFull},
		{"bad token", serve.Request{Prompt: []int32{1, int32(m.Vocab)}, Sampler: p}, nil},
		{"negative token", serve.Request{Prompt: []int32{-5}, Sampler: p}, nil},
	} {
		_, err := s.Submit(context.Background(), c.r)
		if err == nil || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The longest prompt that fits fills the context but one position and
	// makes two tokens.
	r, err := s.Generate(context.Background(), serve.Request{Prompt: make([]int32, 15), Sampler: p, IgnoreEOS: true})
	if err != nil || r.Finish != serve.FinishContext || len(r.Tokens) != 2 {
		t.Errorf("15 tokens in a context of 16: %v, %s, %d tokens", err, r.Finish, len(r.Tokens))
	}
}
