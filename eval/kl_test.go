package eval

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestNearestInt(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want int32
	}{{0, 0}, {0.5, 0}, {1.5, 2}, {2.5, 2}, {2.4999, 2}, {65534.5, 65534}, {65535, 65535}, {-0.6, -1}} {
		if got := nearestInt(c.f); got != c.want {
			t.Errorf("nearestInt(%v) = %d, want %d", c.f, got, c.want)
		}
	}
}

// seqLM returns fixed logits rows by position.
type seqLM struct {
	rows [][]float32
	pos  int
}

func (s *seqLM) Forward(toks []int32, all bool) ([]float32, error) {
	var out []float32
	for i := range toks {
		if all || i == len(toks)-1 {
			out = append(out, s.rows[s.pos+i]...)
		}
	}
	s.pos += len(toks)
	return out, nil
}
func (s *seqLM) Truncate(pos int) { s.pos = min(s.pos, pos) }
func (s *seqLM) Reset()           { s.pos = 0 }

func logSoftmax64(row []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	s := 0.0
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(row))
	for i, v := range row {
		out[i] = float64(v) - mx - math.Log(s)
	}
	return out
}

// TestKLAgainstDirect saves random base logits in the file format, compares
// other logits with them and checks KL, same-top and perplexities against a
// direct float64 computation.
func TestKLAgainstDirect(t *testing.T) {
	const V, nCtx, chunks = 37, 32, 8
	rng := rand.New(rand.NewPCG(1, 2))
	n := nCtx * chunks
	tokens := make([]int32, n)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(V))
	}
	base := &seqLM{}
	test := &seqLM{}
	for i := 0; i < nCtx; i++ {
		var a, b []float32
		for j := 0; j < V; j++ {
			x := float32(rng.NormFloat64() * 3)
			a = append(a, x)
			b = append(b, x+float32(rng.NormFloat64()*0.3))
		}
		base.rows = append(base.rows, a)
		test.rows = append(test.rows, b)
	}
	var file bytes.Buffer
	ppl, err := SaveBase(base, V, tokens, BaseOptions{Ctx: nCtx, BOS: -1}, &file)
	if err != nil {
		t.Fatal(err)
	}
	rows := nCtx - 1 - nCtx/2
	if want := 20 + 4*n + chunks*rows*2*(2*((V+1)/2)+4); file.Len() != want {
		t.Fatalf("file of %d bytes, want %d", file.Len(), want)
	}
	le := binary.LittleEndian
	if string(file.Bytes()[:8]) != "_logits_" || le.Uint32(file.Bytes()[8:]) != nCtx || le.Uint32(file.Bytes()[12:]) != V || le.Uint32(file.Bytes()[16:]) != chunks {
		t.Fatalf("header % x", file.Bytes()[:20])
	}
	r := bytes.NewReader(file.Bytes())
	h, err := ReadBaseHeader(r, int64(file.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	k, err := Compare(test, h, r, CompareOptions{BOS: -1, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	var kl, nllBase, nllTest float64
	same := 0
	for c := 0; c < chunks; c++ {
		for j := nCtx / 2; j < nCtx-1; j++ {
			p := logSoftmax64(base.rows[j])
			q := logSoftmax64(test.rows[j])
			for i := range p {
				kl += math.Exp(p[i]) * (p[i] - q[i])
			}
			tok := tokens[c*nCtx+j+1]
			nllBase -= p[tok]
			nllTest -= q[tok]
			ap, aq := 0, 0
			for i := range p {
				if p[i] > p[ap] {
					ap = i
				}
				if q[i] > q[aq] {
					aq = i
				}
			}
			if ap == aq {
				same++
			}
		}
	}
	cnt := float64(chunks * rows)
	s := k.Stats()
	if k.Count != chunks*rows || k.SameTop != same {
		t.Errorf("count %d same top %d, want %d %d", k.Count, k.SameTop, chunks*rows, same)
	}
	if d := math.Abs(s.KLD - kl/cnt); d > 1e-3*kl/cnt+1e-6 {
		t.Errorf("mean KL %.7f, direct %.7f", s.KLD, kl/cnt)
	}
	if d := math.Abs(s.PPLBase/math.Exp(nllBase/cnt) - 1); d > 1e-4 {
		t.Errorf("PPL(base) %v, direct %v", s.PPLBase, math.Exp(nllBase/cnt))
	}
	if d := math.Abs(ppl.PPL/math.Exp(nllBase/cnt) - 1); d > 1e-5 {
		t.Errorf("saved PPL %v, direct %v", ppl.PPL, math.Exp(nllBase/cnt))
	}
	if d := math.Abs(s.PPL/math.Exp(nllTest/cnt) - 1); d > 1e-5 {
		t.Errorf("PPL(Q) %v, direct %v", s.PPL, math.Exp(nllTest/cnt))
	}
	for _, want := range []string{"chunk             PPL", "Mean    KLD:", "Maximum KLD:", "99.9%   KLD:", "90.0%   KLD:", "Median  KLD:", " 1.0%   KLD:", "Same top p:", "Mean PPL(Q)/PPL(base)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	q := k.Quantiles()
	for i := 1; i < len(q); i++ {
		if q[i] > q[i-1] {
			t.Errorf("quantiles not descending: %v", q)
		}
	}

	// The same logits against themselves: only the 16-bit storage differs.
	r = bytes.NewReader(file.Bytes())
	h, _ = ReadBaseHeader(r, int64(file.Len()))
	k, err = Compare(&seqLM{rows: base.rows}, h, r, CompareOptions{BOS: -1})
	if err != nil {
		t.Fatal(err)
	}
	if s := k.Stats(); math.Abs(s.KLD) > 5e-6 || s.SameTop != 1 || math.Abs(s.LnRatio) > 5e-5 {
		t.Errorf("self-comparison: KL %g, same top %v, ln ratio %g", s.KLD, s.SameTop, s.LnRatio)
	}

	// Malformed files.
	good := file.Bytes()
	for _, c := range []struct {
		name string
		b    []byte
		size int64
	}{
		{"short", good[:10], 10},
		{"magic", append([]byte("_logitz_"), good[8:]...), int64(len(good))},
		{"size", good[:len(good)-2], int64(len(good) - 2)},
		{"ctx", append(append([]byte(nil), good[:8]...), append([]byte{0xff, 0xff, 0xff, 0xff}, good[12:]...)...), int64(len(good))},
	} {
		if _, err := ReadBaseHeader(bytes.NewReader(c.b), c.size); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, err := SaveBase(base, V, tokens[:2*nCtx-1], BaseOptions{Ctx: nCtx, BOS: -1}, &bytes.Buffer{}); err == nil {
		t.Error("too short a text: no error")
	}
}
