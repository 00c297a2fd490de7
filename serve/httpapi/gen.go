package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/sampler"
	"github.com/bitnet-go/bitnet/serve"
)

// genParams is one generation request after decoding.
type genParams struct {
	prompt      []int32
	smp         sampler.Params
	maxTokens   int // 0: until end of generation or a full context
	stop        []string
	ignoreEOS   bool
	logprobs    bool
	topLogprobs int
	eot         map[int32]bool // end-of-turn tokens of a per-request template
}

// tokenEvent is one generated token and the text it completes ("" while
// held back: an incomplete character or a possible start of a stop
// string). id -1 carries text released at the end.
type tokenEvent struct {
	id    int32
	text  string
	hasLP bool
	lp    float32
	top   []bitnet.TokenLogprob
}

// genResult is a finished generation.
type genResult struct {
	text         string
	tokens       []int32
	finish       string // "stop" or "length"
	stopType     string // llama-server's: "eos", "limit", "word"
	stopWord     string
	promptTokens int
	cachedTokens int
	slot         int
	promptTime   time.Duration
	genTime      time.Duration
}

// generation is a request running on the scheduler. OnToken (in the
// scheduler's goroutine) decodes text, finds stop strings and computes
// log-probabilities, and queues events for the handler's goroutine.
type generation struct {
	m      *bitnet.Model
	p      genParams
	st     *serve.Stream
	cancel context.CancelFunc

	mu      sync.Mutex
	pending []tokenEvent
	notify  chan struct{}

	// Owned by the scheduler's goroutine until the stream is done.
	dec      *tokenizer.StreamDecoder
	text     []byte
	emitted  int
	stopWord string
}

// submit starts p on the scheduler.
func (s *Server) submit(ctx context.Context, p genParams) (*generation, error) {
	m, sched := s.get()
	ctxSize := sched.Config().Ctx
	if len(p.prompt) == 0 {
		return nil, badRequest("the prompt is empty")
	}
	if len(p.prompt) >= ctxSize {
		return nil, &apiError{http.StatusBadRequest, "invalid_request_error",
			fmt.Sprintf("the prompt is %d tokens: it does not fit the context of %d tokens per slot (context_length_exceeded)", len(p.prompt), ctxSize)}
	}
	if p.maxTokens > 0 && len(p.prompt)+p.maxTokens > ctxSize {
		return nil, &apiError{http.StatusBadRequest, "invalid_request_error",
			fmt.Sprintf("max_tokens %d plus the prompt's %d tokens exceed the context of %d tokens per slot (context_length_exceeded)", p.maxTokens, len(p.prompt), ctxSize)}
	}
	for _, t := range p.prompt {
		if t < 0 || int(t) >= m.VocabSize() {
			return nil, badRequest("prompt token %d is outside the vocabulary (%d tokens)", t, m.VocabSize())
		}
	}
	g := &generation{m: m, p: p, notify: make(chan struct{}, 1), dec: m.Tokenizer().NewStreamDecoder()}
	req := serve.Request{
		Prompt: p.prompt, Sampler: p.smp, MaxTokens: p.maxTokens, IgnoreEOS: p.ignoreEOS,
		IsEOG:   func(t int32) bool { return m.IsEndOfGeneration(t) || p.eot[t] },
		OnToken: g.onToken,
	}
	if req.Sampler.RepeatLastN < 0 {
		req.Sampler.RepeatLastN = ctxSize
	}
	ctx, g.cancel = context.WithCancel(ctx)
	st, err := sched.Submit(ctx, req)
	if err != nil {
		g.cancel()
	}
	switch {
	case errors.Is(err, serve.ErrQueueFull):
		return nil, &apiError{http.StatusServiceUnavailable, "unavailable_error", "all slots are busy and the queue is full: retry later"}
	case errors.Is(err, serve.ErrClosed):
		return nil, &apiError{http.StatusServiceUnavailable, "unavailable_error", "the server is shutting down"}
	case err != nil:
		return nil, badRequest("%v", err)
	}
	g.st = st
	return g, nil
}

// onToken runs in the scheduler's goroutine.
func (g *generation) onToken(tok int32, logits []float32) bool {
	ev := tokenEvent{id: tok}
	if g.p.logprobs || g.p.topLogprobs > 0 {
		ev.hasLP = true
		ev.lp, ev.top = logprobs(logits, tok, g.p.topLogprobs)
	}
	g.text = append(g.text, g.dec.Add(tok)...)
	goOn := true
	if i, ok := findStop(g.text, g.p.stop, g.emitted); ok {
		for _, s := range g.p.stop {
			if s != "" && bytes.HasPrefix(g.text[i:], []byte(s)) {
				g.stopWord = s
				break
			}
		}
		g.text = g.text[:i]
		goOn = false
	}
	safe := len(g.text)
	if goOn {
		safe -= heldBack(g.text, g.p.stop)
	}
	if safe > g.emitted {
		ev.text = string(g.text[g.emitted:safe])
		g.emitted = safe
	}
	g.mu.Lock()
	g.pending = append(g.pending, ev)
	g.mu.Unlock()
	select {
	case g.notify <- struct{}{}:
	default:
	}
	return goOn
}

// run passes the events to emit as they come (in the caller's goroutine)
// and returns the result. If emit fails (the client is gone) the rest of
// the events are dropped; the request's context ends the generation.
func (g *generation) run(emit func(tokenEvent) error) (genResult, error) {
	var emitErr error
	drain := func() {
		g.mu.Lock()
		evs := g.pending
		g.pending = nil
		g.mu.Unlock()
		for _, ev := range evs {
			if emitErr == nil && emit != nil {
				if emitErr = emit(ev); emitErr != nil {
					g.cancel() // nobody reads the rest
				}
			}
		}
	}
	defer g.cancel()
	for done := false; !done; {
		select {
		case <-g.notify:
		case <-g.st.Done():
			done = true
		}
		drain()
	}
	res := g.st.Wait()
	drain()
	// The stream is done: the scheduler no longer touches g.
	out := genResult{tokens: res.Tokens, promptTokens: res.PromptTokens, cachedTokens: res.CachedTokens,
		slot: res.Slot, promptTime: res.PromptTime, genTime: res.GenTime}
	if g.stopWord == "" {
		g.text = append(g.text, g.dec.Flush()...)
		if rest := string(g.text[g.emitted:]); rest != "" {
			g.emitted = len(g.text)
			if emitErr == nil && emit != nil {
				emitErr = emit(tokenEvent{id: -1, text: rest})
			}
		}
	}
	out.text = string(g.text)
	switch {
	case g.stopWord != "":
		out.finish, out.stopType, out.stopWord = "stop", "word", g.stopWord
	case res.Finish == serve.FinishStop:
		out.finish, out.stopType = "stop", "eos"
	case res.Finish == serve.FinishLength || res.Finish == serve.FinishContext:
		out.finish, out.stopType = "length", "limit"
	case res.Finish == serve.FinishCancelled:
		return out, fmt.Errorf("cancelled: %w", res.Err)
	default:
		return out, &apiError{http.StatusInternalServerError, "server_error", fmt.Sprintf("generation failed: %v", res.Err)}
	}
	return out, emitErr
}

// logprobs returns log softmax(row)[tok] and the n most likely tokens.
func logprobs(row []float32, tok int32, n int) (float32, []bitnet.TokenLogprob) {
	mx := float32(math.Inf(-1))
	for _, v := range row {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v - mx))
	}
	lse := float64(mx) + math.Log(sum)
	lp := func(v float32) float32 { return float32(float64(v) - lse) }
	n = min(n, 20, len(row))
	if n <= 0 {
		return lp(row[tok]), nil
	}
	top := make([]bitnet.TokenLogprob, 0, n+1)
	for id, v := range row {
		if len(top) == n && v <= top[n-1].Logprob {
			continue
		}
		i := len(top)
		for i > 0 && top[i-1].Logprob < v {
			i--
		}
		top = slices.Insert(top, i, bitnet.TokenLogprob{ID: int32(id), Logprob: v})
		if len(top) > n {
			top = top[:n]
		}
	}
	for i := range top {
		top[i].Logprob = lp(top[i].Logprob)
	}
	return lp(row[tok]), top
}

// findStop finds the earliest stop string in text that ends after byte
// from.
func findStop(text []byte, stops []string, from int) (int, bool) {
	best := -1
	for _, st := range stops {
		if st == "" {
			continue
		}
		start := max(0, from-len(st)+1)
		if i := bytes.Index(text[start:], []byte(st)); i >= 0 && (best < 0 || start+i < best) {
			best = start + i
		}
	}
	return best, best >= 0
}

// heldBack is the length of the longest suffix of text that is a proper
// prefix of a stop string (text that may yet become a stop string).
func heldBack(text []byte, stops []string) int {
	h := 0
	for _, st := range stops {
		for k := min(len(st)-1, len(text)); k > h; k-- {
			if bytes.HasSuffix(text, []byte(st[:k])) {
				h = k
				break
			}
		}
	}
	return h
}
