package runtime

import (
	"fmt"
	"math"
)

// Sampler picks the next token from a row of logits.
type Sampler interface {
	Sample(logits []float32) int32
	Accept(tok int32)
}

// GenerateOptions control Generate.
type GenerateOptions struct {
	MaxTokens int              // stop after this many new tokens (< 0: until EOS or the context is full)
	IsEOG     func(int32) bool // end-of-generation test; nil never stops
	IgnoreEOS bool

	// OnPromptLogits receives one row of logits per prompt position.
	OnPromptLogits func(row []float32)
	// OnToken receives each new token and the logits that produced it;
	// returning false stops generation.
	OnToken func(tok int32, logits []float32) bool
	// OnLogits receives the logits after each new token is evaluated (the
	// rows that predict the following token).
	OnLogits func(row []float32)
	// OnPromptDone is called after the prompt has been evaluated.
	OnPromptDone func()
}

// Generate evaluates prompt in one batched pass, then samples and evaluates
// one token at a time. It returns the new tokens. Running past the context
// is an error wrapping ErrContextFull, with the tokens made so far.
func (s *State) Generate(prompt []int32, smp Sampler, o GenerateOptions) ([]int32, error) {
	V := s.m.Vocab
	for _, t := range prompt {
		smp.Accept(t)
	}
	logits, err := s.Forward(prompt, o.OnPromptLogits != nil)
	if err != nil {
		return nil, err
	}
	if o.OnPromptLogits != nil {
		for r := range prompt {
			o.OnPromptLogits(logits[r*V : (r+1)*V])
		}
		logits = logits[(len(prompt)-1)*V:]
	}
	if o.OnPromptDone != nil {
		o.OnPromptDone()
	}
	var out []int32
	for o.MaxTokens < 0 || len(out) < o.MaxTokens {
		tok := smp.Sample(logits)
		smp.Accept(tok)
		if !o.IgnoreEOS && o.IsEOG != nil && o.IsEOG(tok) {
			break
		}
		out = append(out, tok)
		if o.OnToken != nil && !o.OnToken(tok, logits) {
			break
		}
		if len(out) == o.MaxTokens {
			break
		}
		if s.pos >= s.ctx {
			return out, fmt.Errorf("%w after %d new tokens (context %d)", ErrContextFull, len(out), s.ctx)
		}
		s.one[0] = tok
		if logits, err = s.Forward(s.one[:], false); err != nil {
			return out, err
		}
		if o.OnLogits != nil {
			o.OnLogits(logits)
		}
	}
	return out, nil
}

// PerplexityResult is the outcome of Perplexity.
type PerplexityResult struct {
	PPL     float64
	Chunks  int
	Tokens  int     // scored tokens
	NLL     float64 // mean negative log-likelihood (nats/token)
	StdErr  float64 // of the PPL estimate, as llama-perplexity prints it
	Running []float64
}

// Perplexity computes perplexity the way llama-perplexity does: tokens (the
// whole text, tokenized with BOS) is cut into chunks of ctx tokens, the first
// token of each chunk is replaced by bos (if bos ≥ 0), the chunk is evaluated
// in one pass from an empty cache, and the second half of each chunk is
// scored. progress, if set, gets the running perplexity after each chunk.
func (s *State) Perplexity(tokens []int32, ctx int, bos int32, progress func(chunk int, ppl float64)) (PerplexityResult, error) {
	var r PerplexityResult
	if ctx < 4 {
		return r, fmt.Errorf("perplexity: context %d is too small", ctx)
	}
	if ctx > s.ctx {
		return r, fmt.Errorf("perplexity: chunk of %d tokens exceeds the context of %d", ctx, s.ctx)
	}
	nChunk := len(tokens) / ctx
	if nChunk == 0 || len(tokens) < 2*ctx {
		return r, fmt.Errorf("perplexity: need at least %d tokens (2×context), have %d", 2*ctx, len(tokens))
	}
	V := s.m.Vocab
	first := ctx / 2
	chunk := make([]int32, ctx)
	var nll, nll2 float64
	count := 0
	for i := 0; i < nChunk; i++ {
		copy(chunk, tokens[i*ctx:(i+1)*ctx])
		if bos >= 0 {
			chunk[0] = bos
		}
		s.Reset()
		logits, err := s.Forward(chunk, true)
		if err != nil {
			return r, err
		}
		for j := first; j < ctx-1; j++ {
			row := logits[j*V : (j+1)*V]
			next := tokens[i*ctx+j+1]
			v := -logProb(row, next)
			nll += v
			nll2 += v * v
			count++
		}
		ppl := math.Exp(nll / float64(count))
		r.Running = append(r.Running, ppl)
		if progress != nil {
			progress(i+1, ppl)
		}
	}
	r.Chunks, r.Tokens = nChunk, count
	r.NLL = nll / float64(count)
	r.PPL = math.Exp(r.NLL)
	v := nll2/float64(count) - r.NLL*r.NLL
	if count > 1 && v > 0 {
		r.StdErr = math.Sqrt(v/float64(count-1)) * r.PPL
	}
	return r, nil
}

// logProb is log softmax(row)[tok], with the sum in float64.
func logProb(row []float32, tok int32) float64 {
	m := float32(math.Inf(-1))
	for _, v := range row {
		m = max(m, v)
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v - m))
	}
	return float64(row[tok]-m) - math.Log(sum)
}
