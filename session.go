package bitnet

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet/chat"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
)

// Sampling holds llama.cpp's sampling parameters (see package sampler for
// the order in which they apply).
type Sampling struct {
	Temp            float32 // ≤ 0: greedy
	TopK            int     // ≤ 0: off
	TopP            float32 // ≥ 1: off
	MinP            float32 // ≤ 0: off
	RepeatPenalty   float32 // 1: off
	RepeatLastN     int     // tokens the penalties look at (-1: the context size)
	FreqPenalty     float32
	PresencePenalty float32
	Seed            uint64
}

// DefaultSampling is llama.cpp's default: temperature 0.8, top-k 40,
// top-p 0.95, min-p 0.05, no penalties, seed 0.
func DefaultSampling() Sampling {
	p := sampler.DefaultParams()
	return Sampling{Temp: p.Temp, TopK: p.TopK, TopP: p.TopP, MinP: p.MinP, RepeatPenalty: p.RepeatPenalty,
		RepeatLastN: p.RepeatLastN, FreqPenalty: p.FreqPenalty, PresencePenalty: p.PresencePenalty}
}

// Greedy always takes the most likely token.
func Greedy() Sampling {
	s := DefaultSampling()
	s.Temp = 0
	return s
}

// GenerateOptions control one completion. The zero value (or nil) samples
// with DefaultSampling until an end-of-generation token or a full context.
type GenerateOptions struct {
	// MaxTokens stops after this many new tokens (≤ 0: no limit).
	MaxTokens int
	// Sampling parameters (nil: DefaultSampling()).
	Sampling *Sampling
	// Stop strings end the output where they first appear (they are not
	// part of it).
	Stop []string
	// IgnoreEOS keeps generating after end-of-generation tokens.
	IgnoreEOS bool
	// OnToken, if set, is called with each token as it is generated;
	// returning false stops generation.
	OnToken func(Token) bool
	// Logprobs sets Token.Logprob; TopLogprobs > 0 also fills Token.Top
	// with that many most likely tokens (at most 20). Both describe the
	// model's distribution (softmax of the logits), before sampling.
	Logprobs    bool
	TopLogprobs int
	// OnLogits, if set, receives every row of logits the completion
	// computes, in order: one per prompt token evaluated (cached tokens
	// are not evaluated again), then one per generated token evaluated
	// (the last token, and one that ends generation, are not). A row is
	// only valid during the call. The prompt's rows are computed together
	// (see Session.Eval with all), so with an F16 head the row the first
	// token is sampled from can differ in its last bits from the one
	// computed without OnLogits.
	OnLogits func(row []float32)
}

// TokenLogprob is a token and its log-probability.
type TokenLogprob struct {
	ID      int32
	Logprob float32
}

// Token is one generated token. Text is the output text it completes: it
// may be empty (part of a UTF-8 character, or text held back while it could
// begin a stop string). The Texts of all tokens of a completion add up to
// its Result.Text; text still held back when generation ends comes in a
// last Token with ID -1.
type Token struct {
	ID      int32
	Text    string
	Logprob float32        // with GenerateOptions.Logprobs or TopLogprobs
	Top     []TokenLogprob // with GenerateOptions.TopLogprobs, most likely first
}

// StopReason says why a completion ended.
type StopReason string

const (
	StopEOG       StopReason = "eog"       // an end-of-generation (end-of-turn) token
	StopLength    StopReason = "length"    // MaxTokens reached
	StopString    StopReason = "stop"      // a stop string
	StopCallback  StopReason = "callback"  // OnToken or the iterator's consumer stopped it
	StopCancelled StopReason = "cancelled" // the context was cancelled
	StopContext   StopReason = "context"   // the KV cache is full
)

// Result describes a finished completion.
type Result struct {
	Text         string     // the output text
	Tokens       []int32    // the generated tokens (without a final end-of-generation token)
	PromptTokens int        // tokens of the prompt
	CachedTokens int        // prompt tokens that were already in the cache
	Stop         StopReason // why it ended
	PromptTime   time.Duration
	GenTime      time.Duration
}

// Session is one sequence with its own KV cache. A Session is not safe for
// concurrent use; use one session per conversation or request.
type Session struct {
	m      *Model
	st     *runtime.State
	batch  int           // most tokens per forward pass
	pool   *runtime.Pool // the session's own threads (SessionOptions.Threads), or nil
	cached []int32       // the tokens whose keys and values are in the cache
	// The chat text the session has seen (prompt and answer) and its tokens
	// (cached plus the last sampled token, not evaluated yet).
	chatText string
	chatIDs  []int32
	last     Result
}

// ContextSize is the size of the session's KV cache in tokens.
func (s *Session) ContextSize() int { return s.st.Ctx() }

// Cached returns the tokens in the session's KV cache.
func (s *Session) Cached() []int32 { return append([]int32(nil), s.cached...) }

// Len is the number of tokens in the session's KV cache.
func (s *Session) Len() int { return len(s.cached) }

// KVBytes is the memory of the session's KV cache in bytes.
func (s *Session) KVBytes() int { return s.st.KVBytes() }

// Reset empties the session's cache.
func (s *Session) Reset() {
	s.st.Reset()
	s.cached, s.chatText, s.chatIDs = s.cached[:0], "", nil
}

// Truncate keeps the first n tokens of the session's cache and drops the
// rest (n ≥ Len keeps them all; n ≤ 0 empties it), so that other tokens
// can be evaluated after the first n: candidate continuations of a common
// prefix, for instance.
func (s *Session) Truncate(n int) {
	if n >= len(s.cached) {
		return
	}
	n = max(n, 0)
	s.st.Truncate(n)
	s.cached = s.cached[:n]
	s.chatText, s.chatIDs = "", nil
}

// Close releases the session's own worker threads (SessionOptions.Threads);
// the session must not be used afterwards. Sessions on the model's threads
// need no Close (it does nothing).
func (s *Session) Close() error {
	if s.pool != nil {
		s.pool.Close()
		s.pool = nil
	}
	return nil
}

// Eval evaluates tokens at the next positions of the session's cache and
// returns logits: a row of VocabSize values per token if all is set, else
// the last token's row. The returned slice is reused by the next call.
// Tokens that do not fit the context give an error wrapping
// ErrContextFull, and none is evaluated.
//
// The tokens go through forward passes of at most the session's batch
// size. ctx is checked before the first; when it can be cancelled and all
// is not set, it is also checked between passes (each pass then computes
// its last row's logits; after a cancellation the tokens of the passes
// already run stay in the cache, as Len tells). With all, or a ctx that
// cannot be cancelled (context.Background), one call computes every pass
// and only the logits asked for.
//
// With all the output head multiplies the rows of a pass together; with
// an F16 head the last row can then differ in its last bits from the one
// Eval computes without all (runtime.State.Forward does the same).
func (s *Session) Eval(ctx context.Context, tokens []int32, all bool) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, errors.New("bitnet: no tokens to evaluate")
	}
	if n := len(s.cached) + len(tokens); n > s.st.Ctx() {
		return nil, fmt.Errorf("bitnet: %d tokens after %d cached ones do not fit the context of %d: %w", len(tokens), len(s.cached), s.st.Ctx(), ErrContextFull)
	}
	if err := s.m.checkTokens(tokens); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if all || ctx.Done() == nil {
		return s.forward(tokens, all)
	}
	var logits []float32
	for rest := tokens; len(rest) > 0; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := min(len(rest), s.batch)
		var err error
		if logits, err = s.forward(rest[:k], false); err != nil {
			return nil, err
		}
		rest = rest[k:]
	}
	return logits, nil
}

// LastResult describes the last completion (useful after Stream).
func (s *Session) LastResult() Result { return s.last }

// Complete generates a continuation of prompt (the whole text the model
// sees: tokenized with BOS and special tokens; a cached prefix is reused).
func (s *Session) Complete(ctx context.Context, prompt string, o *GenerateOptions) (Result, error) {
	err := s.run(ctx, s.m.tok.Encode(prompt, true, true), o, nil, nil)
	return s.last, err
}

// CompleteTokens is Complete for a prompt given as token ids.
func (s *Session) CompleteTokens(ctx context.Context, prompt []int32, o *GenerateOptions) (Result, error) {
	err := s.run(ctx, prompt, o, nil, nil)
	return s.last, err
}

// Stream is Complete as an iterator of tokens. A failure ends the sequence
// with a non-nil error; LastResult then describes the completion.
func (s *Session) Stream(ctx context.Context, prompt string, o *GenerateOptions) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		if err := s.run(ctx, s.m.tok.Encode(prompt, true, true), o, yield, nil); err != nil {
			yield(Token{}, err)
		}
	}
}

// StreamTokens is Stream for a prompt given as token ids.
func (s *Session) StreamTokens(ctx context.Context, prompt []int32, o *GenerateOptions) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		if err := s.run(ctx, prompt, o, yield, nil); err != nil {
			yield(Token{}, err)
		}
	}
}

// Chat answers the conversation msgs (its last message is usually the
// user's) as the assistant, formatting it with the model's chat template.
// When msgs continue the conversation of the session's previous Chat (the
// same messages plus the answer and new ones), only the new text is
// evaluated.
func (s *Session) Chat(ctx context.Context, msgs []chat.Message, o *GenerateOptions) (Result, error) {
	ids, text, err := s.chatPrompt(msgs)
	if err != nil {
		return Result{}, err
	}
	err = s.run(ctx, ids, o, nil, &text)
	return s.last, err
}

// ChatStream is Chat as an iterator of tokens.
func (s *Session) ChatStream(ctx context.Context, msgs []chat.Message, o *GenerateOptions) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		ids, text, err := s.chatPrompt(msgs)
		if err == nil {
			err = s.run(ctx, ids, o, yield, &text)
		}
		if err != nil {
			yield(Token{}, err)
		}
	}
}

// chatPrompt renders msgs and tokenizes them, continuing the session's
// chat tokens when the new text extends the text they stand for.
func (s *Session) chatPrompt(msgs []chat.Message) ([]int32, string, error) {
	text, err := s.m.ApplyChatTemplate(msgs, true)
	if err != nil {
		return nil, "", err
	}
	if s.chatText != "" && strings.HasPrefix(text, s.chatText) {
		ids := append(append([]int32(nil), s.chatIDs...), s.m.tok.Encode(text[len(s.chatText):], false, true)...)
		return ids, text, nil
	}
	return s.m.tokenizeChat(text), text, nil
}

// run evaluates prompt (reusing the cached prefix) and generates. yield,
// if set, receives the tokens; chatText, if set, is the rendered chat that
// prompt encodes.
func (s *Session) run(ctx context.Context, prompt []int32, o *GenerateOptions, yield func(Token, error) bool, chatText *string) error {
	var opt GenerateOptions
	if o != nil {
		opt = *o
	}
	smp := DefaultSampling()
	if opt.Sampling != nil {
		smp = *opt.Sampling
	}
	m := s.m
	s.last = Result{PromptTokens: len(prompt)}
	s.chatText, s.chatIDs = "", nil
	res := &s.last
	if len(prompt) == 0 {
		return errors.New("bitnet: empty prompt")
	}
	if len(prompt) > s.st.Ctx() {
		return fmt.Errorf("bitnet: the prompt is %d tokens, longer than the context of %d: %w", len(prompt), s.st.Ctx(), ErrContextFull)
	}
	if err := m.checkTokens(prompt); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}

	// Reuse the longest cached prefix; at least one token is evaluated, for
	// its logits.
	n := 0
	for n < len(s.cached) && n < len(prompt)-1 && s.cached[n] == prompt[n] {
		n++
	}
	s.st.Truncate(n)
	s.cached = s.cached[:n]
	res.CachedTokens = n

	lastN := smp.RepeatLastN
	if lastN < 0 {
		lastN = s.st.Ctx()
	}
	sm := sampler.New(sampler.Params{Temp: smp.Temp, TopK: smp.TopK, TopP: smp.TopP, MinP: smp.MinP,
		RepeatPenalty: smp.RepeatPenalty, FreqPenalty: smp.FreqPenalty, PresencePenalty: smp.PresencePenalty,
		RepeatLastN: lastN, Seed: smp.Seed}, m.lm.Vocab)
	for _, t := range prompt {
		sm.Accept(t)
	}

	// The prompt, in batches as runtime.State.Forward cuts them, with a
	// cancellation check between batches.
	t0 := time.Now()
	var logits []float32
	rest := prompt[n:]
	all := opt.OnLogits != nil
	for len(rest) > 0 {
		if err := ctx.Err(); err != nil {
			res.Stop = StopCancelled
			return err
		}
		k := min(len(rest), s.batch)
		var err error
		if logits, err = s.forward(rest[:k], all); err != nil {
			return err
		}
		if all {
			V := m.lm.Vocab
			for r := range k {
				opt.OnLogits(logits[r*V : (r+1)*V])
			}
			logits = logits[(k-1)*V:]
		}
		rest = rest[k:]
	}
	res.PromptTime = time.Since(t0)

	t1 := time.Now()
	defer func() { res.GenTime = time.Since(t1) }()
	dec := m.tok.NewStreamDecoder()
	var out strings.Builder // all output text (before stop-string trimming)
	emitted := 0            // bytes of out already passed on
	chatIDs := prompt
	emit := func(tok Token) bool {
		if opt.OnToken != nil && !opt.OnToken(tok) {
			return false
		}
		if yield != nil && !yield(tok, nil) {
			return false
		}
		return true
	}
	exact := true // the generated tokens spell exactly the output text
	finish := func(stop StopReason) {
		res.Stop = stop
		if stop != StopString {
			out.WriteString(dec.Flush())
			if rest := out.String()[emitted:]; rest != "" && stop != StopCallback {
				emit(Token{ID: -1, Text: rest})
			}
		}
		res.Text = out.String()
		if chatText != nil && exact && stop != StopString {
			s.chatText = *chatText + res.Text
			s.chatIDs = chatIDs
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			finish(StopCancelled)
			return err
		}
		tok := sm.Sample(logits)
		sm.Accept(tok)
		if !opt.IgnoreEOS && m.IsEndOfGeneration(tok) {
			chatIDs = append(chatIDs[:len(chatIDs):len(chatIDs)], tok)
			finish(StopEOG)
			if s.chatIDs != nil {
				s.chatText += m.TokenText(tok)
			}
			return nil
		}
		var lp float32
		var top []TokenLogprob
		if opt.Logprobs || opt.TopLogprobs > 0 {
			lp, top = logprobs(logits, tok, min(opt.TopLogprobs, 20))
		}
		res.Tokens = append(res.Tokens, tok)
		if m.tok.IsControl(tok) {
			exact = false // its text is not part of the output
		}
		chatIDs = append(chatIDs[:len(chatIDs):len(chatIDs)], tok)
		out.WriteString(dec.Add(tok))
		// Pass on the text that cannot be the start of a stop string.
		text := out.String()
		if i, ok := findStop(text, opt.Stop, emitted); ok {
			piece := text[emitted:i]
			out.Reset()
			out.WriteString(text[:i])
			emitted = i
			emit(Token{ID: tok, Text: piece, Logprob: lp, Top: top})
			finish(StopString)
			return nil
		}
		safe := len(text) - heldBack(text, opt.Stop)
		piece := ""
		if safe > emitted {
			piece, emitted = text[emitted:safe], safe
		}
		if !emit(Token{ID: tok, Text: piece, Logprob: lp, Top: top}) {
			finish(StopCallback)
			return nil
		}
		if opt.MaxTokens > 0 && len(res.Tokens) >= opt.MaxTokens {
			finish(StopLength)
			return nil
		}
		if s.st.Pos() >= s.st.Ctx() {
			finish(StopContext)
			return fmt.Errorf("bitnet: %w after %d new tokens (context %d)", ErrContextFull, len(res.Tokens), s.st.Ctx())
		}
		var err error
		if logits, err = s.forward([]int32{tok}, false); err != nil {
			finish(StopContext)
			return err
		}
		if opt.OnLogits != nil {
			opt.OnLogits(logits)
		}
	}
}

// checkTokens refuses token ids outside the vocabulary.
func (m *Model) checkTokens(tokens []int32) error {
	for _, t := range tokens {
		if t < 0 || int(t) >= m.lm.Vocab {
			return fmt.Errorf("bitnet: token id %d outside the vocabulary (%d)", t, m.lm.Vocab)
		}
	}
	return nil
}

// forward evaluates tokens at the end of the cache and records them.
func (s *Session) forward(tokens []int32, all bool) ([]float32, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.m.closed {
		return nil, ErrClosed
	}
	logits, err := s.st.Forward(tokens, all)
	if err != nil {
		return nil, err
	}
	s.cached = append(s.cached, tokens...)
	return logits, nil
}

// logprobs returns log softmax(row)[tok] and the top n entries.
func logprobs(row []float32, tok int32, n int) (float32, []TokenLogprob) {
	mx, sum := expSum(row)
	lse := float64(mx) + math.Log(sum)
	lp := func(v float32) float32 { return float32(float64(v) - lse) }
	if n <= 0 {
		return lp(row[tok]), nil
	}
	top := make([]TokenLogprob, 0, n+1)
	for id, v := range row {
		if len(top) == n && v <= top[n-1].Logprob {
			continue
		}
		i := len(top)
		for i > 0 && top[i-1].Logprob < v {
			i--
		}
		top = slices.Insert(top, i, TokenLogprob{int32(id), v})
		if len(top) > n {
			top = top[:n]
		}
	}
	for i := range top {
		top[i].Logprob = lp(top[i].Logprob)
	}
	return lp(row[tok]), top
}

// findStop finds the first stop string in text that ends after byte from.
func findStop(text string, stops []string, from int) (int, bool) {
	best := -1
	for _, st := range stops {
		if st == "" {
			continue
		}
		start := max(0, from-len(st)+1)
		if i := strings.Index(text[start:], st); i >= 0 && (best < 0 || start+i < best) {
			best = start + i
		}
	}
	return best, best >= 0
}

// heldBack is the length of the longest suffix of text that is a proper
// prefix of a stop string.
func heldBack(text string, stops []string) int {
	h := 0
	for _, st := range stops {
		for k := min(len(st)-1, len(text)); k > h; k-- {
			if strings.HasSuffix(text, st[:k]) {
				h = k
				break
			}
		}
	}
	return h
}
