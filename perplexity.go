package bitnet

import (
	"context"
	"fmt"
	"math"
)

// PerplexityOptions control Session.Perplexity. The zero value (or nil)
// scores chunks of the session's context size with llama-perplexity's BOS
// rule.
type PerplexityOptions struct {
	// Chunk is the number of tokens of each chunk (0: the session's
	// context size; at least 4, at most the context size).
	Chunk int
	// NoBOS keeps the first token of each chunk. By default it is replaced
	// by the BOS token when the vocabulary adds one, as llama-perplexity
	// does.
	NoBOS bool
	// Progress, if set, gets the running perplexity after each chunk
	// (numbered from 1).
	Progress func(chunk int, ppl float64)
}

// PerplexityResult is the outcome of Session.Perplexity.
type PerplexityResult struct {
	PPL     float64
	Chunks  int
	Tokens  int       // scored tokens
	NLL     float64   // mean negative log-likelihood (nats/token)
	StdErr  float64   // of the PPL estimate, as llama-perplexity prints it
	Running []float64 // the perplexity after each chunk
}

// Perplexity computes the perplexity of tokens (a whole text, tokenized
// with BOS) the way llama-perplexity does: the tokens are cut into chunks
// (a tail shorter than a chunk is left out), each chunk is evaluated from an
// empty cache in one pass, and the second half of each chunk is scored. It
// needs at least two chunks. ctx is checked between chunks; the session's
// cache is left holding the last chunk.
func (s *Session) Perplexity(ctx context.Context, tokens []int32, o *PerplexityOptions) (PerplexityResult, error) {
	var opt PerplexityOptions
	if o != nil {
		opt = *o
	}
	var r PerplexityResult
	n := opt.Chunk
	if n == 0 {
		n = s.st.Ctx()
	}
	if n < 4 {
		return r, fmt.Errorf("bitnet: perplexity: a chunk of %d tokens is too small (4 at least)", n)
	}
	if n > s.st.Ctx() {
		return r, fmt.Errorf("bitnet: perplexity: a chunk of %d tokens exceeds the context of %d", n, s.st.Ctx())
	}
	nChunk := len(tokens) / n
	if len(tokens) < 2*n {
		return r, fmt.Errorf("bitnet: perplexity: need at least %d tokens (two chunks of %d), have %d", 2*n, n, len(tokens))
	}
	if err := s.m.checkTokens(tokens); err != nil {
		return r, err
	}
	bos := int32(-1)
	if tok := s.m.tok; !opt.NoBOS && tok.AddBOS() {
		bos = tok.BOS()
	}
	V := s.m.lm.Vocab
	first := n / 2
	chunk := make([]int32, n)
	var nll, nll2 float64
	count := 0
	for i := range nChunk {
		copy(chunk, tokens[i*n:(i+1)*n])
		if bos >= 0 {
			chunk[0] = bos
		}
		s.Reset()
		logits, err := s.Eval(ctx, chunk, true)
		if err != nil {
			return r, err
		}
		for j := first; j < n-1; j++ {
			v := -logProb(logits[j*V:(j+1)*V], tokens[i*n+j+1])
			nll += v
			nll2 += v * v
			count++
		}
		ppl := math.Exp(nll / float64(count))
		r.Running = append(r.Running, ppl)
		if opt.Progress != nil {
			opt.Progress(i+1, ppl)
		}
	}
	r.Chunks, r.Tokens = nChunk, count
	r.NLL = nll / float64(count)
	r.PPL = math.Exp(r.NLL)
	if v := nll2/float64(count) - r.NLL*r.NLL; count > 1 && v > 0 {
		r.StdErr = math.Sqrt(v/float64(count-1)) * r.PPL
	}
	return r, nil
}

// logProb is log softmax(row)[tok] with the sum in float64 (after
// subtracting the row's maximum), as llama-perplexity computes it.
func logProb(row []float32, tok int32) float64 {
	m, sum := expSum(row)
	return float64(row[tok]-m) - math.Log(sum)
}

// expSum returns the row's maximum m and Σ exp(v − m) summed in float64:
// the softmax normalizer of logProb and logprobs.
func expSum(row []float32) (float32, float64) {
	m := float32(math.Inf(-1))
	for _, v := range row {
		m = max(m, v)
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v - m))
	}
	return m, sum
}
