package sampler

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzParams drives the sampler with arbitrary parameters (NaN, infinite,
// negative, huge), logits (with NaN and ±Inf) and accepted tokens (in and
// out of the vocabulary). Whatever the input: no panic, no allocation
// beyond what the tokens need, every sampled id in [0, nVocab). When the
// parameters pass Validate: Probs is a distribution over distinct ids that
// holds the sampled token, and greedy decoding returns the best penalized
// logit.
func FuzzParams(f *testing.F) {
	f.Add(float32(0.8), 40, float32(0.95), float32(0.05), float32(1.1), float32(0), float32(0), 64, uint64(1), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(float32(0), 0, float32(1), float32(0), float32(1), float32(0), float32(0), 0, uint64(0), []byte{0xff, 0xff, 0xc0, 0x7f})
	f.Add(float32(math.NaN()), -5, float32(math.Inf(1)), float32(-1), float32(0), float32(1e38), float32(-1e38), 1<<40, uint64(7), []byte{0, 0, 0x80, 0x7f, 0, 0, 0x80, 0xff})
	f.Add(float32(1e-45), 1, float32(0), float32(1), float32(-2), float32(0.5), float32(0.5), 3, uint64(9), []byte("logits"))
	f.Fuzz(func(t *testing.T, temp float32, topK int, topP, minP, rep, freq, pres float32, lastN int, seed uint64, data []byte) {
		// The vocabulary size, the logits and the accepted tokens come from data.
		nVocab := 1
		if len(data) > 0 {
			nVocab = int(data[0])%40 + 1
			data = data[1:]
		}
		logits := make([]float32, nVocab)
		for i := range logits {
			if len(data) >= 4 {
				logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(data))
				data = data[4:]
			} else {
				logits[i] = float32(i % 7)
			}
		}
		p := Params{Temp: temp, TopK: topK, TopP: topP, MinP: minP, RepeatPenalty: rep,
			FreqPenalty: freq, PresencePenalty: pres, RepeatLastN: lastN, Seed: seed}
		s := New(p, nVocab)
		for _, b := range data {
			s.Accept(int32(int8(b))) // negative and out-of-vocabulary ids too
		}
		valid := p.Validate() == nil
		for round := 0; round < 3; round++ {
			tok := s.Sample(logits)
			if tok < 0 || int(tok) >= nVocab {
				t.Fatalf("sampled id %d outside [0, %d)", tok, nVocab)
			}
			ids, probs := s.Probs(logits)
			if len(ids) == 0 || len(ids) != len(probs) {
				t.Fatalf("Probs: %d ids, %d probabilities", len(ids), len(probs))
			}
			seen := map[int32]bool{}
			var sum float64
			for i, id := range ids {
				if id < 0 || int(id) >= nVocab || seen[id] {
					t.Fatalf("Probs: id %d repeated or outside [0, %d)", id, nVocab)
				}
				seen[id] = true
				sum += float64(probs[i])
			}
			if valid {
				for i, q := range probs {
					if !(q >= 0 && q <= 1) {
						t.Fatalf("Probs: p(%d) = %v with valid parameters %+v", ids[i], q, p)
					}
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Fatalf("Probs sum to %v with valid parameters %+v", sum, p)
				}
				if !seen[tok] {
					t.Fatalf("sampled %d, not a candidate of Probs %v", tok, ids)
				}
				if temp <= 0 {
					w := s.penalize(logits)
					if g := Greedy(w); g >= 0 && tok != g {
						t.Fatalf("greedy sampled %d, best penalized logit is %d", tok, g)
					}
				}
			}
			s.Accept(tok)
		}
		s.Reset()
		if s.filled != 0 || len(s.ring) != 0 {
			t.Fatalf("Reset left %d tokens in the window", s.filled)
		}
		for _, c := range s.counts {
			if c != 0 {
				t.Fatal("Reset left a count")
			}
		}
	})
}

// A huge RepeatLastN (a flag such as --repeat-last-n 1e12) used to allocate
// the whole window up front and crash; the window now grows with the tokens.
func TestHugeRepeatLastN(t *testing.T) {
	p := DefaultParams()
	p.RepeatLastN, p.RepeatPenalty = 1<<50, 2
	s := New(p, 8)
	for i := 0; i < 100; i++ {
		s.Accept(int32(i % 8))
	}
	if s.filled != 100 || cap(s.ring) > 1<<16 {
		t.Fatalf("window of %d tokens, capacity %d", s.filled, cap(s.ring))
	}
	logits := []float32{1, 1, 1, 1, 1, 1, 1, 5}
	if got := s.penalize(logits)[7]; got != 2.5 {
		t.Fatalf("penalized logit %v, want 2.5", got)
	}
}

// A window that wraps keeps exactly the last RepeatLastN tokens.
func TestWindowWraps(t *testing.T) {
	p := DefaultParams()
	p.RepeatLastN, p.RepeatPenalty = 3, 2
	s := New(p, 4)
	for _, tok := range []int32{0, 1, 2, 3, 3, -1, 9} { // window: 3, -1, 9
		s.Accept(tok)
	}
	want := []int32{0, 0, 0, 1}
	for i, c := range s.counts {
		if c != want[i] {
			t.Fatalf("counts %v, want %v", s.counts, want)
		}
	}
	s.Accept(3) // window: -1, 9, 3
	if s.counts[3] != 1 {
		t.Fatalf("counts %v", s.counts)
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Params){
		func(p *Params) { p.Temp = float32(math.NaN()) },
		func(p *Params) { p.Temp = float32(math.Inf(1)) },
		func(p *Params) { p.TopP = float32(math.NaN()) },
		func(p *Params) { p.MinP = float32(math.Inf(-1)) },
		func(p *Params) { p.RepeatPenalty = 0 },
		func(p *Params) { p.RepeatPenalty = -1 },
		func(p *Params) { p.FreqPenalty = float32(math.NaN()) },
		func(p *Params) { p.PresencePenalty = float32(math.Inf(1)) },
	} {
		p := DefaultParams()
		mod(&p)
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// MinP above 1 let no candidate through on the unsorted path, and Sample
// indexed an empty list (found by FuzzParams); it now keeps the best one,
// as the sorted path does.
func TestMinPAboveOne(t *testing.T) {
	for _, topK := range []int{0, 2} { // unsorted and sorted paths
		p := Params{Temp: 6, TopK: topK, TopP: 1, MinP: 86, RepeatPenalty: 1}
		s := New(p, 3)
		logits := []float32{1, 3, 3}
		if got := s.Sample(logits); got != 1 {
			t.Errorf("top-k %d: sampled %d, want 1 (the best, lowest id)", topK, got)
		}
		if ids, probs := s.Probs(logits); len(ids) != 1 || ids[0] != 1 || probs[0] != 1 {
			t.Errorf("top-k %d: Probs %v %v", topK, ids, probs)
		}
	}
}
