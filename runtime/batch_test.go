package runtime_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/generic"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
)

// seqCase is one sequence of the batched tests: a prompt and a number of
// sampled tokens.
type seqCase struct {
	prompt []int32
	gen    int
	seed   uint64
}

var seqCases = []seqCase{
	{prompt, 9, 1},
	{[]int32{1, 4080, 263, 346, 709}, 12, 2},
	{[]int32{1, 892}, 6, 3},
	{[]int32{1, 4080, 263, 346, 709, 263, 264, 892, 11}, 10, 4},
	{[]int32{1}, 5, 5},
}

func newSampler(m *runtime.Model, seed uint64) *sampler.Sampler {
	p := sampler.DefaultParams()
	p.Seed = seed
	p.Temp = 1.5 // flat enough that small logit changes would change tokens
	p.TopK, p.MinP = 0, 0
	return sampler.New(p, m.Vocab)
}

// trace is what a sequence produced: the logits that chose each token, and
// the tokens.
type trace struct {
	logits [][]float32
	tokens []int32
}

// alone runs one sequence on its own State: the prompt in one pass, then a
// token at a time.
func alone(t *testing.T, m *runtime.Model, p *runtime.Pool, c seqCase) trace {
	t.Helper()
	s, err := runtime.NewState(m, 64, 64, p)
	if err != nil {
		t.Fatal(err)
	}
	smp := newSampler(m, c.seed)
	var tr trace
	l, err := s.Forward(c.prompt, false)
	if err != nil {
		t.Fatal(err)
	}
	for range c.gen {
		tr.logits = append(tr.logits, append([]float32(nil), l...))
		tok := smp.Sample(l)
		smp.Accept(tok)
		tr.tokens = append(tr.tokens, tok)
		if len(tr.tokens) == c.gen {
			break
		}
		if l, err = s.Forward([]int32{tok}, false); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// together runs the sequences through one Batch of maxRows rows the way a
// continuous-batching server does: sequence i arrives at step start[i];
// every step evaluates the next token of each decoding sequence and spends
// the rows left on prompt chunks (at most chunk tokens, never leaving a
// single token behind).
func together(t *testing.T, m *runtime.Model, p *runtime.Pool, cases []seqCase, start []int, maxRows, chunk int) []trace {
	t.Helper()
	b, err := runtime.NewBatch(m, maxRows, p)
	if err != nil {
		t.Fatal(err)
	}
	type st struct {
		seq    *runtime.Seq
		smp    *sampler.Sampler
		fed    int // prompt tokens evaluated
		next   int32
		done   bool
		active bool
	}
	sts := make([]st, len(cases))
	out := make([]trace, len(cases))
	for i := range sts {
		if sts[i].seq, err = runtime.NewSeq(m, 64); err != nil {
			t.Fatal(err)
		}
		sts[i].smp = newSampler(m, cases[i].seed)
	}
	for step := 0; ; step++ {
		var chunks []runtime.Chunk
		var who []int
		rowsLeft := maxRows
		alldone := true
		for i := range sts {
			s := &sts[i]
			if !s.done {
				alldone = false
			}
			if s.done || step < start[i] || s.fed < len(cases[i].prompt) {
				continue
			}
			chunks = append(chunks, runtime.Chunk{Seq: s.seq, Tokens: []int32{s.next}, Logits: true})
			who = append(who, i)
			rowsLeft--
		}
		if alldone {
			return out
		}
		for i := range sts {
			s := &sts[i]
			pr := cases[i].prompt
			if s.done || step < start[i] || s.fed == len(pr) || rowsLeft < min(2, len(pr)-s.fed) {
				continue
			}
			n := min(chunk, rowsLeft, len(pr)-s.fed)
			if len(pr)-s.fed-n == 1 {
				n-- // leave two for the next chunk
			}
			chunks = append(chunks, runtime.Chunk{Seq: s.seq, Tokens: pr[s.fed : s.fed+n], Logits: s.fed+n == len(pr)})
			who = append(who, i)
			rowsLeft -= n
		}
		if len(chunks) == 0 {
			continue
		}
		logits, err := b.Forward(chunks)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for k, i := range who {
			s := &sts[i]
			if s.fed < len(cases[i].prompt) {
				s.fed += len(chunks[k].Tokens)
			}
			if logits[k] == nil {
				continue
			}
			out[i].logits = append(out[i].logits, append([]float32(nil), logits[k]...))
			tok := s.smp.Sample(logits[k])
			s.smp.Accept(tok)
			out[i].tokens = append(out[i].tokens, tok)
			s.next = tok
			if len(out[i].tokens) == cases[i].gen {
				s.done = true
			}
		}
	}
}

// f16Layers returns a copy of m whose block weights are F16 (dequantized),
// so that the per-row rounding rule of F16 products runs inside the layers
// as well as in the head.
func f16Layers(t *testing.T, m *runtime.Model) *runtime.Model {
	conv := func(w *runtime.Matrix) *runtime.Matrix {
		data := make([]byte, w.Rows*w.Cols*2)
		row := make([]float32, w.Cols)
		for r := range w.Rows {
			w.RowF32(row, r)
			for i, v := range row {
				binary.LittleEndian.PutUint16(data[2*(r*w.Cols+i):], generic.F32ToF16(v))
			}
		}
		f, err := runtime.NewMatrix(runtime.F16, w.Rows, w.Cols, data)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	c := *m
	c.Layers = append([]runtime.Layer(nil), m.Layers...)
	for i := range c.Layers {
		L := &c.Layers[i]
		L.Wq, L.Wk, L.Wv, L.Wo = conv(L.Wq), conv(L.Wk), conv(L.Wv), conv(L.Wo)
		L.Wgate, L.Wup, L.Wdown = conv(L.Wgate), conv(L.Wup), conv(L.Wdown)
	}
	return &c
}

// TestBatchMatchesAlone checks Batch's guarantee: sequences evaluated
// together — decode steps of some and prompt chunks of others in the same
// passes — give exactly the logits and tokens they give alone, on every
// kernel implementation, for both engines' rounding rules and with F16
// weights inside the blocks.
func TestBatchMatchesAlone(t *testing.T) {
	lm := bundled(t)
	p := runtime.NewPool(2)
	defer p.Close()
	defer asm.SetImpl("")
	up := *lm.Model
	up.Engine = runtime.Upstream
	models := []struct {
		name string
		m    *runtime.Model
	}{{"fork", lm.Model}, {"upstream", &up}, {"f16-layers", f16Layers(t, lm.Model)}}
	t.Logf("head format %s", lm.Output.Format)
	for _, md := range models {
		for _, impl := range asm.Impls() {
			if err := asm.SetImpl(impl); err != nil {
				t.Fatal(err)
			}
			want := make([]trace, len(seqCases))
			for i, c := range seqCases {
				want[i] = alone(t, md.m, p, c)
			}
			for _, sched := range []struct {
				start          []int
				maxRows, chunk int
			}{
				{[]int{0, 0, 0, 0, 0}, 64, 64}, // all prompts in the first pass
				{[]int{0, 1, 3, 3, 6}, 8, 4},   // staggered arrivals, chunked prompts
				{[]int{0, 2, 2, 5, 5}, 6, 3},
			} {
				name := fmt.Sprintf("%s/%s/start%v/rows%d/chunk%d", md.name, impl, sched.start, sched.maxRows, sched.chunk)
				got := together(t, md.m, p, seqCases, sched.start, sched.maxRows, sched.chunk)
				for i := range seqCases {
					compareTrace(t, name, i, want[i], got[i])
				}
			}
		}
	}
}

func compareTrace(t *testing.T, name string, i int, want, got trace) {
	t.Helper()
	if len(got.tokens) != len(want.tokens) {
		t.Fatalf("%s: sequence %d: %d tokens together, %d alone", name, i, len(got.tokens), len(want.tokens))
	}
	for k := range want.tokens {
		for j := range want.logits[k] {
			if math.Float32bits(got.logits[k][j]) != math.Float32bits(want.logits[k][j]) {
				t.Fatalf("%s: sequence %d, token %d: logit %d together %v, alone %v", name, i, k, j, got.logits[k][j], want.logits[k][j])
			}
		}
		if got.tokens[k] != want.tokens[k] {
			t.Fatalf("%s: sequence %d, token %d: %d together, %d alone", name, i, k, got.tokens[k], want.tokens[k])
		}
	}
}

// TestBatchRoundingRuleMatters makes sure the test above can fail: if the
// decode rows of a multi-sequence pass followed the batched rule (as a
// naive stacking of the rows into one batch would), the logits would differ
// from the sequences' own decode steps.
func TestBatchRoundingRuleMatters(t *testing.T) {
	lm := bundled(t)
	p := runtime.NewPool(1)
	defer p.Close()
	// Two steps of one sequence: alone (one-token rule) versus the same
	// token as part of a two-token chunk of the batched rule.
	s, _ := runtime.NewState(lm.Model, 64, 64, p)
	s.Forward(prompt, false)
	l1, _ := s.Forward([]int32{326}, false)
	a := append([]float32(nil), l1...)
	s2, _ := runtime.NewState(lm.Model, 64, 64, p)
	s2.Forward(prompt[:len(prompt)-1], false)
	l2, _ := s2.Forward(append([]int32{prompt[len(prompt)-1]}, 326), false)
	same := true
	for i := range a {
		same = same && a[i] == l2[i]
	}
	if same {
		t.Fatal("the one-token and batched rules agree on this model: TestBatchMatchesAlone could not tell them apart")
	}
}

func TestBatchErrors(t *testing.T) {
	lm := bundled(t)
	p := runtime.NewPool(1)
	defer p.Close()
	b, err := runtime.NewBatch(lm.Model, 8, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runtime.NewBatch(lm.Model, 0, p); err == nil {
		t.Error("NewBatch(0 rows): no error")
	}
	if _, err := runtime.NewSeq(lm.Model, 0); err == nil {
		t.Error("NewSeq(ctx 0): no error")
	}
	a, _ := runtime.NewSeq(lm.Model, 16)
	small, _ := runtime.NewSeq(lm.Model, 4)
	other := *lm.Model
	foreign, _ := runtime.NewSeq(&other, 16)
	for _, c := range []struct {
		name   string
		chunks []runtime.Chunk
		full   bool
	}{
		{"no chunks", nil, false},
		{"no sequence", []runtime.Chunk{{Tokens: []int32{1}}}, false},
		{"no tokens", []runtime.Chunk{{Seq: a}}, false},
		{"twice", []runtime.Chunk{{Seq: a, Tokens: []int32{1}}, {Seq: a, Tokens: []int32{2}}}, false},
		{"bad token", []runtime.Chunk{{Seq: a, Tokens: []int32{1, int32(lm.Vocab)}}}, false},
		{"negative token", []runtime.Chunk{{Seq: a, Tokens: []int32{-1}}}, false},
		{"other model", []runtime.Chunk{{Seq: foreign, Tokens: []int32{1}}}, false},
		{"too many rows", []runtime.Chunk{{Seq: a, Tokens: make([]int32, 9)}}, false},
		{"context", []runtime.Chunk{{Seq: a, Tokens: []int32{1}}, {Seq: small, Tokens: make([]int32, 5)}}, true},
	} {
		_, err := b.Forward(c.chunks)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if c.full != errors.Is(err, runtime.ErrContextFull) {
			t.Errorf("%s: %v (ErrContextFull expected: %v)", c.name, err, c.full)
		}
		if a.Pos() != 0 || small.Pos() != 0 {
			t.Fatalf("%s: a failed pass moved the sequences to %d, %d", c.name, a.Pos(), small.Pos())
		}
	}
	// Positions advance by the chunk lengths; logits only where asked.
	out, err := b.Forward([]runtime.Chunk{{Seq: a, Tokens: []int32{1, 2, 3}}, {Seq: small, Tokens: []int32{4}, Logits: true}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Pos() != 3 || small.Pos() != 1 || out[0] != nil || len(out[1]) != lm.Vocab {
		t.Fatalf("positions %d, %d; logits %d, %d", a.Pos(), small.Pos(), len(out[0]), len(out[1]))
	}
}

// TestBatchDecodeAllocs: a multi-sequence decode step allocates nothing
// once the buffers have grown.
func TestBatchDecodeAllocs(t *testing.T) {
	lm := bundled(t)
	p := runtime.NewPool(2)
	defer p.Close()
	b, _ := runtime.NewBatch(lm.Model, 16, p)
	chunks := make([]runtime.Chunk, 4)
	for i := range chunks {
		s, _ := runtime.NewSeq(lm.Model, 256)
		chunks[i] = runtime.Chunk{Seq: s, Tokens: []int32{int32(300 + i)}, Logits: true}
	}
	if _, err := b.Forward(chunks); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := b.Forward(chunks); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a 4-sequence decode step allocates %v times", allocs)
	}
}

// BenchmarkBatchDecode measures aggregate decode throughput (tokens/s of
// all sequences together) of 1, 2, 4 and 8 sequences decoded in one pass
// per step, each 64 positions into its cache. The model is
// $BITNET_BENCH_MODEL (e.g. the 2B4T-shaped file of bitnet-synth) or the
// bundled one; threads: $BITNET_BENCH_THREADS or 2. Compare the seqs=N
// rates with seqs=1 measured in the same run.
func BenchmarkBatchDecode(b *testing.B) {
	var m *runtime.Model
	if path := os.Getenv("BITNET_BENCH_MODEL"); path != "" {
		lm, err := loader.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		defer lm.Close()
		m = lm.Model
	} else {
		m = bundled(b).Model
	}
	threads := 2
	if v := os.Getenv("BITNET_BENCH_THREADS"); v != "" {
		threads, _ = strconv.Atoi(v)
	}
	p := runtime.NewPool(threads)
	defer p.Close()
	const ctx, start = 256, 64
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("seqs=%d", n), func(b *testing.B) {
			bt, _ := runtime.NewBatch(m, 512, p)
			chunks := make([]runtime.Chunk, n)
			for i := range chunks {
				s, _ := runtime.NewSeq(m, ctx)
				fill := make([]int32, start)
				for k := range fill {
					fill[k] = int32((k*7 + i*13) % m.Vocab)
				}
				if _, err := bt.Forward([]runtime.Chunk{{Seq: s, Tokens: fill}}); err != nil {
					b.Fatal(err)
				}
				chunks[i] = runtime.Chunk{Seq: s, Tokens: []int32{int32(300 + i)}, Logits: true}
			}
			b.ResetTimer()
			for b.Loop() {
				if chunks[0].Seq.Pos() == ctx {
					for _, c := range chunks {
						c.Seq.Truncate(start)
					}
				}
				if _, err := bt.Forward(chunks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
