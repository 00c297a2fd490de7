// Package sampler turns a vector of next-token logits into a token id, with
// the same semantics as the default sampler chain of llama.cpp's "common"
// library (common/sampling.cpp with the default sampler order).
//
// # Order of operations
//
// For every call to [Sampler.Sample] the logits are copied into an internal
// candidate buffer (the caller's slice is never modified). Then the
// following steps run in this order, each one working on what the step
// before it left behind:
//
//  1. Penalties. This step only looks at tokens that are in the window of
//     the last RepeatLastN accepted tokens (see [Sampler.Accept]). Let c be
//     the number of times the token appears in the window. A positive logit
//     is divided by RepeatPenalty. A zero or negative logit is multiplied
//     by it, so a repeated token always becomes less likely. After that,
//     c*FreqPenalty is subtracted, and PresencePenalty is subtracted once.
//     The step is skipped when RepeatLastN is 0, or when RepeatPenalty is 1
//     and both FreqPenalty and PresencePenalty are 0.
//  2. Top-k. Keeps the TopK candidates with the largest logits, sorted from
//     largest to smallest. TopK <= 0 turns the step off and keeps the whole
//     vocabulary.
//  3. Top-p (nucleus). Takes a softmax of the current logits at
//     temperature 1 and sorts the candidates by probability. It keeps the
//     shortest prefix whose cumulative probability reaches TopP, and always
//     at least one token. TopP >= 1 turns the step off.
//  4. Min-p. Keeps the candidates whose probability (again at temperature
//     1) is at least MinP times the probability of the most likely
//     candidate. It checks this on logits, as llama.cpp does:
//     logit >= maxLogit + ln(MinP). MinP <= 0 turns the step off.
//  5. Temperature. Divides the remaining logits by Temp.
//  6. Softmax over the remaining candidates, then one draw from a seeded
//     PCG generator (math/rand/v2).
//
// Temperature comes last, so it only changes the shape of the final
// distribution. Which tokens survive top-k, top-p and min-p is always
// decided at temperature 1, as in llama.cpp.
//
// When Temp <= 0 the sampler is greedy. It returns the highest logit after
// the penalties and uses no randomness. The truncation steps cannot change
// that result, because each of them always keeps the best candidate.
//
// # Determinism
//
// Ties are always broken towards the lower token id. That applies to
// greedy, to the top-k selection and to the sort order. Logits that are NaN
// are treated as -Inf. For the same Seed, the same logits and the same
// accepted tokens, a Sampler returns the same tokens. With Temp > 0, each
// Sample call uses exactly one random number. The random stream is not the
// mt19937 one that llama.cpp uses, so the token sequence matches llama.cpp
// in distribution, not token for token.
package sampler

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Params configures a Sampler. The zero value is not useful; start from
// DefaultParams.
type Params struct {
	// Temp is the softmax temperature. Temp <= 0 selects greedy decoding.
	Temp float32
	// TopK keeps only the K most likely tokens; <= 0 disables it.
	TopK int
	// TopP is the nucleus threshold; >= 1 disables it.
	TopP float32
	// MinP is the minimum probability relative to the best token; <= 0
	// disables it.
	MinP float32
	// RepeatPenalty divides positive (multiplies non-positive) logits of
	// recently seen tokens; 1 disables it.
	RepeatPenalty float32
	// FreqPenalty is subtracted once per occurrence in the window.
	FreqPenalty float32
	// PresencePenalty is subtracted once if the token occurs in the window.
	PresencePenalty float32
	// RepeatLastN is the size of the penalty window in tokens. 0 disables
	// the penalties. Negative values count as 0. llama.cpp's "-1 = context
	// size" must be resolved by the caller.
	RepeatLastN int
	// Seed seeds the PCG random generator.
	Seed uint64
}

// DefaultParams returns llama.cpp's default sampling parameters:
// temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.0 (off),
// repeat_last_n 64, frequency and presence penalties 0. Seed is 0.
func DefaultParams() Params {
	return Params{
		Temp:            0.8,
		TopK:            40,
		TopP:            0.95,
		MinP:            0.05,
		RepeatPenalty:   1.0,
		FreqPenalty:     0,
		PresencePenalty: 0,
		RepeatLastN:     64,
		Seed:            0,
	}
}

// seedStream is the second PCG word. It is a fixed constant, so Seed alone
// determines the random stream.
const seedStream = 0x9e3779b97f4a7c15

// candidate is one entry of the working set (llama_token_data).
type candidate struct {
	id    int32
	logit float32
	p     float64
}

// Sampler samples tokens from logits. It keeps the penalty window and the
// random generator state. A Sampler is not safe for concurrent use.
type Sampler struct {
	p      Params
	nVocab int

	cand []candidate // len nVocab, reused by every call

	// Penalty window: ring buffer of the last RepeatLastN accepted tokens
	// and per-token occurrence counts within it.
	ring   []int32
	head   int // index of the next slot to write
	filled int // number of valid entries in ring
	counts []int32

	src *rand.PCG
	rng *rand.Rand
}

// New creates a Sampler for a vocabulary of nVocab tokens. It allocates all
// buffers up front, so Sample does not allocate. It panics if nVocab <= 0.
func New(p Params, nVocab int) *Sampler {
	if nVocab <= 0 {
		panic("sampler: nVocab must be positive")
	}
	if p.RepeatLastN < 0 {
		p.RepeatLastN = 0
	}
	s := &Sampler{
		p:      p,
		nVocab: nVocab,
		cand:   make([]candidate, nVocab),
		src:    rand.NewPCG(p.Seed, seedStream),
	}
	s.rng = rand.New(s.src)
	if p.RepeatLastN > 0 {
		s.ring = make([]int32, p.RepeatLastN)
		s.counts = make([]int32, nVocab)
	}
	return s
}

// Params returns the parameters the Sampler was built with, after
// normalization (a negative RepeatLastN is reported as 0).
func (s *Sampler) Params() Params { return s.p }

// Accept records tok as generated (or as part of the prompt) so that it
// counts for the repetition penalties. Only the last RepeatLastN tokens
// are kept. Ids outside [0, nVocab) still take a slot in the window but
// are never penalized.
func (s *Sampler) Accept(tok int32) {
	n := len(s.ring)
	if n == 0 {
		return
	}
	if s.filled == n {
		old := s.ring[s.head]
		if old >= 0 && int(old) < s.nVocab {
			s.counts[old]--
		}
	} else {
		s.filled++
	}
	s.ring[s.head] = tok
	if tok >= 0 && int(tok) < s.nVocab {
		s.counts[tok]++
	}
	s.head++
	if s.head == n {
		s.head = 0
	}
}

// Reset clears the penalty window and re-seeds the random generator from
// Params.Seed. After Reset the Sampler behaves like a new one from New, as
// llama_sampler_reset does for the penalties and dist samplers.
func (s *Sampler) Reset() {
	// The valid entries are always ring[:filled]: the ring fills from index 0
	// and wraps only once it is full.
	for _, tok := range s.ring[:s.filled] {
		if tok >= 0 && int(tok) < s.nVocab {
			s.counts[tok] = 0
		}
	}
	s.head, s.filled = 0, 0
	s.src.Seed(s.p.Seed, seedStream)
}

// Sample runs the sampler chain over logits and returns the chosen token
// id. It does not modify logits. It does not record the token either: call
// Accept for that. len(logits) must equal the nVocab given to New,
// otherwise Sample panics. Sample does not allocate.
func (s *Sampler) Sample(logits []float32) int32 {
	cur := s.apply(logits)
	if s.p.Temp <= 0 {
		return cur[0].id
	}
	u := s.rng.Float64()
	var cum float64
	for i := range cur {
		cum += cur[i].p
		if u < cum {
			return cur[i].id
		}
	}
	// Rounding left u >= sum of probs: return the last candidate with
	// non-zero probability.
	for i := len(cur) - 1; i >= 0; i-- {
		if cur[i].p > 0 {
			return cur[i].id
		}
	}
	return cur[0].id
}

// Probs runs the same chain as Sample but stops before the draw. It returns
// the final candidate ids and their normalized probabilities, in the order
// the draw would walk them. When a top-k or top-p step ran, that order is by
// descending probability. Otherwise it is by ascending id. For Temp <= 0 the
// result is the greedy token with probability 1. Probs does not use the
// random generator. The returned slices are newly allocated.
func (s *Sampler) Probs(logits []float32) (ids []int32, probs []float32) {
	cur := s.apply(logits)
	ids = make([]int32, len(cur))
	probs = make([]float32, len(cur))
	for i, c := range cur {
		ids[i] = c.id
		probs[i] = float32(c.p)
	}
	return ids, probs
}

// Greedy returns the index of the largest logit. Ties go to the lowest
// index, and NaN values are ignored. It returns -1 if logits is empty or
// holds only NaN.
func Greedy(logits []float32) int32 {
	best := int32(-1)
	var bestL float32
	for i, l := range logits {
		if l != l { // NaN
			continue
		}
		if best < 0 || l > bestL {
			best, bestL = int32(i), l
		}
	}
	return best
}

// apply runs penalties, top-k, top-p, min-p, temperature and softmax. It
// returns the surviving candidates (a prefix of s.cand) with p set. For
// Temp <= 0 it returns just the argmax, with p = 1.
func (s *Sampler) apply(logits []float32) []candidate {
	if len(logits) != s.nVocab {
		panic("sampler: len(logits) != nVocab")
	}
	cur := s.cand[:s.nVocab]
	negInf := float32(math.Inf(-1))
	for i, l := range logits {
		if l != l {
			l = negInf
		}
		cur[i] = candidate{id: int32(i), logit: l}
	}
	s.applyPenalties(cur)

	if s.p.Temp <= 0 {
		best := 0
		for i := 1; i < len(cur); i++ {
			if cur[i].logit > cur[best].logit {
				best = i
			}
		}
		cur[0] = candidate{id: cur[best].id, logit: cur[best].logit, p: 1}
		return cur[:1]
	}

	sorted := false
	if k := s.p.TopK; k > 0 {
		cur = topK(cur, k)
		sorted = true
	}
	if s.p.TopP < 1 {
		if !sorted {
			slices.SortFunc(cur, cmpCandidate)
			sorted = true
		}
		softmax(cur)
		target := float64(s.p.TopP)
		var cum float64
		keep := len(cur)
		for i := range cur {
			cum += cur[i].p
			if cum >= target {
				keep = i + 1
				break
			}
		}
		cur = cur[:keep]
	}
	if s.p.MinP > 0 {
		cur = minP(cur, s.p.MinP, sorted)
	}
	if t := s.p.Temp; t != 1 {
		for i := range cur {
			cur[i].logit /= t
		}
	}
	softmax(cur)
	return cur
}

// applyPenalties applies llama.cpp's repetition, frequency and presence
// penalties in place.
func (s *Sampler) applyPenalties(cur []candidate) {
	p := &s.p
	if s.filled == 0 || (p.RepeatPenalty == 1 && p.FreqPenalty == 0 && p.PresencePenalty == 0) {
		return
	}
	// cur is still in id order here (cur[i].id == i), so counts can be
	// indexed directly.
	for i, c := range s.counts {
		if c == 0 {
			continue
		}
		l := cur[i].logit
		if l <= 0 {
			l *= p.RepeatPenalty
		} else {
			l /= p.RepeatPenalty
		}
		l -= float32(c)*p.FreqPenalty + p.PresencePenalty
		cur[i].logit = l
	}
}

// better reports whether a ranks before b: a higher logit, or the same
// logit and a lower id.
func better(a, b *candidate) bool {
	return a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
}

// cmpCandidate orders candidates by descending logit, then ascending id.
func cmpCandidate(a, b candidate) int {
	switch {
	case a.logit > b.logit:
		return -1
	case a.logit < b.logit:
		return 1
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// topK moves the k best candidates to the front of cur, sorted by
// descending logit (ties broken by lower id), and returns that prefix. For
// small k it uses a bounded min-heap, which is O(n log k), instead of
// sorting the whole vocabulary.
func topK(cur []candidate, k int) []candidate {
	n := len(cur)
	if k >= n || k > n/4 {
		slices.SortFunc(cur, cmpCandidate)
		return cur[:min(k, n)]
	}
	// h = cur[:k] is a min-heap with respect to "better": the root is the
	// worst of the k kept so far.
	h := cur[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for i := k; i < n; i++ {
		if better(&cur[i], &h[0]) {
			h[0], cur[i] = cur[i], h[0]
			siftDown(h, 0)
		}
	}
	// Heap sort: repeatedly move the worst element to the end, which leaves
	// h in best-first order.
	for end := k - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		siftDown(h[:end], 0)
	}
	return h
}

// siftDown restores the min-heap property (worst at the root) below i.
func siftDown(h []candidate, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		worst := l
		if r := l + 1; r < n && better(&h[l], &h[r]) {
			worst = r
		}
		if !better(&h[i], &h[worst]) {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}

// minP keeps candidates with logit >= maxLogit + ln(p), which is the same
// as prob >= p*maxProb. The filter is stable, so the current order is kept.
// The best candidate always passes.
func minP(cur []candidate, p float32, sorted bool) []candidate {
	if len(cur) == 0 {
		return cur
	}
	maxL := cur[0].logit
	if !sorted {
		for i := 1; i < len(cur); i++ {
			maxL = max(maxL, cur[i].logit)
		}
	}
	minL := maxL + float32(math.Log(float64(p)))
	if sorted {
		i := 1
		for i < len(cur) && cur[i].logit >= minL {
			i++
		}
		return cur[:i]
	}
	j := 0
	for i := range cur {
		if cur[i].logit >= minL {
			cur[j] = cur[i]
			j++
		}
	}
	return cur[:j]
}

// softmax sets p on every candidate from its logit. Candidates whose logit
// equals the maximum get weight 1 before normalization, even when the
// maximum is ±Inf. So all -Inf gives a uniform distribution, and +Inf
// logits share the whole mass.
func softmax(cur []candidate) {
	if len(cur) == 0 {
		return
	}
	maxL := cur[0].logit
	for i := 1; i < len(cur); i++ {
		maxL = max(maxL, cur[i].logit)
	}
	var sum float64
	for i := range cur {
		e := 1.0
		if l := cur[i].logit; l != maxL {
			e = math.Exp(float64(l) - float64(maxL))
		}
		cur[i].p = e
		sum += e
	}
	inv := 1 / sum
	for i := range cur {
		cur[i].p *= inv
	}
}
