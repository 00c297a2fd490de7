package runtime_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
)

func bundled(t testing.TB) *loader.Model {
	t.Helper()
	m, err := loader.Load(filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var prompt = []int32{4080, 263, 346, 709, 263, 264, 892, 11, 1070, 574, 264, 2697}

// TestThreadsBitIdentical checks that 1 and 2 threads give the same logits,
// bit for bit, for a batched prompt and for decode steps.
func TestThreadsBitIdentical(t *testing.T) {
	m := bundled(t)
	run := func(threads int) []float32 {
		p := runtime.NewPool(threads)
		defer p.Close()
		s, err := runtime.NewState(m.Model, 64, 64, p)
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Forward(prompt, true)
		if err != nil {
			t.Fatal(err)
		}
		out := append([]float32(nil), l...)
		for _, tok := range []int32{326, 1570, 13} {
			l, err := s.Forward([]int32{tok}, false)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l...)
		}
		return out
	}
	a, b := run(1), run(2)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("logit %d: 1 thread %v, 2 threads %v", i, a[i], b[i])
		}
	}
}

// TestBatchSplit checks that a prompt evaluated in one batch gives the same
// last-row logits as evaluated in several batches. (Batches of one token
// round the head's activations and the attention probabilities to F16, as
// the reference engine does, so they are compared separately: close, not
// equal.)
func TestBatchSplit(t *testing.T) {
	m := bundled(t)
	p := runtime.NewPool(2)
	defer p.Close()
	last := func(batch int) []float32 {
		s, _ := runtime.NewState(m.Model, 64, batch, p)
		l, err := s.Forward(prompt, false)
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), l...)
	}
	one, split, steps := last(64), last(4), last(1)
	for i := range one {
		if one[i] != split[i] {
			t.Fatalf("logit %d: one batch %v, batches of 4 %v", i, one[i], split[i])
		}
		if d := one[i] - steps[i]; d > 0.05 || d < -0.05 {
			t.Fatalf("logit %d: one batch %v, token by token %v", i, one[i], steps[i])
		}
	}
}

func TestContextFull(t *testing.T) {
	m := bundled(t)
	p := runtime.NewPool(1)
	defer p.Close()
	s, _ := runtime.NewState(m.Model, 8, 8, p)
	if _, err := s.Forward(prompt, false); !errors.Is(err, runtime.ErrContextFull) {
		t.Fatalf("12 tokens into a context of 8: got %v, want ErrContextFull", err)
	}
	if _, err := s.Forward(prompt[:8], false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Forward(prompt[:1], false); !errors.Is(err, runtime.ErrContextFull) {
		t.Fatalf("9th token: got %v, want ErrContextFull", err)
	}
	if _, err := s.Forward([]int32{4096}, false); err == nil {
		t.Fatal("token outside the vocabulary: no error")
	}
}

// BenchmarkDecode measures one decode step of the bundled model; it must not
// allocate.
func BenchmarkDecode(b *testing.B) {
	m := bundled(b)
	p := runtime.NewPool(1)
	defer p.Close()
	s, _ := runtime.NewState(m.Model, 256, 64, p)
	if _, err := s.Forward(prompt, false); err != nil {
		b.Fatal(err)
	}
	tok := []int32{326}
	b.ReportAllocs()
	for b.Loop() {
		if s.Pos() == s.Ctx() {
			s.Truncate(len(prompt))
		}
		if _, err := s.Forward(tok, false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	m := bundled(t)
	p := runtime.NewPool(2)
	defer p.Close()
	s, _ := runtime.NewState(m.Model, 256, 64, p)
	if _, err := s.Forward(prompt, false); err != nil {
		t.Fatal(err)
	}
	tok := []int32{326}
	s.Forward(tok, false) // grow the scratch buffers
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := s.Forward(tok, false); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a decode step allocates %v times", allocs)
	}
}

// TestInt8Head checks that the optional int8 output head stays close to the
// F16 head: same top-1 token and small logit differences.
func TestInt8Head(t *testing.T) {
	m := bundled(t)
	p := runtime.NewPool(2)
	defer p.Close()
	s, _ := runtime.NewState(m.Model, 64, 64, p)
	want, err := s.Forward(prompt, true)
	if err != nil {
		t.Fatal(err)
	}
	want = append([]float32(nil), want...)
	q := *m.Model
	q.Output = runtime.QuantizeRowsInt8(m.Output, p)
	s2, _ := runtime.NewState(&q, 64, 64, p)
	got, err := s2.Forward(prompt, true)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Vocab
	var sum, maxd float64
	for r := 0; r < len(prompt); r++ {
		a, b := want[r*V:(r+1)*V], got[r*V:(r+1)*V]
		ia, ib := 0, 0
		for i := range a {
			d := float64(a[i] - b[i])
			if d < 0 {
				d = -d
			}
			sum += d
			maxd = max(maxd, d)
			if a[i] > a[ia] {
				ia = i
			}
			if b[i] > b[ib] {
				ib = i
			}
		}
		if ia != ib && a[ia]-a[ib] > 0.1 {
			t.Errorf("row %d: top-1 %d (F16 head) vs %d (int8 head)", r, ia, ib)
		}
	}
	mean := sum / float64(len(prompt)*V)
	t.Logf("int8 head vs F16 head: max |diff| %.3g, mean %.3g", maxd, mean)
	if mean > 0.05 {
		t.Errorf("mean |diff| %.3g", mean)
	}
}
