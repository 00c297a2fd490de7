// Package serve is the engine side of a model server: a continuous-batching
// scheduler over a fixed set of slots. It knows nothing about HTTP; a
// server maps its requests, streams, errors and statistics to the wire.
//
// A Scheduler owns N slots, each a sequence with its own KV cache
// (runtime.Seq), and one goroutine that runs the model. Every step
// evaluates, in one forward pass (runtime.Batch), the next token of every
// slot that is generating and chunks of the prompts of newly admitted
// requests with the rows left over, so running streams keep flowing while a
// prompt is evaluated. Requests wait in a bounded queue when every slot is
// busy (Submit fails with ErrQueueFull when it is full: the HTTP layer's
// 503). A request is cancelled through its context (its slot is freed at
// the next step); Shutdown stops admitting requests and drains the rest.
//
// Numerics. Output does not depend on how requests are batched: a request
// produces exactly the tokens that runtime.State.Generate produces for its
// prompt and sampler alone (the prompt in one pass, then one token at a
// time), whatever else runs at the same time, because runtime.Batch
// evaluates each chunk bit for bit as State.Forward does and the scheduler
// never splits a prompt so that one token is left alone in a chunk (a
// one-token chunk follows the one-token rounding rule). So N concurrent
// requests produce the same tokens as the same requests served one at a
// time with the same seeds.
//
// Prefix reuse. A new request goes to the free slot whose cache shares the
// longest prefix with its prompt, and only the rest of the prompt is
// evaluated. With ReuseExact (the default) only cache positions that were
// evaluated as prompt rows are reused, so the guarantee above holds
// whatever the slot's history. ReuseAll also reuses positions that were
// generated (evaluated one token at a time): a chat's earlier answers are
// not evaluated again, as llama-server does, but their cache rows carry the
// one-token rounding of decode steps and so differ (by float rounding)
// from what evaluating the same text as a prompt gives. In both modes at
// least two prompt tokens are evaluated (one if the prompt has one token),
// for the logits and for the rounding rule.
package serve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
)

var (
	// ErrQueueFull is returned by Submit when every slot is busy and the
	// queue holds Config.Queue requests (HTTP 503).
	ErrQueueFull = errors.New("serve: all slots busy and the queue is full")
	// ErrClosed is returned by Submit after Shutdown.
	ErrClosed = errors.New("serve: the scheduler is shut down")
	// ErrPromptTooLong is returned by Submit for a prompt that does not fit
	// the context of a slot; it wraps runtime.ErrContextFull.
	ErrPromptTooLong = fmt.Errorf("serve: prompt longer than the context: %w", runtime.ErrContextFull)
)

// Reuse selects what a slot's cache may contribute to a new request.
type Reuse int

const (
	ReuseExact Reuse = iota // positions evaluated as prompt rows (output independent of history)
	ReuseAll                // every cached position, generated ones too (llama-server's cache reuse)
	ReuseOff                // evaluate every prompt from scratch
)

// Config configures a Scheduler.
type Config struct {
	Slots   int // parallel sequences (≥ 1)
	Ctx     int // KV cache positions per slot (≥ 2)
	Threads int // worker threads of the forward pass (≥ 1)
	// MaxBatch is the most tokens one forward pass evaluates (0: 512); at
	// least Slots+2, so that a prompt always makes progress.
	MaxBatch int
	// Chunk is the most prompt tokens of one request a pass evaluates
	// (0: MaxBatch); at least 3.
	Chunk int
	// Queue is the most requests that wait for a slot (0: 4×Slots; < 0: no
	// queue: Submit fails when every slot is busy).
	Queue int
	Reuse Reuse
}

// Finish tells why a request ended.
type Finish int

const (
	FinishStop      Finish = iota // an end-of-generation token, or OnToken returned false
	FinishLength                  // MaxTokens reached
	FinishContext                 // the slot's context is full
	FinishCancelled               // the request's context was cancelled, or Shutdown gave up
	FinishError                   // the forward pass failed (Result.Err)
)

var finishNames = [...]string{"stop", "length", "context", "cancelled", "error"}

func (f Finish) String() string { return finishNames[f] }

// Request is one completion: a tokenized prompt and how to sample and stop.
type Request struct {
	Prompt  []int32
	Sampler sampler.Params // including the seed
	// MaxTokens stops after this many new tokens (≤ 0: until an
	// end-of-generation token or a full context).
	MaxTokens int
	// IsEOG tells end-of-generation tokens (EOS, end of turn); the token is
	// not part of the output. nil never stops.
	IsEOG     func(int32) bool
	IgnoreEOS bool
	// OnToken, if set, is called in the scheduler's goroutine with each new
	// token and the logits that produced it (valid only during the call)
	// before the token is sent on the stream; returning false ends the
	// request with FinishStop after this token: the hook for stop strings
	// and log-probabilities. It must be quick, since every slot waits for
	// it, and must not call the Scheduler.
	OnToken func(tok int32, logits []float32) bool
}

// Result is the outcome of a request.
type Result struct {
	Tokens       []int32 // the new tokens
	Finish       Finish
	Err          error // for FinishError (and FinishCancelled: the context's error)
	PromptTokens int   // len(Prompt)
	CachedTokens int   // prompt tokens reused from the slot's cache
	Slot         int   // the slot that served it (-1: never admitted)
	Queued       time.Duration
	PromptTime   time.Duration // admission to the first token
	GenTime      time.Duration // first token to the end
}

// Stream is a submitted request. Tokens delivers its new tokens as they are
// made and is closed when the request ends; Wait returns the result.
type Stream struct {
	tokens chan int32
	done   chan struct{}
	res    Result
}

// Tokens returns the channel of new tokens; it never blocks the scheduler
// (it holds every token the request can make) and is closed at the end.
func (st *Stream) Tokens() <-chan int32 { return st.tokens }

// Done is closed when the request has ended.
func (st *Stream) Done() <-chan struct{} { return st.done }

// Wait blocks until the request ends and returns its result.
func (st *Stream) Wait() Result {
	<-st.done
	return st.res
}

// job is a request inside the scheduler.
type job struct {
	ctx  context.Context
	req  Request
	st   *Stream
	smp  *sampler.Sampler
	out  []int32
	fed  int // prompt tokens in the slot's cache
	next int32
	t0   time.Time // submitted
	tAdm time.Time // admitted
	tTok time.Time // first token
	res  Result
}

// slot is one sequence of the scheduler.
type slot struct {
	id     int
	seq    *runtime.Seq
	tokens []int32 // the tokens in the cache, len == seq.Pos()
	exact  int     // leading cache positions evaluated as prompt rows
	job    *job
	used   time.Time // last admission (least recently used slots are taken first)
}

// Scheduler runs requests on a model with continuous batching. Its methods
// are safe for concurrent use.
type Scheduler struct {
	m     *runtime.Model
	cfg   Config
	pool  *runtime.Pool
	batch *runtime.Batch

	mu       sync.Mutex
	queue    []*job
	closing  bool
	wake     chan struct{} // a request arrived or Shutdown began
	stopped  chan struct{} // the loop has exited
	giveUp   chan struct{} // Shutdown's context expired: cancel everything
	giveOnce sync.Once
	slots    []*slot // owned by the loop; snapshots under mu
	chunks   []runtime.Chunk
	who      []*slot
	stats    Stats
	info     []SlotInfo
}

// Stats are cumulative counters (llama-server's /metrics) and gauges.
type Stats struct {
	PromptTokens  int64         // prompt tokens evaluated (reused ones excluded)
	PromptTime    time.Duration // forward-pass time spent on prompt rows
	GenTokens     int64         // tokens generated
	GenTime       time.Duration // forward-pass time spent on decode rows
	Passes        int64         // forward passes
	PassSlots     int64         // slots evaluated, summed over the passes (llama-server's n_busy_slots_total)
	MaxPassTokens int           // the most tokens one pass evaluated (llama-server's n_tokens_max)
	Requests      int64         // requests finished
	Processing    int           // requests in slots
	Queued        int           // requests waiting for a slot
	CachedTokens  int           // positions held in the slots' caches
	CacheCapacity int           // Slots × Ctx
	ReusedTokens  int64         // prompt tokens taken from caches
	Aborted       int64         // requests that ended cancelled or with an error
}

// SlotInfo describes a slot (llama-server's /slots).
type SlotInfo struct {
	ID           int
	Busy         bool
	Cached       int // positions in the cache
	PromptTokens int // of the current request
	Generated    int // tokens generated for the current request
}

// New starts a scheduler for m. Each slot's KV cache takes
// Ctx × Layers × KVDim × 4 bytes.
func New(m *runtime.Model, cfg Config) (*Scheduler, error) {
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 512
	}
	if cfg.Chunk == 0 {
		cfg.Chunk = cfg.MaxBatch
	}
	if cfg.Queue == 0 {
		cfg.Queue = 4 * cfg.Slots
	}
	switch {
	case cfg.Slots < 1:
		return nil, fmt.Errorf("serve: %d slots: need at least one", cfg.Slots)
	case cfg.Ctx < 2:
		return nil, fmt.Errorf("serve: context of %d tokens: need at least 2", cfg.Ctx)
	case cfg.Threads < 1:
		return nil, fmt.Errorf("serve: %d threads: need at least one", cfg.Threads)
	case cfg.MaxBatch < cfg.Slots+2:
		return nil, fmt.Errorf("serve: batch of %d tokens: need at least slots+2 = %d", cfg.MaxBatch, cfg.Slots+2)
	case cfg.Chunk < 3:
		return nil, fmt.Errorf("serve: prompt chunk of %d tokens: need at least 3", cfg.Chunk)
	case cfg.Reuse < ReuseExact || cfg.Reuse > ReuseOff:
		return nil, fmt.Errorf("serve: unknown reuse mode %d", cfg.Reuse)
	}
	s := &Scheduler{
		m: m, cfg: cfg,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		giveUp:  make(chan struct{}),
	}
	s.pool = runtime.NewPool(cfg.Threads)
	var err error
	if s.batch, err = runtime.NewBatch(m, cfg.MaxBatch, s.pool); err != nil {
		s.pool.Close()
		return nil, err
	}
	for i := range cfg.Slots {
		seq, err := runtime.NewSeq(m, cfg.Ctx)
		if err != nil {
			s.pool.Close()
			return nil, err
		}
		s.slots = append(s.slots, &slot{id: i, seq: seq})
	}
	s.info = make([]SlotInfo, cfg.Slots)
	for i := range s.info {
		s.info[i].ID = i
	}
	s.stats.CacheCapacity = cfg.Slots * cfg.Ctx
	go s.loop()
	return s, nil
}

// Config returns the scheduler's configuration, defaults filled in.
func (s *Scheduler) Config() Config { return s.cfg }

// Submit queues a request. It fails at once with ErrQueueFull when the
// queue is full, ErrClosed after Shutdown, ErrPromptTooLong, or an error
// naming a bad prompt token or sampler parameter; otherwise the request
// runs until it ends or ctx is cancelled.
func (s *Scheduler) Submit(ctx context.Context, r Request) (*Stream, error) {
	switch {
	case len(r.Prompt) == 0:
		return nil, errors.New("serve: empty prompt")
	case len(r.Prompt) >= s.cfg.Ctx:
		// As llama-server does: a prompt that fills the context leaves no
		// room for anything after its first token.
		return nil, fmt.Errorf("%w (%d tokens, context %d)", ErrPromptTooLong, len(r.Prompt), s.cfg.Ctx)
	}
	for _, t := range r.Prompt {
		if t < 0 || int(t) >= s.m.Vocab {
			return nil, fmt.Errorf("serve: prompt token %d outside the vocabulary (%d)", t, s.m.Vocab)
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	maxNew := s.cfg.Ctx - len(r.Prompt) + 1
	if r.MaxTokens > 0 {
		maxNew = min(maxNew, r.MaxTokens)
	}
	j := &job{ctx: ctx, req: r, t0: time.Now(),
		st: &Stream{tokens: make(chan int32, maxNew), done: make(chan struct{})}}
	j.res.Slot = -1
	s.mu.Lock()
	switch {
	case s.closing:
		s.mu.Unlock()
		return nil, ErrClosed
	case len(s.queue) >= max(s.cfg.Queue, 0)+s.freeSlotsLocked():
		s.mu.Unlock()
		return nil, ErrQueueFull
	}
	s.queue = append(s.queue, j)
	s.stats.Queued = len(s.queue)
	s.mu.Unlock()
	s.signal()
	return j.st, nil
}

// freeSlotsLocked is the number of slots without a request (as of the last
// step; requests the loop has not admitted yet count against them).
func (s *Scheduler) freeSlotsLocked() int {
	return s.cfg.Slots - s.stats.Processing
}

func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Generate submits r and waits for its result.
func (s *Scheduler) Generate(ctx context.Context, r Request) (Result, error) {
	st, err := s.Submit(ctx, r)
	if err != nil {
		return Result{Slot: -1}, err
	}
	return st.Wait(), nil
}

// Stats returns the counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Slots describes the slots as of the last step.
func (s *Scheduler) Slots() []SlotInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.info)
}

// Shutdown stops accepting requests and waits until the queued and running
// ones have finished and the scheduler has released its workers. If ctx
// ends first, the remaining requests are cancelled (FinishCancelled), the
// scheduler stops, and ctx's error is returned. Shutdown may be called more
// than once.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.signal()
	select {
	case <-s.stopped:
		return nil
	default:
	}
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		s.giveOnce.Do(func() { close(s.giveUp) })
		<-s.stopped
		return ctx.Err()
	}
}

// loop is the scheduler's goroutine.
func (s *Scheduler) loop() {
	defer close(s.stopped)
	defer s.pool.Close()
	for {
		give := false
		select {
		case <-s.giveUp:
			give = true
		default:
		}
		s.mu.Lock()
		closing := s.closing
		if give {
			for _, j := range s.queue {
				s.finishLocked(j, FinishCancelled, context.Canceled)
			}
			s.queue = nil
		}
		s.mu.Unlock()
		busy := s.step(give)
		if !busy {
			s.mu.Lock()
			idle := len(s.queue) == 0
			s.mu.Unlock()
			if idle && closing {
				return
			}
			if idle {
				select {
				case <-s.wake:
				case <-s.giveUp:
				}
			}
		}
	}
}

// step drops cancelled requests, admits queued ones to free slots and runs
// one forward pass. It reports whether any request was running.
func (s *Scheduler) step(give bool) bool {
	s.mu.Lock()
	// Cancelled requests, queued or running, end now.
	q := s.queue[:0]
	for _, j := range s.queue {
		if err := j.ctx.Err(); err != nil {
			s.finishLocked(j, FinishCancelled, err)
			continue
		}
		q = append(q, j)
	}
	clear(s.queue[len(q):])
	s.queue = q
	for _, sl := range s.slots {
		if sl.job == nil {
			continue
		}
		if err := sl.job.ctx.Err(); err != nil || give {
			if err == nil {
				err = context.Canceled
			}
			s.releaseLocked(sl, FinishCancelled, err)
		}
	}
	// Admit queued requests, oldest first, each to the free slot with the
	// longest reusable prefix (the least recently used one on a tie).
	for len(s.queue) > 0 {
		j := s.queue[0]
		best, bestN := (*slot)(nil), -1
		for _, sl := range s.slots {
			if sl.job != nil {
				continue
			}
			n := s.reusable(sl, j.req.Prompt)
			if n > bestN || n == bestN && sl.used.Before(best.used) {
				best, bestN = sl, n
			}
		}
		if best == nil {
			break
		}
		s.queue = s.queue[1:]
		s.admit(best, j, bestN)
	}
	s.updateLocked()
	s.mu.Unlock()

	// Build the pass: a decode row for every generating slot, then prompt
	// chunks with the rows left.
	chunks, who := s.chunks[:0], s.who[:0]
	defer func() {
		// Keep the buffers, not the references.
		clear(chunks)
		clear(who)
		s.chunks, s.who = chunks[:0], who[:0]
	}()
	rowsLeft, promptRows := s.cfg.MaxBatch, 0
	for _, sl := range s.slots {
		if j := sl.job; j != nil && j.fed == len(j.req.Prompt) {
			chunks = append(chunks, runtime.Chunk{Seq: sl.seq, Tokens: []int32{j.next}, Logits: true})
			who = append(who, sl)
			rowsLeft--
		}
	}
	for _, sl := range s.slots {
		j := sl.job
		if j == nil || j.fed == len(j.req.Prompt) {
			continue
		}
		n := promptChunk(len(j.req.Prompt)-j.fed, min(rowsLeft, s.cfg.Chunk))
		if n == 0 {
			continue
		}
		chunks = append(chunks, runtime.Chunk{Seq: sl.seq, Tokens: j.req.Prompt[j.fed : j.fed+n], Logits: j.fed+n == len(j.req.Prompt)})
		who = append(who, sl)
		rowsLeft -= n
		promptRows += n
	}
	if len(chunks) == 0 {
		return false
	}
	t0 := time.Now()
	logits, err := s.batch.Forward(chunks)
	el := time.Since(t0)
	rows := s.cfg.MaxBatch - rowsLeft

	s.mu.Lock()
	s.stats.Passes++
	s.stats.PassSlots += int64(len(chunks))
	s.stats.MaxPassTokens = max(s.stats.MaxPassTokens, rows)
	s.stats.PromptTime += el * time.Duration(promptRows) / time.Duration(rows)
	s.stats.GenTime += el * time.Duration(rows-promptRows) / time.Duration(rows)
	s.stats.PromptTokens += int64(promptRows)
	if err != nil {
		// Validated inputs make this unreachable in practice; fail the
		// requests of the pass rather than the scheduler.
		for _, sl := range who {
			s.releaseLocked(sl, FinishError, err)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return true
	}
	// The slots are the loop's own: the hooks run without the lock.
	for k, sl := range who {
		j := sl.job
		c := chunks[k]
		sl.tokens = append(sl.tokens, c.Tokens...)
		if j.fed < len(j.req.Prompt) {
			j.fed += len(c.Tokens)
			if len(c.Tokens) > 1 {
				// Prompt rows of the batched rule: what any evaluation of
				// this prefix as a prompt gives. (A one-token prompt
				// follows the one-token rule and is not reusable as such.)
				sl.exact = len(sl.tokens)
			}
		}
		if logits[k] != nil {
			s.token(sl, logits[k])
		}
	}
	s.mu.Lock()
	s.updateLocked()
	s.mu.Unlock()
	return true
}

// promptChunk is how many of the remaining prompt tokens to evaluate with
// room rows: never a lone token unless the prompt has one token left from
// the start (remaining == 1 only for a one-token prompt), and never leaving
// a lone token for the next chunk. 0 means wait for room.
func promptChunk(remaining, room int) int {
	if remaining == 1 {
		return min(1, room)
	}
	n := min(remaining, room)
	if remaining-n == 1 {
		n--
	}
	if n < 2 {
		return 0
	}
	return n
}

// reusable is how many leading tokens of prompt the slot's cache can give.
func (s *Scheduler) reusable(sl *slot, prompt []int32) int {
	if s.cfg.Reuse == ReuseOff {
		return 0
	}
	n := 0
	for n < len(sl.tokens) && n < len(prompt) && sl.tokens[n] == prompt[n] {
		n++
	}
	if s.cfg.Reuse == ReuseExact {
		n = min(n, sl.exact)
	}
	// Evaluate at least two tokens (one for a one-token prompt): the last
	// one gives the logits, and a lone token would follow the one-token
	// rounding rule where the full prompt follows the batched one.
	return max(0, min(n, len(prompt)-2))
}

// admit puts j into sl, keeping reuse tokens of its cache.
func (s *Scheduler) admit(sl *slot, j *job, reuse int) {
	sl.seq.Truncate(reuse)
	sl.tokens = sl.tokens[:reuse]
	sl.exact = min(sl.exact, reuse)
	sl.job = j
	sl.used = time.Now()
	j.fed = reuse
	j.tAdm = sl.used
	j.res.Slot = sl.id
	j.res.CachedTokens = reuse
	j.res.Queued = j.tAdm.Sub(j.t0)
	s.stats.ReusedTokens += int64(reuse)
	j.smp = sampler.New(j.req.Sampler, s.m.Vocab)
	for _, t := range j.req.Prompt {
		j.smp.Accept(t)
	}
}

// token samples the next token of sl's request from logits and decides
// whether the request goes on, exactly as runtime.State.Generate does.
func (s *Scheduler) token(sl *slot, logits []float32) {
	j := sl.job
	if j.tTok.IsZero() {
		j.tTok = time.Now()
	}
	tok := j.smp.Sample(logits)
	j.smp.Accept(tok)
	r := &j.req
	if !r.IgnoreEOS && r.IsEOG != nil && r.IsEOG(tok) {
		s.release(sl, FinishStop, nil)
		return
	}
	j.out = append(j.out, tok)
	s.mu.Lock()
	s.stats.GenTokens++
	s.mu.Unlock()
	goOn := r.OnToken == nil || r.OnToken(tok, logits)
	j.st.tokens <- tok // never blocks: the channel holds every token
	switch {
	case !goOn:
		s.release(sl, FinishStop, nil)
	case len(j.out) == r.MaxTokens:
		s.release(sl, FinishLength, nil)
	case sl.seq.Pos() >= sl.seq.Ctx():
		s.release(sl, FinishContext, fmt.Errorf("%w after %d new tokens (context %d)", runtime.ErrContextFull, len(j.out), sl.seq.Ctx()))
	default:
		j.next = tok
	}
}

// release ends the request of sl and frees the slot (its cache stays for
// reuse).
func (s *Scheduler) release(sl *slot, f Finish, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(sl, f, err)
}

func (s *Scheduler) releaseLocked(sl *slot, f Finish, err error) {
	j := sl.job
	sl.job = nil
	// Publish the free slot before the client can see its request end, so
	// Slots and Stats never show a finished request's slot as busy.
	s.updateLocked()
	s.finishLocked(j, f, err)
}

// finishLocked completes j's stream.
func (s *Scheduler) finishLocked(j *job, f Finish, err error) {
	now := time.Now()
	j.res.Tokens = j.out
	j.res.Finish = f
	j.res.Err = err
	j.res.PromptTokens = len(j.req.Prompt)
	if !j.tAdm.IsZero() {
		if j.tTok.IsZero() {
			j.res.PromptTime = now.Sub(j.tAdm)
		} else {
			j.res.PromptTime = j.tTok.Sub(j.tAdm)
			j.res.GenTime = now.Sub(j.tTok)
		}
	} else {
		j.res.Queued = now.Sub(j.t0)
	}
	j.st.res = j.res
	close(j.st.tokens)
	close(j.st.done)
	s.stats.Requests++
	if f == FinishCancelled || f == FinishError {
		s.stats.Aborted++
	}
}

// updateLocked refreshes the gauges and slot descriptions.
func (s *Scheduler) updateLocked() {
	busy, cached := 0, 0
	for i, sl := range s.slots {
		inf := SlotInfo{ID: i, Cached: sl.seq.Pos()}
		if j := sl.job; j != nil {
			busy++
			inf.Busy = true
			inf.PromptTokens = len(j.req.Prompt)
			inf.Generated = len(j.out)
		}
		cached += sl.seq.Pos()
		s.info[i] = inf
	}
	s.stats.Processing = busy
	s.stats.Queued = len(s.queue)
	s.stats.CachedTokens = cached
}
