package bitnet

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/chat"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
)

const evalText = "once upon a time, there was a little girl named lily. she loved to play outside in the park. " +
	"one day, she saw a big dog. the dog was brown and had a long tail. lily wanted to pet the dog, " +
	"so she walked to it slowly. the dog wagged its tail and licked her hand. lily laughed and said, " +
	"\"you are a nice dog!\" they played together all day, and when the sun went down, lily went home happy."

// runtimeState is the state cmd/bitnet-run used to make by hand: the
// reference the session API must match bit for bit.
func runtimeState(t *testing.T, ctx, batch int, headInt8 bool) (*runtime.State, *tokenizer.Tokenizer) {
	t.Helper()
	lm, err := loader.Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lm.Close() })
	tok, err := tokenizer.FromGGUF(lm.File, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pool := runtime.NewPool(2)
	t.Cleanup(pool.Close)
	if headInt8 {
		lm.Output = runtime.QuantizeRowsInt8(lm.Output, pool)
	}
	st, err := runtime.NewState(lm.Model, ctx, batch, pool)
	if err != nil {
		t.Fatal(err)
	}
	return st, tok
}

// cancellable is a context that can be cancelled but is not: Eval then
// goes through its passes one by one.
func cancellable(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// TestEvalMatchesRuntime: Eval gives the logits of runtime.State.Forward,
// every row or the last, whether it runs in one call or pass by pass, and
// after Truncate the same as with a fresh cache.
//
// With NoMmap the weights are read into memory: the same numbers as the
// mapped file the reference uses.
func TestEvalMatchesRuntime(t *testing.T) {
	for _, c := range []struct{ headInt8, noMmap bool }{{false, false}, {true, false}, {false, true}} {
		headInt8 := c.headInt8
		m := open(t, &Options{Threads: 2, Batch: 5, HeadInt8: headInt8, NoMmap: c.noMmap})
		st, _ := runtimeState(t, m.ContextSize(), 5, headInt8)
		ids := m.Tokenize(evalText, true, false)[:23]
		want, err := st.Forward(ids, true)
		if err != nil {
			t.Fatal(err)
		}
		want = slices.Clone(want)
		V := m.VocabSize()
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Eval(context.Background(), ids, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("head-int8 %v, no-mmap %v: Eval(all) differs from runtime.State.Forward", headInt8, c.noMmap)
		}
		if s.Len() != len(ids) || !slices.Equal(s.Cached(), ids) {
			t.Errorf("cache holds %d tokens, want %d", s.Len(), len(ids))
		}
		// Without all the head runs on one row, which the F16 head computes
		// apart from a batch of rows (not bit for bit the same): compare with
		// runtime.State.Forward's last row.
		st.Reset()
		last, err := st.Forward(ids, false)
		if err != nil {
			t.Fatal(err)
		}
		last = slices.Clone(last)
		for _, ctx := range []context.Context{context.Background(), cancellable(t)} {
			s.Reset()
			got, err := s.Eval(ctx, ids, false)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, last) {
				t.Errorf("head-int8 %v: Eval's last row differs from runtime.State.Forward's", headInt8)
			}
		}
		// Drop the last 9 tokens and evaluate them again.
		s.Truncate(len(ids) - 9)
		if s.Len() != len(ids)-9 {
			t.Fatalf("after Truncate: %d tokens", s.Len())
		}
		got, err = s.Eval(cancellable(t), ids[len(ids)-9:], true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want[(len(ids)-9)*V:]) {
			t.Errorf("head-int8 %v: rows after Truncate differ", headInt8)
		}
		s.Truncate(1 << 20) // past the end: nothing changes
		if s.Len() != len(ids) {
			t.Errorf("Truncate past the end left %d tokens", s.Len())
		}
		s.Truncate(-3)
		if s.Len() != 0 {
			t.Errorf("Truncate(-3) left %d tokens", s.Len())
		}
	}
}

func TestEvalErrors(t *testing.T) {
	m := open(t, &Options{Threads: 1, Context: 16})
	s, _ := m.NewSession()
	ctx := context.Background()
	if _, err := s.Eval(ctx, nil, false); err == nil {
		t.Error("no tokens accepted")
	}
	if _, err := s.Eval(ctx, []int32{1, int32(m.VocabSize())}, false); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Errorf("bad token: %v", err)
	}
	if _, err := s.Eval(ctx, make([]int32, 10), false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Eval(ctx, make([]int32, 7), true); !errors.Is(err, ErrContextFull) {
		t.Errorf("past the context: %v", err)
	}
	if s.Len() != 10 {
		t.Errorf("a refused Eval changed the cache to %d tokens", s.Len())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Eval(cctx, []int32{1}, false); !errors.Is(err, context.Canceled) || s.Len() != 10 {
		t.Errorf("cancelled: %v, %d tokens", err, s.Len())
	}
	m.Close()
	if _, err := s.Eval(ctx, []int32{1}, false); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestPerplexityMatchesRuntime: Session.Perplexity gives the numbers of
// llama-perplexity's procedure written out here over the runtime's forward
// pass (each chunk from an empty cache, its first token replaced by BOS
// unless NoBOS, the second half scored with a float64 log-softmax), with and
// without the BOS rule. (cmd/bitnet-run's TestPerplexity checks the result
// against llama-perplexity's own logs.)
func TestPerplexityMatchesRuntime(t *testing.T) {
	m := open(t, &Options{Threads: 2, Context: 32, Batch: 8})
	st, tok := runtimeState(t, 32, 8, false)
	s, _ := m.NewSession()
	tokens := m.Tokenize(evalText, true, false)
	for _, noBOS := range []bool{false, true} {
		for _, chunk := range []int{0, 16} {
			n := chunk
			if n == 0 {
				n = 32
			}
			bos := tok.BOS()
			if noBOS {
				bos = -1
			}
			want := refPerplexity(t, st, tokens, n, bos)
			var progress []float64
			got, err := s.Perplexity(context.Background(), tokens, &PerplexityOptions{Chunk: chunk, NoBOS: noBOS,
				Progress: func(c int, ppl float64) {
					if c != len(progress)+1 {
						t.Errorf("progress for chunk %d after %d", c, len(progress))
					}
					progress = append(progress, ppl)
				}})
			if err != nil {
				t.Fatal(err)
			}
			if got.PPL != want.PPL || got.StdErr != want.StdErr || got.NLL != want.NLL || got.Chunks != want.Chunks ||
				got.Tokens != want.Tokens || !slices.Equal(got.Running, want.Running) || !slices.Equal(progress, want.Running) {
				t.Errorf("no BOS %v, chunk %d: got %+v, want %+v", noBOS, chunk, got, want)
			}
			if got.Chunks != len(tokens)/n || got.PPL <= 1 {
				t.Errorf("chunk %d: %d chunks of %d tokens, PPL %v", n, got.Chunks, len(tokens), got.PPL)
			}
		}
	}
	for _, c := range []struct {
		tokens []int32
		chunk  int
		want   string
	}{
		{tokens, 3, "too small"},
		{tokens, 33, "exceeds the context"},
		{tokens[:31], 16, "need at least 32 tokens"},
		{append(slices.Clone(tokens[:40]), -1), 16, "outside the vocabulary"},
	} {
		if _, err := s.Perplexity(context.Background(), c.tokens, &PerplexityOptions{Chunk: c.chunk}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("chunk %d of %d tokens: %v, want %q", c.chunk, len(c.tokens), err, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := s.Perplexity(ctx, tokens, &PerplexityOptions{Chunk: 16, Progress: func(int, float64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled after the first chunk: %v", err)
	}
}

// TestOnLogits: the rows a completion passes to OnLogits are those of
// runtime.State.Generate's callbacks, and its tokens are the same.
func TestOnLogits(t *testing.T) {
	m := open(t, &Options{Threads: 2, Batch: 4, NoChatTemplate: true})
	st, tok := runtimeState(t, m.ContextSize(), 4, false)
	ids := m.Tokenize("once upon a time, there was", true, true)
	p := sampler.Params{Temp: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatLastN: 64, Seed: 7}
	var want [][]float32
	keep := func(row []float32) { want = append(want, slices.Clone(row)) }
	wantToks, err := st.Generate(ids, sampler.New(p, m.VocabSize()), runtime.GenerateOptions{MaxTokens: 6, IsEOG: tok.IsEOG,
		OnPromptLogits: keep, OnLogits: keep})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := m.NewSession()
	var got [][]float32
	smp := Sampling{Temp: p.Temp, TopK: p.TopK, TopP: p.TopP, MinP: p.MinP, RepeatLastN: p.RepeatLastN, Seed: p.Seed}
	res, err := s.CompleteTokens(context.Background(), ids, &GenerateOptions{MaxTokens: 6, Sampling: &smp,
		OnLogits: func(row []float32) { got = append(got, slices.Clone(row)) }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Tokens, wantToks) {
		t.Errorf("tokens %v, want %v", res.Tokens, wantToks)
	}
	if len(got) != len(ids)+len(res.Tokens)-1 || len(got) != len(want) {
		t.Fatalf("%d rows for %d prompt and %d new tokens; runtime gave %d", len(got), len(ids), len(res.Tokens), len(want))
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d differs", i)
		}
	}
}

// TestNoChatTemplate: without a template, generation stops only at the
// vocabulary's end-of-generation tokens and the chat methods say why they
// cannot run.
func TestNoChatTemplate(t *testing.T) {
	m := open(t, &Options{Threads: 1, NoChatTemplate: true})
	if m.ChatTemplate() != nil {
		t.Error("a template was loaded")
	}
	eot := m.Tokenize("<|eot_id|>", false, true)[0]
	if m.IsEndOfGeneration(eot) != m.Tokenizer().IsEOG(eot) {
		t.Errorf("<|eot_id|>: end of generation %v, the vocabulary says %v", m.IsEndOfGeneration(eot), m.Tokenizer().IsEOG(eot))
	}
	msgs := []chat.Message{{Role: "user", Content: "hi"}}
	s, _ := m.NewSession()
	if _, err := s.Chat(context.Background(), msgs, nil); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("Chat: %v", err)
	}
	if _, err := m.ApplyChatTemplate(msgs, true); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("ApplyChatTemplate: %v", err)
	}
	if _, _, err := m.ChatPrompt(nil, msgs); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("ChatPrompt: %v", err)
	}
	for _, err := range s.ChatStream(context.Background(), msgs, nil) {
		if !errors.Is(err, ErrNoChatTemplate) {
			t.Errorf("ChatStream: %v", err)
		}
	}
	if _, err := Open(testModel, &Options{NoChatTemplate: true, ChatTemplate: "chatml"}); err == nil {
		t.Error("NoChatTemplate with a template accepted")
	}
	// A model whose own template does not parse opens without one.
	p := testutil.RewriteGGUF(t, testModel, func(w *gguf.Writer) {
		w.Set(layout.KeyChatTemplate, gguf.String("{% if %}broken"))
	})
	if _, err := Open(p, nil); err == nil {
		t.Error("a broken chat template accepted")
	}
	bm, err := Open(p, &Options{Threads: 1, NoChatTemplate: true})
	if err != nil {
		t.Fatal(err)
	}
	bm.Close()
}

func TestSessionOptions(t *testing.T) {
	m := open(t, &Options{Threads: 2, Batch: 64})
	if m.Threads() != 2 || m.BatchSize() != 64 || m.Arch() != "bitnet-b1.58" || m.GGUF() == nil || len(m.GGUF().Tensors) == 0 {
		t.Errorf("threads %d, batch %d, arch %q", m.Threads(), m.BatchSize(), m.Arch())
	}
	for _, o := range []SessionOptions{{Context: -1}, {Batch: -1}, {Threads: -1}} {
		if _, err := m.NewSessionWith(&o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	ids := m.Tokenize(evalText, true, false)[:40]
	ref, _ := m.NewSession()
	want, err := ref.Eval(context.Background(), ids, false)
	if err != nil {
		t.Fatal(err)
	}
	want = slices.Clone(want)
	// Another context, batch and thread count: the same logits.
	s, err := m.NewSessionWith(&SessionOptions{Context: 48, Batch: 7, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ContextSize() != 48 || s.KVBytes() >= ref.KVBytes() || s.KVBytes() <= 0 {
		t.Errorf("context %d, KV cache %d bytes (the model's %d: %d)", s.ContextSize(), s.KVBytes(), ref.ContextSize(), ref.KVBytes())
	}
	got, err := s.Eval(cancellable(t), ids, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("a session of its own batch and threads gives other logits")
	}
	if _, err := s.Eval(context.Background(), ids[:9], false); !errors.Is(err, ErrContextFull) {
		t.Errorf("past a session context of 48: %v", err)
	}
}

// refPerplexity is llama-perplexity's procedure over st, for
// TestPerplexityMatchesRuntime.
func refPerplexity(t *testing.T, st *runtime.State, tokens []int32, n int, bos int32) PerplexityResult {
	t.Helper()
	var r PerplexityResult
	var nll, nll2 float64
	for i := range len(tokens) / n {
		chunk := slices.Clone(tokens[i*n : (i+1)*n])
		if bos >= 0 {
			chunk[0] = bos
		}
		st.Reset()
		logits, err := st.Forward(chunk, true)
		if err != nil {
			t.Fatal(err)
		}
		V := len(logits) / n
		for j := n / 2; j < n-1; j++ {
			row := logits[j*V : (j+1)*V]
			m := float32(math.Inf(-1))
			for _, v := range row {
				m = max(m, v)
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v - m))
			}
			v := -(float64(row[tokens[i*n+j+1]]-m) - math.Log(sum))
			nll += v
			nll2 += v * v
			r.Tokens++
		}
		r.Running = append(r.Running, math.Exp(nll/float64(r.Tokens)))
		r.Chunks++
	}
	r.NLL = nll / float64(r.Tokens)
	r.PPL = math.Exp(r.NLL)
	if v := nll2/float64(r.Tokens) - r.NLL*r.NLL; r.Tokens > 1 && v > 0 {
		r.StdErr = math.Sqrt(v/float64(r.Tokens-1)) * r.PPL
	}
	return r
}
