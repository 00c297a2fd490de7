package sampler

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// plain returns params with every truncation step and penalty turned off,
// at the given temperature.
func plain(temp float32) Params {
	return Params{Temp: temp, TopK: 0, TopP: 1, MinP: 0, RepeatPenalty: 1, RepeatLastN: 64, Seed: 1}
}

// softmaxRef is a float64 reference softmax.
func softmaxRef(xs ...float64) []float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	out := make([]float64, len(xs))
	var sum float64
	for i, x := range xs {
		out[i] = math.Exp(x - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func checkDist(t *testing.T, gotIDs []int32, gotP []float32, wantIDs []int32, wantP []float64) {
	t.Helper()
	if !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("ids = %v, want %v (probs %v)", gotIDs, wantIDs, gotP)
	}
	if len(gotP) != len(wantP) {
		t.Fatalf("len(probs) = %d, want %d", len(gotP), len(wantP))
	}
	var sum float64
	for i := range wantP {
		if math.Abs(float64(gotP[i])-wantP[i]) > 1e-6 {
			t.Fatalf("probs = %v, want %v", gotP, wantP)
		}
		sum += float64(gotP[i])
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Fatalf("probs sum to %v", sum)
	}
}

func probsOf(p Params, logits []float32) ([]int32, []float32) {
	return New(p, len(logits)).Probs(logits)
}

var ramp = []float32{1, 2, 3, 4}

func TestSoftmaxTemp1(t *testing.T) {
	// softmax(1,2,3,4) = e^(i-4) / (1 + e^-1 + e^-2 + e^-3)
	ids, p := probsOf(plain(1), ramp)
	checkDist(t, ids, p, []int32{0, 1, 2, 3},
		[]float64{0.03205860328008499, 0.08714431874203257, 0.23688281808991013, 0.6439142598879722})
}

func TestTemperature(t *testing.T) {
	ids, p := probsOf(plain(0.5), ramp)
	checkDist(t, ids, p, []int32{0, 1, 2, 3}, softmaxRef(2, 4, 6, 8))

	ids, p = probsOf(plain(2), ramp)
	checkDist(t, ids, p, []int32{0, 1, 2, 3}, softmaxRef(0.5, 1, 1.5, 2))
}

func TestTopK(t *testing.T) {
	p := plain(1)
	p.TopK = 2
	ids, pr := probsOf(p, ramp)
	// softmax(4,3): 1/(1+e^-1), e^-1/(1+e^-1)
	checkDist(t, ids, pr, []int32{3, 2}, []float64{0.7310585786300049, 0.2689414213699951})

	p.TopK = 1
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3}, []float64{1})

	// k larger than the vocab keeps everything, sorted by probability.
	p.TopK = 10
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3, 2, 1, 0}, softmaxRef(4, 3, 2, 1))
}

func TestTopKTiesLowestID(t *testing.T) {
	logits := []float32{1, 3, 3, 2, 3, 0, 0, 0}
	p := plain(1)
	p.TopK = 1 // heap path (k <= n/4)
	ids, pr := probsOf(p, logits)
	checkDist(t, ids, pr, []int32{1}, []float64{1})

	p.TopK = 2 // heap path
	ids, pr = probsOf(p, logits)
	checkDist(t, ids, pr, []int32{1, 2}, []float64{0.5, 0.5})

	p.TopK = 4 // sort path
	ids, pr = probsOf(p, logits)
	checkDist(t, ids, pr, []int32{1, 2, 4, 3}, softmaxRef(3, 3, 3, 2))
}

// TestTopKMatchesFullSort compares the heap selection with a reference full
// sort on random logits with many ties.
func TestTopKMatchesFullSort(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const n = 1000
	logits := make([]float32, n)
	ref := make([]candidate, n)
	for i := range logits {
		logits[i] = float32(r.IntN(50)) / 4
		if i%97 == 0 {
			logits[i] = float32(math.NaN())
		}
		ref[i] = candidate{id: int32(i), logit: logits[i]}
		if i%97 == 0 {
			ref[i].logit = float32(math.Inf(-1))
		}
	}
	slices.SortFunc(ref, cmpCandidate)
	buf := make([]candidate, n)
	for _, k := range []int{1, 2, 5, 40, 100, 250, 999, 1000} {
		got := topKSelect(logits, k, buf)
		want := ref[:k]
		if !slices.Equal(got, want) {
			t.Fatalf("k=%d: topK differs from full sort", k)
		}
	}
}

func TestTopP(t *testing.T) {
	// probs at temp 1: 0.6439 (id 3), 0.2369 (id 2), 0.0871 (id 1), 0.0321 (id 0)
	// cumulative:      0.6439,        0.8808,        0.9679,        1
	p := plain(1)

	p.TopP = 0.6 // 0.6439 >= 0.6: keeps only id 3
	ids, pr := probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3}, []float64{1})

	p.TopP = 0.7 // 0.6439 < 0.7 <= 0.8808
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3, 2}, []float64{0.7310585786300049, 0.2689414213699951})

	p.TopP = 0.95 // 0.8808 < 0.95 <= 0.9679
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3, 2, 1}, softmaxRef(4, 3, 2))

	p.TopP = 0.999 // everything
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3, 2, 1, 0}, softmaxRef(4, 3, 2, 1))

	p.TopP = 0 // degenerate: still keeps one token
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3}, []float64{1})

	p.TopP = 1 // off: no sorting, id order
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{0, 1, 2, 3}, softmaxRef(1, 2, 3, 4))
}

// TestTopPBeforeTemperature checks that top-p picks its set at temperature
// 1. At temp 2 the cumulative probs would be 0.4551, 0.7311, 0.8985, which
// would keep three tokens for p = 0.85. At temp 1 it keeps two (0.8808).
func TestTopPBeforeTemperature(t *testing.T) {
	p := plain(2)
	p.TopP = 0.85
	ids, pr := probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3, 2}, softmaxRef(2, 1.5))
}

func TestMinP(t *testing.T) {
	// max prob 0.6439. min_p 0.3 -> threshold 0.1932: keeps 0.6439 and 0.2369.
	p := plain(1)
	p.MinP = 0.3
	ids, pr := probsOf(p, ramp) // unsorted path: id order kept
	checkDist(t, ids, pr, []int32{2, 3}, softmaxRef(3, 4))

	// min_p 0.1 -> threshold 0.0644: also keeps 0.0871.
	p.MinP = 0.1
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{1, 2, 3}, softmaxRef(2, 3, 4))

	// Sorted path (after top-k) gives the same set, in descending order.
	p.MinP = 0.3
	p.TopK = 4
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3, 2}, softmaxRef(4, 3))

	// min_p 1 keeps only the best token.
	p.MinP = 1
	ids, pr = probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{3}, []float64{1})
}

// TestMinPBeforeTemperature: at temp 2 the threshold 0.3*0.4551 = 0.1365
// would also keep id 1 (0.1674). At temp 1 it must not.
func TestMinPBeforeTemperature(t *testing.T) {
	p := plain(2)
	p.MinP = 0.3
	ids, pr := probsOf(p, ramp)
	checkDist(t, ids, pr, []int32{2, 3}, softmaxRef(1.5, 2))
}

func TestMinPBoundaryInclusive(t *testing.T) {
	// prob(id 1) is exactly 0.5 * prob(id 0), so it is kept (>=).
	half := float32(math.Log(0.5))
	p := plain(1)
	p.MinP = 0.5
	ids, pr := probsOf(p, []float32{0, half, half - 1})
	checkDist(t, ids, pr, []int32{0, 1}, softmaxRef(0, float64(half)))
}

func TestChainDefaults(t *testing.T) {
	// Defaults on ramp: top-k 40 keeps all 4, top-p 0.95 keeps {3,2,1},
	// min-p 0.05 (threshold 0.0322) keeps all three, then temp 0.8.
	ids, pr := probsOf(DefaultParams(), ramp)
	checkDist(t, ids, pr, []int32{3, 2, 1}, softmaxRef(4/0.8, 3/0.8, 2/0.8))
}

func TestPenalties(t *testing.T) {
	logits := []float32{2, -1, 0.5, 3, 0}
	p := plain(1)
	p.RepeatPenalty = 2
	p.FreqPenalty = 0.5
	p.PresencePenalty = 0.25
	s := New(p, len(logits))
	for _, tok := range []int32{0, 1, 0, 4} {
		s.Accept(tok)
	}
	// id 0: count 2, logit 2 > 0  -> 2/2 - (2*0.5 + 0.25)     = -0.25
	// id 1: count 1, logit -1 <= 0 -> -1*2 - (1*0.5 + 0.25)   = -2.75
	// id 2: not seen               -> 0.5
	// id 3: not seen               -> 3
	// id 4: count 1, logit 0 <= 0  -> 0*2 - 0.75              = -0.75
	ids, pr := s.Probs(logits)
	checkDist(t, ids, pr, []int32{0, 1, 2, 3, 4}, softmaxRef(-0.25, -2.75, 0.5, 3, -0.75))

	// The caller's logits are untouched.
	if !slices.Equal(logits, []float32{2, -1, 0.5, 3, 0}) {
		t.Fatalf("logits modified: %v", logits)
	}
}

func TestRepeatPenaltyOnly(t *testing.T) {
	logits := []float32{3, -2, 1}
	p := plain(1)
	p.RepeatPenalty = 1.5
	s := New(p, len(logits))
	s.Accept(0)
	s.Accept(1)
	s.Accept(1) // the count does not matter for the repeat penalty
	ids, pr := s.Probs(logits)
	checkDist(t, ids, pr, []int32{0, 1, 2}, softmaxRef(2, -3, 1))
}

func TestPenaltyWindow(t *testing.T) {
	logits := []float32{1, 1, 1, 1}
	p := plain(1)
	p.PresencePenalty = 1
	p.RepeatLastN = 2
	s := New(p, len(logits))
	s.Accept(0)
	s.Accept(1)
	s.Accept(2) // evicts 0
	ids, pr := s.Probs(logits)
	checkDist(t, ids, pr, []int32{0, 1, 2, 3}, softmaxRef(1, 0, 0, 1))

	s.Accept(2) // evicts 1; window = [2, 2]
	ids, pr = s.Probs(logits)
	checkDist(t, ids, pr, []int32{0, 1, 2, 3}, softmaxRef(1, 1, 0, 1))

	// Out-of-range ids take a slot but are ignored.
	s.Accept(-5)
	s.Accept(99) // window = [-5, 99]
	ids, pr = s.Probs(logits)
	checkDist(t, ids, pr, []int32{0, 1, 2, 3}, softmaxRef(1, 1, 1, 1))

	s.Accept(3)
	s.Reset()
	ids, pr = s.Probs(logits)
	checkDist(t, ids, pr, []int32{0, 1, 2, 3}, softmaxRef(1, 1, 1, 1))
}

func TestPenaltiesDisabled(t *testing.T) {
	logits := []float32{1, 2}
	for _, p := range []Params{
		func() Params { p := plain(1); p.RepeatPenalty = 2; p.RepeatLastN = 0; return p }(),
		func() Params { p := plain(1); p.RepeatPenalty = 2; p.RepeatLastN = -1; return p }(),
		plain(1), // repeat 1, freq 0, presence 0
	} {
		s := New(p, 2)
		s.Accept(1)
		ids, pr := s.Probs(logits)
		checkDist(t, ids, pr, []int32{0, 1}, softmaxRef(1, 2))
	}
}

func TestGreedy(t *testing.T) {
	if got := Greedy([]float32{1, 5, 3, 5, 2}); got != 1 {
		t.Fatalf("Greedy ties: got %d, want 1", got)
	}
	nan := float32(math.NaN())
	if got := Greedy([]float32{nan, -1, nan, -0.5}); got != 3 {
		t.Fatalf("Greedy NaN: got %d, want 3", got)
	}
	if got := Greedy(nil); got != -1 {
		t.Fatalf("Greedy(nil) = %d", got)
	}
	if got := Greedy([]float32{float32(math.Inf(-1)), float32(math.Inf(-1))}); got != 0 {
		t.Fatalf("Greedy(-inf) = %d", got)
	}

	for _, temp := range []float32{0, -1} {
		p := DefaultParams()
		p.Temp = temp
		s := New(p, 5)
		logits := []float32{1, 5, 3, 5, 2}
		for range 5 {
			if got := s.Sample(logits); got != 1 {
				t.Fatalf("temp %v: Sample = %d, want 1", temp, got)
			}
		}
		ids, pr := s.Probs(logits)
		checkDist(t, ids, pr, []int32{1}, []float64{1})
	}
}

func TestGreedyAfterPenalties(t *testing.T) {
	p := DefaultParams()
	p.Temp = 0
	p.RepeatPenalty = 1.5
	s := New(p, 3)
	logits := []float32{5, 4, -1}
	if got := s.Sample(logits); got != 0 {
		t.Fatalf("got %d, want 0", got)
	}
	s.Accept(0) // 5/1.5 = 3.33 < 4
	if got := s.Sample(logits); got != 1 {
		t.Fatalf("got %d, want 1", got)
	}
}

func TestNonFiniteLogits(t *testing.T) {
	inf := float32(math.Inf(1))
	ninf := float32(math.Inf(-1))
	nan := float32(math.NaN())

	// All -Inf (or NaN) gives a uniform distribution, not NaN.
	ids, pr := probsOf(plain(1), []float32{ninf, nan, ninf})
	checkDist(t, ids, pr, []int32{0, 1, 2}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3})

	// +Inf tokens share the mass.
	ids, pr = probsOf(plain(0.7), []float32{1, inf, 2, inf})
	checkDist(t, ids, pr, []int32{0, 1, 2, 3}, []float64{0, 0.5, 0, 0.5})

	// -Inf tokens are never drawn.
	s := New(DefaultParams(), 3)
	for range 200 {
		if got := s.Sample([]float32{ninf, 0, ninf}); got != 1 {
			t.Fatalf("drew %d", got)
		}
	}
}

func TestSampleLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("expected panic")
		}
	}()
	New(DefaultParams(), 4).Sample([]float32{1, 2, 3})
}

func randomLogits(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 3)
	}
	return l
}

func generate(s *Sampler, logits []float32, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = s.Sample(logits)
		s.Accept(out[i])
	}
	return out
}

func TestReproducible(t *testing.T) {
	logits := randomLogits(2000, 3)
	p := DefaultParams()
	p.Temp = 1.2
	p.TopK = 100
	p.MinP = 0
	p.RepeatPenalty = 1.1

	p.Seed = 42
	a := New(p, len(logits))
	seqA := generate(a, logits, 300)
	seqB := generate(New(p, len(logits)), logits, 300)
	if !slices.Equal(seqA, seqB) {
		t.Fatal("same seed gave different sequences")
	}

	a.Reset()
	if !slices.Equal(seqA, generate(a, logits, 300)) {
		t.Fatal("Reset did not restore the initial state")
	}

	p.Seed = 43
	seqC := generate(New(p, len(logits)), logits, 300)
	if slices.Equal(seqA, seqC) {
		t.Fatal("different seeds gave identical sequences")
	}
	// The sequence is not degenerate.
	distinct := map[int32]bool{}
	for _, tok := range seqA {
		distinct[tok] = true
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct tokens", len(distinct))
	}
}

// TestEmpiricalFrequencies checks that draws follow the distribution that
// Probs reports. Everything is seeded, so the test is deterministic. The
// tolerance is about 5 standard deviations for the sample size.
func TestEmpiricalFrequencies(t *testing.T) {
	const draws = 40000
	cases := []struct {
		name   string
		p      Params
		logits []float32
		want   map[int32]float64 // optional hand-computed expectation
	}{
		{
			name: "plain",
			p:    plain(1),
			logits: []float32{
				float32(math.Log(0.1)), float32(math.Log(0.2)),
				float32(math.Log(0.3)), float32(math.Log(0.4)),
			},
			want: map[int32]float64{0: 0.1, 1: 0.2, 2: 0.3, 3: 0.4},
		},
		{name: "defaults", p: DefaultParams(), logits: randomLogits(64, 9)},
		{name: "topk-temp", p: Params{Temp: 1.5, TopK: 8, TopP: 1, RepeatPenalty: 1, Seed: 5}, logits: randomLogits(64, 10)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.p, len(tc.logits))
			ids, pr := s.Probs(tc.logits)
			want := map[int32]float64{}
			for i, id := range ids {
				want[id] = float64(pr[i])
			}
			for id, p := range tc.want {
				if math.Abs(want[id]-p) > 1e-6 {
					t.Fatalf("Probs[%d] = %v, want %v", id, want[id], p)
				}
			}
			counts := map[int32]int{}
			for range draws {
				counts[s.Sample(tc.logits)]++
			}
			for id := range counts {
				if _, ok := want[id]; !ok {
					t.Fatalf("drew token %d outside the candidate set", id)
				}
			}
			for id, p := range want {
				got := float64(counts[id]) / draws
				tol := 5*math.Sqrt(p*(1-p)/draws) + 1e-3
				if math.Abs(got-p) > tol {
					t.Errorf("token %d: frequency %.4f, want %.4f ± %.4f", id, got, p, tol)
				}
			}
		})
	}
}

const llama3Vocab = 128256

func TestSampleDoesNotAllocate(t *testing.T) {
	logits := randomLogits(llama3Vocab, 1)
	orig := slices.Clone(logits)
	greedy := DefaultParams()
	greedy.Temp = 0
	penal := DefaultParams()
	penal.RepeatPenalty = 1.1
	penal.FreqPenalty = 0.1
	penal.PresencePenalty = 0.1
	noTopK := DefaultParams()
	noTopK.TopK = 0
	for _, p := range []Params{DefaultParams(), greedy, penal, noTopK} {
		s := New(p, llama3Vocab)
		for i := range 100 {
			s.Accept(int32(i * 7))
		}
		allocs := testing.AllocsPerRun(3, func() {
			s.Accept(s.Sample(logits))
		})
		if allocs != 0 {
			t.Errorf("params %+v: %v allocs per Sample", p, allocs)
		}
	}
	if !slices.Equal(logits, orig) {
		t.Fatal("Sample modified logits")
	}
}

func benchSample(b *testing.B, p Params) {
	logits := randomLogits(llama3Vocab, 1)
	s := New(p, llama3Vocab)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.Accept(s.Sample(logits))
	}
}

func BenchmarkSample128k(b *testing.B) { benchSample(b, DefaultParams()) }

func BenchmarkSample128kPenalties(b *testing.B) {
	p := DefaultParams()
	p.RepeatPenalty = 1.1
	p.FreqPenalty = 0.1
	p.PresencePenalty = 0.1
	benchSample(b, p)
}

func BenchmarkSample128kGreedy(b *testing.B) {
	p := DefaultParams()
	p.Temp = 0
	benchSample(b, p)
}

// BenchmarkSample128kNoTopK is the worst case: top-k off, and logits so flat
// (N(0, 3^2)) that the 0.95 nucleus has thousands of tokens. That forces a
// full sort of the vocabulary, as in llama.cpp.
func BenchmarkSample128kNoTopK(b *testing.B) {
	p := DefaultParams()
	p.TopK = 0
	benchSample(b, p)
}

// refChain is a deliberately naive version of the chain: full sort,
// penalties recomputed from the raw history, float64 softmax.
func refChain(p Params, logits []float32, history []int32) ([]int32, []float64) {
	n := len(logits)
	l := make([]float32, n)
	for i, x := range logits {
		if x != x {
			x = float32(math.Inf(-1))
		}
		l[i] = x
	}
	if p.RepeatLastN > 0 {
		window := history[max(0, len(history)-p.RepeatLastN):]
		count := map[int32]int{}
		for _, t := range window {
			count[t]++
		}
		for t, c := range count {
			if t < 0 || int(t) >= n {
				continue
			}
			x := l[t]
			if x <= 0 {
				x *= p.RepeatPenalty
			} else {
				x /= p.RepeatPenalty
			}
			x -= float32(c)*p.FreqPenalty + p.PresencePenalty
			l[t] = x
		}
	}
	if p.Temp <= 0 {
		return []int32{Greedy(l)}, []float64{1}
	}
	cs := make([]candidate, n)
	for i := range cs {
		cs[i] = candidate{id: int32(i), logit: l[i]}
	}
	sorted := false
	if p.TopK > 0 {
		slices.SortFunc(cs, cmpCandidate)
		cs = cs[:min(p.TopK, n)]
		sorted = true
	}
	if p.TopP < 1 {
		if !sorted {
			slices.SortFunc(cs, cmpCandidate)
			sorted = true
		}
		softmax(cs)
		var cum float64
		for i := range cs {
			cum += cs[i].p
			if cum >= float64(p.TopP) {
				cs = cs[:i+1]
				break
			}
		}
	}
	if p.MinP > 0 {
		m := cs[0].logit
		for _, c := range cs {
			m = max(m, c.logit)
		}
		th := m + float32(math.Log(float64(p.MinP)))
		var keep []candidate
		for _, c := range cs {
			if c.logit >= th {
				keep = append(keep, c)
			}
		}
		cs = keep
	}
	xs := make([]float64, len(cs))
	ids := make([]int32, len(cs))
	for i, c := range cs {
		xs[i] = float64(c.logit / p.Temp)
		ids[i] = c.id
	}
	return ids, softmaxRef(xs...)
}

// TestChainMatchesReference cross-checks Probs against refChain on random
// inputs and parameters. The logits are quantized so that ties occur.
func TestChainMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	temps := []float32{0, 0.3, 0.8, 1, 1.7}
	topKs := []int{0, 1, 3, 40, 100, 150, 400, 1000}
	topPs := []float32{0.2, 0.5, 0.9, 0.95, 1}
	minPs := []float32{0, 0.01, 0.05, 0.3}
	var nucleus [2]int // big top-p cases with nucleus <= / > topPPartial
	for iter := range 300 {
		// Every third case uses a vocab above topPPartialMin with top-k off,
		// to exercise the adaptive top-p sort. The logit scale varies so
		// that the nucleus is sometimes larger than topPPartial.
		n, scale := 400, float32(8)
		big := iter%3 == 0
		if big {
			n, scale = 3000, []float32{1, 8, 40, 200}[r.IntN(4)]
		}
		p := Params{
			Temp:            temps[r.IntN(len(temps))],
			TopK:            topKs[r.IntN(len(topKs))],
			TopP:            topPs[r.IntN(len(topPs))],
			MinP:            minPs[r.IntN(len(minPs))],
			RepeatPenalty:   []float32{1, 1.1, 1.5}[r.IntN(3)],
			FreqPenalty:     []float32{0, 0.2}[r.IntN(2)],
			PresencePenalty: []float32{0, 0.5}[r.IntN(2)],
			RepeatLastN:     []int{0, 1, 8, 64}[r.IntN(4)],
			Seed:            uint64(iter),
		}
		if big {
			p.TopK = 0
		}
		logits := make([]float32, n)
		for i := range logits {
			logits[i] = float32(r.IntN(80)-40) / scale
		}
		s := New(p, n)
		history := make([]int32, r.IntN(100))
		for i := range history {
			history[i] = int32(r.IntN(n / 4)) // frequent repeats
			s.Accept(history[i])
		}
		gotIDs, gotP := s.Probs(logits)
		wantIDs, wantP := refChain(p, logits, history)
		if big && p.Temp > 0 && p.TopP < 1 && p.MinP == 0 {
			if len(wantIDs) > topPPartial {
				nucleus[1]++
			} else {
				nucleus[0]++
			}
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Fatalf("iter %d %+v: ids\n got %v\nwant %v", iter, p, gotIDs, wantIDs)
		}
		for i := range wantP {
			if math.Abs(float64(gotP[i])-wantP[i]) > 1e-6 {
				t.Fatalf("iter %d %+v: probs\n got %v\nwant %v", iter, p, gotP, wantP)
			}
		}
	}
	if nucleus[0] == 0 || nucleus[1] == 0 {
		t.Fatalf("adaptive top-p paths not both covered: %v", nucleus)
	}
}

// BenchmarkSample128kNoTopKPeaked: top-k off, but the logits are peaked the
// way real model output usually is. The nucleus fits in the partially
// sorted prefix, so there is no full sort.
func BenchmarkSample128kNoTopKPeaked(b *testing.B) {
	logits := randomLogits(llama3Vocab, 1)
	for i := 0; i < 50; i++ {
		logits[i*2000] += 25
	}
	p := DefaultParams()
	p.TopK = 0
	s := New(p, llama3Vocab)
	b.ReportAllocs()
	for b.Loop() {
		s.Accept(s.Sample(logits))
	}
}
