package eval

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/runtime"
)

func TestMT19937(t *testing.T) {
	// Values printed by std::mt19937 / std::uniform_int_distribution of
	// libstdc++ 12 (g++ 12.2).
	m := newMT19937(5489)
	var v uint32
	for i := 0; i < 10000; i++ {
		v = m.next()
	}
	if v != 4123659995 {
		t.Errorf("mt19937(5489) 10000th = %d, want 4123659995", v)
	}
	m = newMT19937(1)
	if a, b := m.next(), m.next(); a != 1791095845 || b != 4282876139 {
		t.Errorf("mt19937(1) = %d %d", a, b)
	}
	m = newMT19937(1)
	var got []int
	for n := 50; n > 38; n-- {
		got = append(got, int(m.uniform(uint32(n))))
	}
	if want := []int{20, 48, 34, 43, 0, 5, 13, 42, 6, 9, 3, 15}; !equalInts(got, want) {
		t.Errorf("uniform draws %v, want %v", got, want)
	}
	m = newMT19937(1)
	aux := make([]int, 37)
	for i := range aux {
		aux[i] = i
	}
	got = got[:0]
	for i := 0; i < 12; i++ {
		j := m.pickFloat(len(aux))
		got = append(got, aux[j])
		aux[j] = aux[len(aux)-1]
		aux = aux[:len(aux)-1]
	}
	if want := []int{15, 35, 25, 31, 0, 4, 9, 29, 33, 6, 2, 10}; !equalInts(got, want) {
		t.Errorf("float picks %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// bigramLM is a hand-checkable model: the logits after token t are
// ln P(·|t) from a fixed table, whatever came before.
type bigramLM struct {
	p     [][]float64
	cache []int32
	calls int // Forward calls
	evals int // tokens evaluated
}

func (b *bigramLM) Forward(toks []int32, all bool) ([]float32, error) {
	b.calls++
	b.evals += len(toks)
	b.cache = append(b.cache, toks...)
	V := len(b.p)
	var out []float32
	for i, t := range toks {
		if !all && i < len(toks)-1 {
			continue
		}
		for _, p := range b.p[t] {
			out = append(out, float32(math.Log(p)))
		}
	}
	_ = V
	return out, nil
}
func (b *bigramLM) Truncate(pos int) { b.cache = b.cache[:min(pos, len(b.cache))] }
func (b *bigramLM) Reset()           { b.cache = b.cache[:0] }

// wordTok maps "a", "b", "c" to 1, 2, 3 after BOS 0.
func wordTok(s string) []int32 {
	out := []int32{0}
	for _, w := range strings.Fields(s) {
		out = append(out, int32(w[0]-'a'+1))
	}
	return out
}

func bigrams() *bigramLM {
	return &bigramLM{p: [][]float64{
		{0.25, 0.25, 0.25, 0.25},
		{0.1, 0.2, 0.3, 0.4}, // after a: P(b)=.3, P(c)=.4
		{0.1, 0.1, 0.7, 0.1}, // after b: P(b)=.7, P(c)=.1
		{0.25, 0.25, 0.25, 0.25},
	}}
}

// TestHandChecked scores tiny tasks whose answers follow from the bigram
// table by hand.
func TestHandChecked(t *testing.T) {
	lm := bigrams()
	// Endings after "a": b → ln .3 = -1.204; c → ln .4 = -0.916;
	// b c → (ln .3 + ln .1)/2 = -1.754; c c → (ln .4 + ln .25)/2 = -1.151.
	hs := []HellaSwagTask{{Context: "a", Gold: 1, Endings: [4]string{"b", "c", "b c", "c c"}}}
	r, err := HellaSwag(lm, wordTok, hs, 0, Options{Ctx: 64})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{math.Log(.3), math.Log(.4), (math.Log(.3) + math.Log(.1)) / 2, (math.Log(.4) + math.Log(.25)) / 2}
	for i, w := range want {
		if math.Abs(r.Scores[0][i]-w) > 1e-6 {
			t.Errorf("hellaswag ending %d: score %v, want %v", i, r.Scores[0][i], w)
		}
	}
	if r.Picked[0] != 1 || r.Correct != 1 {
		t.Errorf("hellaswag picked %d, want 1", r.Picked[0])
	}
	// The prefix "BOS a" is evaluated once; each ending's last token is not.
	if lm.evals != 2+0+0+1+1 {
		t.Errorf("evaluated %d tokens, want 4 (shared prefix once)", lm.evals)
	}

	// WinoGrande "a _ b" with b or c: two trailing tokens, so the choice is
	// scored too. Sentence 1 scores P(b|a) = .3 from the prefix row;
	// sentence 2 takes, as llama-perplexity does, the logits after the last
	// token of sentence 1 (b): P(c|b) = .1, so choice 1 wins (a correct
	// reading, P(c|a) = .4, would pick choice 2).
	wg := []WinograndeTask{{First: "a ", Second: " b", Choices: [2]string{"b", "c"}, Answer: 1}}
	r, err = Winogrande(lm, wordTok, wg, 0, Options{Ctx: 64})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Scores[0][0]-math.Log(.3)) > 1e-6 || math.Abs(r.Scores[0][1]-math.Log(.1)) > 1e-6 || r.Picked[0] != 0 {
		t.Errorf("winogrande scores %v picked %d, want [ln .3, ln .1] and choice 1", r.Scores[0], r.Picked[0]+1)
	}
	// Long endings: only the tokens after the choice count (all but the last).
	wg = []WinograndeTask{{First: "a ", Second: " b b c c c", Choices: [2]string{"b", "c"}, Answer: 2}}
	if r, err = Winogrande(lm, wordTok, wg, 0, Options{Ctx: 64}); err != nil {
		t.Fatal(err)
	}
	// sentence 1: a b | b b c c c → scored P(b|b) P(b|b) P(c|b) P(c|c)
	w1 := (2*math.Log(.7) + math.Log(.1) + math.Log(.25)) / 4
	// sentence 2: a c | b b c c c → P(b|c) P(b|b) P(c|b) P(c|c)
	w2 := (math.Log(.25) + math.Log(.7) + math.Log(.1) + math.Log(.25)) / 4
	if math.Abs(r.Scores[0][0]-w1) > 1e-6 || math.Abs(r.Scores[0][1]-w2) > 1e-6 || r.Picked[0] != 0 {
		t.Errorf("winogrande (skipping the choice) scores %v, want [%v %v]", r.Scores[0], w1, w2)
	}

	mc := []MultipleChoiceTask{{Question: "a", Answers: []string{"b", "c", "b b"}, Labels: []int32{0, 0, 1}}}
	var out bytes.Buffer
	if r, err = MultipleChoice(lm, wordTok, mc, Options{Ctx: 64, Out: &out}); err != nil {
		t.Fatal(err)
	}
	// b b: (ln .3 + ln .7)/2 = -0.780 beats c (-0.916).
	if r.Picked[0] != 2 || r.Correct != 1 {
		t.Errorf("multiple choice picked %d (%v), want 2", r.Picked[0], r.Scores[0])
	}
	if !strings.Contains(out.String(), "1\t100.00000000\n") || !strings.Contains(out.String(), "Random chance: 33.3333") {
		t.Errorf("multiple choice output:\n%s", out.String())
	}

	// Context too small for the task's batch footprint: llama-perplexity's error.
	if _, err := HellaSwag(lm, wordTok, hs, 0, Options{Ctx: 5}); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("small context: %v", err)
	}
}

type bundledModel struct {
	m   *loader.Model
	tok *tokenizer.Tokenizer
	st  *runtime.State
}

func loadBundled(t *testing.T) *bundledModel {
	t.Helper()
	m, err := loader.Load(filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := tokenizer.FromGGUF(m.File, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := runtime.NewPool(2)
	t.Cleanup(p.Close)
	st, err := runtime.NewState(m.Model, 512, 512, p)
	if err != nil {
		t.Fatal(err)
	}
	return &bundledModel{m, tok, st}
}

func (b *bundledModel) encode(s string) []int32 { return b.tok.Encode(s, true, false) }

// fullLogProbs evaluates seq from an empty cache and returns log p of
// every token after the first, in float64: the independent reference.
func (b *bundledModel) fullLogProbs(t *testing.T, seq []int32) []float64 {
	b.st.Reset()
	l, err := b.st.Forward(seq, true)
	if err != nil {
		t.Fatal(err)
	}
	V := b.m.Vocab
	out := make([]float64, len(seq))
	for i := 0; i+1 < len(seq); i++ {
		row := l[i*V : (i+1)*V]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		out[i+1] = float64(row[seq[i+1]]) - mx - math.Log(s)
	}
	return out
}

func readTaskFile(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", "eval", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkScores compares a run's scores with the independent reference and
// requires the same pick wherever the reference's margin is clear.
func checkScores(t *testing.T, kind string, r Result, ref [][]float64) {
	t.Helper()
	for i := range ref {
		for s := range ref[i] {
			if d := math.Abs(r.Scores[i][s] - ref[i][s]); d > 2e-3 {
				t.Errorf("%s task %d candidate %d: score %.6f, reference %.6f", kind, i, s, r.Scores[i][s], ref[i][s])
			}
		}
		best := argmax(ref[i])
		margin := math.Inf(1)
		for s := range ref[i] {
			if s != best {
				margin = math.Min(margin, ref[i][best]-ref[i][s])
			}
		}
		if margin > 5e-3 && r.Picked[i] != best {
			t.Errorf("%s task %d: picked %d, reference %d", kind, i, r.Picked[i], best)
		}
	}
}

func meanFrom(lp []float64, from, to int) float64 {
	s := 0.0
	for i := from; i < to; i++ {
		s += lp[i]
	}
	return s / float64(to-from)
}

func TestHellaSwagBundled(t *testing.T) {
	b := loadBundled(t)
	tasks, err := ParseHellaSwag(readTaskFile(t, "tinystories-hellaswag.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r, err := HellaSwag(b.st, b.encode, tasks, 0, Options{Ctx: 512, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	// Reference: the same tasks in llama-perplexity's order, each ending
	// evaluated from scratch, mean log p of the tokens after the common
	// prefix.
	rng := newMT19937(1)
	rest := append([]HellaSwagTask(nil), tasks...)
	var ref [][]float64
	for range tasks {
		idx := int(rng.uniform(uint32(len(rest))))
		task := rest[idx]
		rest = append(rest[:idx], rest[idx+1:]...)
		var seqs [][]int32
		for _, e := range task.Endings {
			seqs = append(seqs, b.encode(task.Context+" "+e))
		}
		cp := commonPrefix(seqs)
		var sc []float64
		for _, q := range seqs {
			sc = append(sc, meanFrom(b.fullLogProbs(t, q), cp, len(q)))
		}
		ref = append(ref, sc)
		if task.Gold != r.Gold[len(ref)-1] {
			t.Fatalf("task order differs from llama-perplexity's")
		}
	}
	checkScores(t, "hellaswag", r, ref)
	t.Logf("hellaswag: %d/%d = %.2f%% ± %.2f (chance 25%%)", r.Correct, r.Tasks, r.Accuracy, r.StdErr)
	if r.Tasks != 24 || r.Accuracy < 45 {
		t.Errorf("hellaswag accuracy %.2f%% over %d tasks; want 24 tasks well above chance (25%%)", r.Accuracy, r.Tasks)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[0] != "task\tacc_norm\t95% confidence interval" || len(lines) != 25 || !strings.HasPrefix(lines[24], "24\t") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestWinograndeBundled(t *testing.T) {
	b := loadBundled(t)
	tasks, warn, err := ParseWinogrande(readTaskFile(t, "tinystories-winogrande.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// 31 rows; as in llama-perplexity, the last row (its newline removed with
	// the file's trailing newline) is not read.
	if len(tasks) != 30 || len(warn) != 0 {
		t.Fatalf("%d tasks, warnings %q", len(tasks), warn)
	}
	r, err := Winogrande(b.st, b.encode, tasks, 0, Options{Ctx: 512})
	if err != nil {
		t.Fatal(err)
	}
	var ref [][]float64
	for _, task := range tasks {
		var sc []float64
		s0 := b.encode(task.First + task.Choices[0] + task.Second)
		s1 := b.encode(task.First + task.Choices[1] + task.Second)
		cp := commonPrefix([][]int32{s0, s1})
		skip := len(s0)-cp > 3 && len(s1)-cp > 3
		if !skip {
			t.Fatalf("the generated tasks all have long endings")
		}
		for c, q := range [][]int32{s0, s1} {
			nb := len(b.encode(task.First + task.Choices[c]))
			sc = append(sc, meanFrom(b.fullLogProbs(t, q), nb, len(q)-1))
		}
		ref = append(ref, sc)
	}
	checkScores(t, "winogrande", r, ref)
	t.Logf("winogrande: %d/%d = %.2f%% ± %.2f (chance 50%%)", r.Correct, r.Tasks, r.Accuracy, r.StdErr)
	if r.Accuracy < 70 {
		t.Errorf("winogrande accuracy %.2f%%; want well above chance (50%%)", r.Accuracy)
	}
}

func TestMultipleChoiceBundled(t *testing.T) {
	b := loadBundled(t)
	tasks, err := ReadMultipleChoice(readTaskFile(t, "tinystories-mc.bin"), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r, err := MultipleChoice(b.st, b.encode, tasks, Options{Ctx: 512, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	var ref [][]float64
	chance := 0
	for _, task := range tasks {
		var seqs [][]int32
		for _, a := range task.Answers {
			seqs = append(seqs, b.encode(task.Question+" "+a))
		}
		chance += len(seqs)
		cp := commonPrefix(seqs)
		var sc []float64
		for _, q := range seqs {
			sc = append(sc, meanFrom(b.fullLogProbs(t, q), cp, len(q)))
		}
		ref = append(ref, sc)
	}
	checkScores(t, "multiple-choice", r, ref)
	t.Logf("multiple choice: %d/%d = %.2f%% ± %.2f (chance %.2f%%)\n%s", r.Correct, r.Tasks, r.Accuracy, r.StdErr,
		100*float64(len(tasks))/float64(chance), out.String()[strings.Index(out.String(), " Final"):])
	if r.Accuracy < 60 {
		t.Errorf("multiple choice accuracy %.2f%%; want well above chance", r.Accuracy)
	}
	// A random subset is drawn as llama-perplexity draws it and read at its
	// offsets: the same tasks as in the full read.
	sub, err := ReadMultipleChoice(readTaskFile(t, "tinystories-mc.bin"), 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := newMT19937(1)
	aux := make([]int, len(tasks))
	for i := range aux {
		aux[i] = i
	}
	for i := range sub {
		j := rng.pickFloat(len(aux))
		if sub[i].Question != tasks[aux[j]].Question || len(sub[i].Answers) != len(tasks[aux[j]].Answers) {
			t.Errorf("subset task %d is not task %d", i, aux[j])
		}
		aux[j] = aux[len(aux)-1]
		aux = aux[:len(aux)-1]
	}
}
