package bitnet

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

const testModel = "testdata/tinystories-bitnet-i2_s.gguf"

func open(t *testing.T, o *Options) *Model {
	t.Helper()
	if o == nil {
		o = &Options{Threads: 2}
	}
	m, err := Open(testModel, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// reference generates the way cmd/bitnet-run wires loader, runtime and
// sampler.
func reference(t *testing.T, prompt string, p sampler.Params, n int) []int32 {
	t.Helper()
	lm, err := loader.Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	tok, err := tokenizer.FromGGUF(lm.File, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pool := runtime.NewPool(2)
	defer pool.Close()
	st, err := runtime.NewState(lm.Model, lm.TrainCtx, 512, pool)
	if err != nil {
		t.Fatal(err)
	}
	out, err := st.Generate(tok.Encode(prompt, true, true), sampler.New(p, lm.Vocab), runtime.GenerateOptions{MaxTokens: n, IsEOG: tok.IsEOG})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSameTokensAsBitnetRun: greedy and seeded sampling give the tokens of
// bitnet-run's wiring.
func TestSameTokensAsBitnetRun(t *testing.T) {
	m := open(t, nil)
	for _, smp := range []Sampling{Greedy(), {Temp: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 42}} {
		for _, prompt := range []string{"once upon a time, there was a little girl named", "the dog ran to the park and"} {
			want := reference(t, prompt, sampler.Params{Temp: smp.Temp, TopK: smp.TopK, TopP: smp.TopP, MinP: smp.MinP,
				RepeatPenalty: smp.RepeatPenalty, RepeatLastN: smp.RepeatLastN, Seed: smp.Seed}, 40)
			s, err := m.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Complete(context.Background(), prompt, &GenerateOptions{MaxTokens: 40, Sampling: &smp})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Tokens, want) {
				t.Errorf("temp %v %q:\n got %v\nwant %v", smp.Temp, prompt, res.Tokens, want)
			}
			if res.Text != m.tok.Detokenize(want, false, false) && !strings.HasPrefix(m.tok.Detokenize(want, false, false), res.Text) {
				t.Errorf("text %q does not spell the tokens", res.Text)
			}
		}
	}
}

// TestPrefixReuse: a prompt that extends the cached one evaluates only its
// new tokens and gives the tokens of a fresh session.
func TestPrefixReuse(t *testing.T) {
	m := open(t, nil)
	g := Greedy()
	o := &GenerateOptions{MaxTokens: 8, Sampling: &g}
	s, _ := m.NewSession()
	first, err := s.Complete(context.Background(), "once upon a time", o)
	if err != nil {
		t.Fatal(err)
	}
	prompt := "once upon a time" + first.Text + " she"
	second, err := s.Complete(context.Background(), prompt, o)
	if err != nil {
		t.Fatal(err)
	}
	if second.CachedTokens < first.PromptTokens {
		t.Errorf("reused %d tokens, want at least the %d of the first prompt", second.CachedTokens, first.PromptTokens)
	}
	fresh, _ := m.NewSession()
	want, err := fresh.Complete(context.Background(), prompt, o)
	if err != nil {
		t.Fatal(err)
	}
	if want.CachedTokens != 0 || !slices.Equal(second.Tokens, want.Tokens) {
		t.Errorf("reused session %v, fresh %v (cached %d)", second.Tokens, want.Tokens, want.CachedTokens)
	}
	// The same prompt again evaluates just its last token.
	third, err := s.Complete(context.Background(), prompt, o)
	if err != nil {
		t.Fatal(err)
	}
	if third.CachedTokens != third.PromptTokens-1 || !slices.Equal(third.Tokens, want.Tokens) {
		t.Errorf("repeat: cached %d of %d, tokens %v", third.CachedTokens, third.PromptTokens, third.Tokens)
	}
}

// TestChatTurnsReuseCache: the second turn of a conversation starts from
// the first turn's tokens (prompt and answer) and its prompt tokens equal
// the tokenization of the whole rendered conversation.
func TestChatTurnsReuseCache(t *testing.T) {
	m := open(t, nil)
	g := Greedy()
	s, _ := m.NewSession()
	msgs := []chat.Message{{Role: "system", Content: "you tell stories."}, {Role: "user", Content: "a story about a frog"}}
	r1, err := s.Chat(context.Background(), msgs, &GenerateOptions{MaxTokens: 6, Sampling: &g})
	if err != nil {
		t.Fatal(err)
	}
	evaluated := r1.PromptTokens + len(r1.Tokens) - 1 // the last sampled token is not evaluated yet
	if got := len(s.Cached()); got != evaluated {
		t.Fatalf("cache holds %d tokens, want %d", got, evaluated)
	}
	msgs = append(msgs, chat.Message{Role: "assistant", Content: r1.Text}, chat.Message{Role: "user", Content: "and then?"})
	text, _ := m.ApplyChatTemplate(msgs, true)
	r2, err := s.Chat(context.Background(), msgs, &GenerateOptions{MaxTokens: 6, Sampling: &g})
	if err != nil {
		t.Fatal(err)
	}
	if r2.CachedTokens != evaluated {
		t.Errorf("second turn reused %d tokens, want %d", r2.CachedTokens, evaluated)
	}
	if full := m.tokenizeChat(text); r2.PromptTokens != len(full) && strings.TrimSpace(r1.Text) == r1.Text {
		t.Errorf("second turn prompt %d tokens, the whole conversation tokenizes to %d", r2.PromptTokens, len(full))
	}
	if !strings.HasPrefix(text, "System: you tell stories.<|eot_id|>User: a story about a frog<|eot_id|>Assistant: ") {
		t.Errorf("rendered %q", text)
	}
}

func TestStopsAndCancellation(t *testing.T) {
	m := open(t, nil)
	g := Greedy()
	s, _ := m.NewSession()
	base, err := s.Complete(context.Background(), "once upon a time", &GenerateOptions{MaxTokens: 30, Sampling: &g})
	if err != nil {
		t.Fatal(err)
	}
	// A stop string: the text ends before it and the tokens' texts add up.
	stop := "lily"
	i := strings.Index(base.Text, stop)
	if i < 0 {
		t.Fatalf("%q has no %q", base.Text, stop)
	}
	var streamed strings.Builder
	res, err := s.Complete(context.Background(), "once upon a time", &GenerateOptions{MaxTokens: 30, Sampling: &g, Stop: []string{"zzz", stop},
		OnToken: func(tk Token) bool { streamed.WriteString(tk.Text); return true }})
	if err != nil || res.Stop != StopString || res.Text != base.Text[:i] || streamed.String() != res.Text {
		t.Errorf("stop string: %v %v %q (streamed %q), want %q", err, res.Stop, res.Text, streamed.String(), base.Text[:i])
	}
	// Cancelling the context stops generation.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err = s.Complete(ctx, "once upon a time", &GenerateOptions{Sampling: &g, OnToken: func(Token) bool {
		if n++; n == 3 {
			cancel()
		}
		return true
	}})
	if !errors.Is(err, context.Canceled) || res.Stop != StopCancelled || len(res.Tokens) != 3 {
		t.Errorf("cancel: %v %v %d tokens", err, res.Stop, len(res.Tokens))
	}
	// A cancelled context stops before the prompt is evaluated.
	if _, err := s.Complete(ctx, "the dog", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before start: %v", err)
	}
	// Breaking out of the iterator stops generation.
	k := 0
	for _, err := range s.Stream(context.Background(), "once upon a time", &GenerateOptions{Sampling: &g}) {
		if err != nil {
			t.Fatal(err)
		}
		if k++; k == 2 {
			break
		}
	}
	if r := s.LastResult(); r.Stop != StopCallback || len(r.Tokens) != 2 || !slices.Equal(r.Tokens, base.Tokens[:2]) {
		t.Errorf("break: %v %v", r.Stop, r.Tokens)
	}
}

func TestContextFull(t *testing.T) {
	m := open(t, &Options{Threads: 2, Context: 16})
	s, _ := m.NewSession()
	g := Greedy()
	prompt := m.Tokenize("once upon a time there", true, true)
	res, err := s.CompleteTokens(context.Background(), prompt, &GenerateOptions{Sampling: &g, IgnoreEOS: true})
	if !errors.Is(err, ErrContextFull) || res.Stop != StopContext || len(res.Tokens) != 16-len(prompt)+1 {
		t.Errorf("got %v, %v, %d tokens (prompt %d)", err, res.Stop, len(res.Tokens), len(prompt))
	}
	long := strings.Repeat("once upon a time ", 10)
	if _, err := s.Complete(context.Background(), long, nil); !errors.Is(err, ErrContextFull) || !strings.Contains(err.Error(), "longer than the context") {
		t.Errorf("long prompt: %v", err)
	}
	if _, err := s.CompleteTokens(context.Background(), []int32{1, 99999}, nil); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Errorf("bad token: %v", err)
	}
	if _, err := s.CompleteTokens(context.Background(), nil, nil); err == nil {
		t.Error("empty prompt accepted")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing.gguf"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	for _, o := range []Options{{Threads: -1}, {Context: -2}, {Batch: -3}, {ChatTemplate: "no-such-template"}} {
		if _, err := Open(testModel, &o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	m, err := Open(testModel, &Options{Threads: 1, ChatTemplate: "chatml"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "tinystories-s" || m.TrainContext() != 256 || m.ContextSize() != 256 || m.VocabSize() != 4096 {
		t.Errorf("name %q, train context %d, context %d, vocab %d", m.Name(), m.TrainContext(), m.ContextSize(), m.VocabSize())
	}
	if m.ChatTemplate().Name() != "chatml" {
		t.Errorf("template %s", m.ChatTemplate().Name())
	}
	s, _ := m.NewSession()
	m.Close()
	if _, err := m.NewSession(); !errors.Is(err, ErrClosed) {
		t.Errorf("NewSession after Close: %v", err)
	}
	if _, err := s.Complete(context.Background(), "hi", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Complete after Close: %v", err)
	}
}

// TestConcurrentSessions: sessions on one model run from several goroutines
// and give what they give alone.
func TestConcurrentSessions(t *testing.T) {
	m := open(t, nil)
	g := Greedy()
	prompts := []string{"once upon a time", "the dog ran to the park and", "lily and ben"}
	want := make([][]int32, len(prompts))
	for i, p := range prompts {
		s, _ := m.NewSession()
		r, err := s.Complete(context.Background(), p, &GenerateOptions{MaxTokens: 12, Sampling: &g})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r.Tokens
	}
	var wg sync.WaitGroup
	got := make([][]int32, len(prompts))
	for i, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := m.NewSession()
			r, _ := s.Complete(context.Background(), p, &GenerateOptions{MaxTokens: 12, Sampling: &g})
			got[i] = r.Tokens
		}()
	}
	wg.Wait()
	for i := range prompts {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%q: concurrent %v, alone %v", prompts[i], got[i], want[i])
		}
	}
}

func TestHeldBack(t *testing.T) {
	for _, c := range []struct {
		text  string
		stops []string
		want  int
	}{{"abc", []string{"cd"}, 1}, {"abc", []string{"xbcd", "bcz"}, 2}, {"abc", nil, 0}, {"abc", []string{"abc"}, 0}} {
		if got := heldBack(c.text, c.stops); got != c.want {
			t.Errorf("heldBack(%q, %q) = %d, want %d", c.text, c.stops, got, c.want)
		}
	}
}

func TestLogprobs(t *testing.T) {
	m := open(t, nil)
	g := Greedy()
	s, _ := m.NewSession()
	var toks []Token
	_, err := s.Complete(context.Background(), "once upon a time", &GenerateOptions{MaxTokens: 5, Sampling: &g, TopLogprobs: 3,
		OnToken: func(tk Token) bool { toks = append(toks, tk); return true }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		// Greedy takes the most likely token; the top list is sorted and its
		// probabilities are below 1 in total.
		if len(tk.Top) != 3 || tk.Top[0].ID != tk.ID || tk.Top[0].Logprob != tk.Logprob ||
			tk.Top[1].Logprob > tk.Top[0].Logprob || tk.Top[2].Logprob > tk.Top[1].Logprob || tk.Logprob > 0 {
			t.Errorf("token %d: logprob %v, top %v", tk.ID, tk.Logprob, tk.Top)
		}
		var p float64
		for _, e := range tk.Top {
			p += math.Exp(float64(e.Logprob))
		}
		if p > 1.0001 || p <= 0 {
			t.Errorf("top probabilities sum to %v", p)
		}
	}
	lp, top := logprobs([]float32{0, float32(math.Log(3))}, 0, 0)
	if math.Abs(float64(lp)-math.Log(0.25)) > 1e-6 || top != nil {
		t.Errorf("logprobs = %v, %v", lp, top)
	}
}

// TestTokenizerErrorPrefixOnce: Open's tokenizer errors name the file and
// say "tokenizer: " once (they read "tokenizer: tokenizer: …").
func TestTokenizerErrorPrefixOnce(t *testing.T) {
	p := testutil.RewriteGGUF(t, testModel, func(w *gguf.Writer) {
		w.Set(layout.KeyTokenizerPre, gguf.String("no-such-pre"))
	})
	_, err := Open(p, nil)
	if err == nil {
		t.Fatal("no error for an unknown pre-tokenizer")
	}
	if msg := err.Error(); strings.Count(msg, "tokenizer: ") != 1 || !strings.Contains(msg, `"no-such-pre"`) || !strings.Contains(msg, p) {
		t.Errorf("error %q: want the file, one \"tokenizer: \" and the pre-tokenizer name", msg)
	}
}
