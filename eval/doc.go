// Package eval scores language models the way llama.cpp's llama-perplexity
// does, so that numbers are comparable with it:
//
//   - HellaSwag (--hellaswag): six text lines per task (context, gold
//     ending index, four endings); each ending is scored by the mean
//     log-probability of its tokens after the context ("acc_norm").
//   - WinoGrande (--winogrande): CSV rows "index,sentence,choice1,choice2,answer"
//     where the sentence holds "_"; the text after the blank is scored.
//   - Multiple choice (--multiple-choice): llama.cpp's binary task format
//     (ARC, MMLU, TruthfulQA, HellaSwag converted), scored like HellaSwag.
//   - KL divergence (--kl-divergence-base / --kl-divergence): the base
//     model's log-probabilities of a text, quantized to 16 bits per token
//     in llama-perplexity's file layout, against another model's.
//
// The readers follow llama-perplexity (examples/perplexity/perplexity.cpp
// of the BitNet fork, which upstream tools/perplexity/perplexity.cpp still
// matches in these parts) byte for byte, including its task selection with
// std::mt19937(1); they reject malformed input with an error instead of
// llama.cpp's undefined behaviour. Scoring keeps llama.cpp's float32/float64
// arithmetic. The candidate endings of a task share its common token
// prefix: the prefix is evaluated once and the KV cache is truncated back to
// it before each ending.
package eval

import (
	"math"
)

// LM is the part of runtime.State that scoring needs.
type LM interface {
	// Forward evaluates tokens at the next cache positions and returns
	// logits (a row per token if all, else the last token's row); the slice
	// is reused by the next call.
	Forward(tokens []int32, all bool) ([]float32, error)
	// Truncate drops cache positions from pos on.
	Truncate(pos int)
	// Reset empties the cache.
	Reset()
}

// Tokenize is llama_tokenize(text, add_special=true, parse_special=false):
// BOS first when the vocabulary asks for it.
type Tokenize func(text string) []int32

func expf(x float32) float32 { return float32(math.Exp(float64(x))) }
func logf(x float32) float32 { return float32(math.Log(float64(x))) }

// tokenLogProb is log softmax(logits)[tok] computed as llama-perplexity's
// compute_logprobs does (float32 maximum, float32 sum of expf).
func tokenLogProb(logits []float32, tok int32) float32 {
	mx := logits[0]
	for _, v := range logits[1:] {
		mx = max(mx, v)
	}
	var sum float32
	for _, v := range logits {
		sum += expf(v - mx)
	}
	return logits[tok] - mx - logf(sum)
}

// softmaxProb is softmax(logits)[tok] as llama-perplexity's softmax()
// computes it (float32 exponentials summed in float64, divided in float64
// and stored as float32).
func softmaxProb(logits []float32, tok int32) float32 {
	mx := logits[0]
	for _, v := range logits {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range logits {
		sum += float64(expf(v - mx))
	}
	return float32(float64(expf(logits[tok]-mx)) / sum)
}

// commonPrefix is the number of leading tokens all seqs share.
func commonPrefix(seqs [][]int32) int {
	n := len(seqs[0])
	for _, s := range seqs[1:] {
		n = min(n, len(s))
	}
	for k := 0; k < n; k++ {
		for _, s := range seqs[1:] {
			if s[k] != seqs[0][k] {
				return k
			}
		}
	}
	return n
}

// requiredTokens is llama-perplexity's batch footprint of a task: the
// shared prefix once plus every sequence's own tokens.
func requiredTokens(seqs [][]int32, cp int) int {
	n := cp
	for _, s := range seqs {
		n += len(s) - cp
	}
	return n
}
