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
//  4. Min-p. Keeps the candidates whose probability (again at
//     temperature 1) is at least MinP times the probability of the most
//     likely candidate. It checks this on logits, as llama.cpp does:
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
	"fmt"
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

// Validate reports parameters that have no meaning: NaN or infinite
// values, and a repetition penalty that is not positive. (The Sampler
// still accepts them, and still returns valid ids, but its distribution is
// then unspecified.) Command-line tools check their flags with it.
func (p Params) Validate() error {
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	for _, f := range []struct {
		name string
		v    float32
	}{{"temperature", p.Temp}, {"top-p", p.TopP}, {"min-p", p.MinP}, {"repeat penalty", p.RepeatPenalty},
		{"frequency penalty", p.FreqPenalty}, {"presence penalty", p.PresencePenalty}} {
		if !finite(f.v) {
			return fmt.Errorf("sampler: %s %g is not a finite number", f.name, f.v)
		}
	}
	if !(p.RepeatPenalty > 0) {
		return fmt.Errorf("sampler: repeat penalty %g must be positive (1 disables it)", p.RepeatPenalty)
	}
	return nil
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
	work []float32   // penalized copy of the logits (only if penalties can apply)

	// Penalty window: ring buffer of the last RepeatLastN accepted tokens
	// and per-token occurrence counts within it. The ring grows with the
	// tokens accepted, up to RepeatLastN, so a huge RepeatLastN costs
	// memory only for tokens that exist.
	ring   []int32
	window int // RepeatLastN
	head   int // index of the next slot to write once the ring is full
	filled int // number of valid entries in ring (= len(ring))
	counts []int32

	src *rand.PCG
	rng *rand.Rand
}

// New creates a Sampler for a vocabulary of nVocab tokens. It allocates its
// buffers up front (the penalty window grows with the tokens accepted, up to
// RepeatLastN), so Sample does not allocate. It panics if nVocab <= 0. Any
// Params are accepted (see Params.Validate for the meaningful ones): Sample
// always returns an id in [0, nVocab).
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
		s.window = p.RepeatLastN
		s.ring = make([]int32, 0, min(p.RepeatLastN, 4096))
		s.counts = make([]int32, nVocab)
		s.work = make([]float32, nVocab)
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
	n := s.window
	if n == 0 {
		return
	}
	if tok >= 0 && int(tok) < s.nVocab {
		s.counts[tok]++
	}
	if s.filled < n {
		s.ring = append(s.ring, tok)
		s.filled++
		return
	}
	old := s.ring[s.head]
	if old >= 0 && int(old) < s.nVocab {
		s.counts[old]--
	}
	s.ring[s.head] = tok
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
	s.ring = s.ring[:0]
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
	n := s.nVocab
	if len(logits) != n {
		panic("sampler: len(logits) != nVocab")
	}
	src := s.penalize(logits)
	negInf := float32(math.Inf(-1))

	if s.p.Temp <= 0 {
		best := Greedy(src)
		l := negInf
		if best < 0 { // all NaN
			best = 0
		} else {
			l = src[best]
		}
		cur := s.cand[:1]
		cur[0] = candidate{id: best, logit: l, p: 1}
		return cur
	}

	var cur []candidate
	sorted := false
	if k := s.p.TopK; k > 0 && k <= n/4 {
		cur = topKSelect(src, k, s.cand)
		sorted = true
	} else {
		cur = s.cand[:n]
		for i, l := range src {
			if l != l {
				l = negInf
			}
			cur[i] = candidate{id: int32(i), logit: l}
		}
		if k > 0 {
			slices.SortFunc(cur, cmpCandidate)
			cur = cur[:min(k, n)]
			sorted = true
		}
	}
	if s.p.TopP < 1 {
		cur = topP(cur, s.p.TopP, sorted)
		sorted = true
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

// penalize applies llama.cpp's repetition, frequency and presence
// penalties. If none of them can apply it returns logits unchanged.
// Otherwise it returns s.work, a penalized copy. The cost is O(nVocab) for
// the copy plus O(RepeatLastN) for the penalties.
func (s *Sampler) penalize(logits []float32) []float32 {
	p := &s.p
	if s.filled == 0 || (p.RepeatPenalty == 1 && p.FreqPenalty == 0 && p.PresencePenalty == 0) {
		return logits
	}
	w := s.work
	copy(w, logits)
	window := s.ring[:s.filled]
	// Each distinct token is penalized once. Its count is negated to mark it
	// as done, and the sign is restored afterwards.
	for _, tok := range window {
		if tok < 0 || int(tok) >= s.nVocab {
			continue
		}
		c := s.counts[tok]
		if c <= 0 {
			continue
		}
		l := w[tok]
		if l <= 0 {
			l *= p.RepeatPenalty
		} else {
			l /= p.RepeatPenalty
		}
		l -= float32(c)*p.FreqPenalty + p.PresencePenalty
		w[tok] = l
		s.counts[tok] = -c
	}
	for _, tok := range window {
		if tok >= 0 && int(tok) < s.nVocab && s.counts[tok] < 0 {
			s.counts[tok] = -s.counts[tok]
		}
	}
	return w
}

// Adaptive sorting for top-p over a large unsorted set, as in llama.cpp.
// Only the best topPPartial candidates are sorted at first. The rest is
// sorted only if the nucleus turns out to be larger than that.
const (
	topPPartialMin = 1024
	topPPartial    = 256
)

// topP takes a softmax of cur at temperature 1 and keeps the shortest
// prefix, in descending order, whose cumulative probability is >= p. It
// always keeps at least one candidate. The result is sorted.
func topP(cur []candidate, p float32, sorted bool) []candidate {
	softmax(cur)       // the probabilities do not depend on the order
	prefix := len(cur) // leading entries known to be in final order
	if !sorted {
		if len(cur) > topPPartialMin {
			prefix = topPPartial
			partialSort(cur, prefix)
		} else {
			slices.SortFunc(cur, cmpCandidate)
		}
	}
	target := float64(p)
	var cum float64
	for i := range cur {
		if i == prefix {
			// The nucleus is larger than the sorted part. Everything in the
			// tail ranks below the prefix, so sorting the tail completes the
			// order.
			slices.SortFunc(cur[prefix:], cmpCandidate)
			prefix = len(cur)
		}
		cum += cur[i].p
		if cum >= target {
			return cur[:i+1]
		}
	}
	if prefix < len(cur) { // unreachable unless rounding: keep all, sorted
		slices.SortFunc(cur[prefix:], cmpCandidate)
	}
	return cur
}

// partialSort puts the k best candidates of cur, sorted, into cur[:k] and
// leaves the others (in any order) in cur[k:]. Requires 0 < k <= len(cur).
func partialSort(cur []candidate, k int) {
	h := cur[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for i := k; i < len(cur); i++ {
		if better(&cur[i], &h[0]) {
			h[0], cur[i] = cur[i], h[0]
			siftDown(h, 0)
		}
	}
	for end := k - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		siftDown(h[:end], 0)
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

// topKSelect writes the k best entries of src into buf[:k] and returns
// that slice. The entries are sorted by descending logit, with ties broken
// by lower id. It keeps a bounded min-heap, which is O(n log k), instead of
// sorting the whole vocabulary. NaN is treated as -Inf. Requires
// 0 < k <= len(src) and len(buf) >= k.
func topKSelect(src []float32, k int, buf []candidate) []candidate {
	negInf := float32(math.Inf(-1))
	// h is a min-heap with respect to "better": the root is the worst of
	// the k kept so far.
	h := buf[:k]
	for i := range h {
		l := src[i]
		if l != l {
			l = negInf
		}
		h[i] = candidate{id: int32(i), logit: l}
	}
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	// Later ids lose ties, so only a strictly larger logit replaces the
	// root. A NaN never compares larger, so it never gets in.
	for i := k; i < len(src); i++ {
		if l := src[i]; l > h[0].logit {
			h[0] = candidate{id: int32(i), logit: l}
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
	j, best := 0, 0
	for i := range cur {
		if better(&cur[i], &cur[best]) {
			best = i
		}
		if cur[i].logit >= minL {
			cur[j] = cur[i]
			j++
		}
	}
	if j == 0 {
		// MinP > 1 (or +Inf) lets nothing through: keep the best candidate,
		// as the sorted path does and as llama.cpp's min_keep = 1 does.
		// (cur was not modified: nothing was copied.)
		cur[0] = cur[best]
		return cur[:1]
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
