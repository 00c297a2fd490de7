package eval

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// pair asks for log p(tok) from logits row k of a task's layout.
type pair struct {
	k    int
	tok  int32
	soft bool // through softmax() (the first ending token), else compute_logprobs
}

// evalLayout evaluates a task laid out as llama-perplexity batches it: row
// 0 is the last token of the common prefix (cp tokens), then each sequence's
// tokens from cp on, the last one only if lastRow (winogrande asks for
// logits of every token, hellaswag and multiple-choice skip each sequence's
// last). It returns the log-probabilities the pairs ask for. The prefix is
// evaluated once; the cache is truncated back to it before each sequence.
func evalLayout(lm LM, seqs [][]int32, cp int, lastRow bool, pairs []pair) ([]float32, error) {
	if cp < 1 {
		return nil, errors.New("the candidates share no token (not even BOS), which llama-perplexity cannot score")
	}
	base := make([]int, len(seqs)+1) // first row of each sequence
	base[0] = 1
	for s, q := range seqs {
		if len(q) <= cp {
			return nil, fmt.Errorf("candidate %d adds no token after the shared %d", s+1, cp)
		}
		rows := len(q) - cp
		if !lastRow {
			rows--
		}
		base[s+1] = base[s] + rows
	}
	byK := make(map[int][]int, len(pairs))
	for i, p := range pairs {
		if p.k < 0 || p.k >= base[len(seqs)] {
			return nil, fmt.Errorf("scored row %d outside the task's %d rows", p.k, base[len(seqs)])
		}
		byK[p.k] = append(byK[p.k], i)
	}
	out := make([]float32, len(pairs))
	score := func(k int, row []float32) {
		for _, i := range byK[k] {
			if pairs[i].soft {
				out[i] = logf(softmaxProb(row, pairs[i].tok))
			} else {
				out[i] = tokenLogProb(row, pairs[i].tok)
			}
		}
	}
	lm.Reset()
	logits, err := lm.Forward(seqs[0][:cp], false)
	if err != nil {
		return nil, err
	}
	score(0, logits)
	for s, q := range seqs {
		last := -1 // last row of this sequence that a pair needs
		for k := base[s]; k < base[s+1]; k++ {
			if len(byK[k]) > 0 {
				last = k
			}
		}
		if last < 0 {
			continue
		}
		lm.Truncate(cp)
		n := last - base[s] + 1
		logits, err := lm.Forward(q[cp:cp+n], true)
		if err != nil {
			return nil, err
		}
		V := len(logits) / n
		for r := 0; r < n; r++ {
			score(base[s]+r, logits[r*V:(r+1)*V])
		}
	}
	return out, nil
}

// Options control a zero-shot run.
type Options struct {
	Ctx int       // llama-perplexity's n_ctx: a task's batch footprint must fit
	Out io.Writer // running output (llama-perplexity's stdout lines); nil: none
	Log io.Writer // progress and warnings (its stderr lines); nil: none
}

func (o *Options) printf(format string, a ...any) {
	if o.Out != nil {
		fmt.Fprintf(o.Out, format, a...)
	}
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format, a...)
	}
}

// Result is the outcome of a zero-shot run.
type Result struct {
	Tasks   int
	Correct int
	// Per task, in the order scored: the candidate picked (0-based) and the
	// correct one (for multiple choice: the first labelled correct).
	Picked, Gold []int
	// Scores per task and candidate, as compared (mean log-probabilities).
	Scores [][]float64
	// Accuracy in percent and its standard error as llama-perplexity
	// prints it (100·sqrt(p(1-p)/(n-1))).
	Accuracy, StdErr float64
}

func (r *Result) finish() {
	if r.Tasks == 0 {
		return
	}
	p := float64(r.Correct) / float64(r.Tasks)
	r.Accuracy = 100 * p
	if r.Tasks > 1 {
		r.StdErr = 100 * math.Sqrt(p*(1-p)/float64(r.Tasks-1))
	}
}

func (o *Options) fits(i int, seqs [][]int32, cp int) error {
	if req := requiredTokens(seqs, cp); req > o.Ctx {
		return fmt.Errorf("task %d does not fit in the context window (requires %d tokens, context %d)", i, req, o.Ctx)
	}
	return nil
}

// HellaSwag scores tasks as llama-perplexity --hellaswag does: n tasks
// (all if n ≤ 0 or more than there are; llama-perplexity's default is 400)
// drawn in random order with std::mt19937(1), each ending scored by the
// mean log-probability of its tokens after the common prefix of
// tokenize(context + " " + ending) (with BOS), acc_norm = the gold ending
// scores highest. Each line prints the running accuracy and its 95 %
// Wilson interval.
func HellaSwag(lm LM, tok Tokenize, all []HellaSwagTask, n int, o Options) (Result, error) {
	var r Result
	if n <= 0 || n > len(all) {
		n = len(all)
	}
	o.logf("hellaswag_score : loaded %d tasks from prompt.\n", len(all))
	o.logf("hellaswag_score : selecting %d randomized tasks.\n", n)
	rest := append([]HellaSwagTask(nil), all...)
	rng := newMT19937(1)
	o.printf("\ntask\tacc_norm\t95%% confidence interval\n")
	acc := 0.0
	for i := 0; i < n; i++ {
		idx := int(rng.uniform(uint32(len(rest))))
		t := rest[idx]
		rest = append(rest[:idx], rest[idx+1:]...)
		var seqs [][]int32
		for _, e := range t.Endings {
			seqs = append(seqs, tok(t.Context+" "+e))
		}
		cp := commonPrefix(seqs)
		if err := o.fits(i, seqs, cp); err != nil {
			return r, fmt.Errorf("hellaswag: %w", err)
		}
		pairs := endingPairs(seqs, cp)
		lp, err := evalLayout(lm, seqs, cp, false, pairs)
		if err != nil {
			return r, fmt.Errorf("hellaswag: task %d: %w", i, err)
		}
		scores := make([]float64, 4)
		ir := 0
		for s, q := range seqs {
			sum := float64(lp[ir]) // the first token, through softmax
			ir++
			cnt := 1
			for j := cp; j < len(q)-1; j++ {
				sum += float64(lp[ir])
				ir++
				cnt++
			}
			scores[s] = sum / float64(cnt)
		}
		best := argmax(scores)
		if best == t.Gold {
			acc++
			r.Correct++
		}
		r.Tasks++
		r.Picked = append(r.Picked, best)
		r.Gold = append(r.Gold, t.Gold)
		r.Scores = append(r.Scores, scores)
		freq := acc / float64(i+1)
		const za = 1.95996398454
		z := za * za / float64(i+1)
		cnf := z * math.Sqrt(float64(i+1)*(4.0*freq*(1-freq)+z)) / (za + za)
		a := (freq + z*0.5 - cnf) / (1.0 + z)
		b := (freq + z*0.5 + cnf) / (1.0 + z)
		o.printf("%d\t%3.8f%%\t[%3.4f%%, %3.4f%%]\n", i+1, freq*100.0, a*100.0, b*100.0)
	}
	o.printf("\n")
	r.finish()
	return r, nil
}

// endingPairs lays out hellaswag/multiple-choice scoring: per sequence the
// first token after the prefix from row 0 through softmax, then each next
// token from the sequence's own rows.
func endingPairs(seqs [][]int32, cp int) []pair {
	var pairs []pair
	li := 1
	for _, q := range seqs {
		pairs = append(pairs, pair{k: 0, tok: q[cp], soft: true})
		for j := cp; j < len(q)-1; j++ {
			pairs = append(pairs, pair{k: li, tok: q[j+1]})
			li++
		}
	}
	return pairs
}

func argmax(v []float64) int {
	best := 0
	for i := 1; i < len(v); i++ {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// Winogrande scores tasks as llama-perplexity --winogrande does: n tasks
// (all if n ≤ 0 or more than there are) drawn with std::mt19937(1); both
// sentences first+choice+second are tokenized (with BOS); when both differ
// from their common prefix by more than 3 tokens, only the tokens after the
// choice are scored, else everything after the prefix; the score is the
// mean log-probability without the last token (when more than one). Like
// llama-perplexity, the first scored token of the second sentence takes its
// logits from the first sentence's last token when the choice is not
// skipped (its "FIXME"); this keeps the accuracy identical to its.
func Winogrande(lm LM, tok Tokenize, all []WinograndeTask, n int, o Options) (Result, error) {
	var r Result
	data := all
	o.logf("winogrande_score : loaded %d tasks from prompt.\n", len(all))
	if n > 0 && n < len(all) {
		o.logf("winogrande_score : selecting %d random tasks\n", n)
		rng := newMT19937(1)
		aux := make([]int, len(all))
		for i := range aux {
			aux[i] = i
		}
		data = make([]WinograndeTask, n)
		for i := range data {
			j := rng.pickFloat(len(aux))
			data[i] = all[aux[j]]
			aux[j] = aux[len(aux)-1]
			aux = aux[:len(aux)-1]
		}
	}
	const minTrailing = 3
	for i, t := range data {
		seqs := [][]int32{
			tok(t.First + t.Choices[0] + t.Second),
			tok(t.First + t.Choices[1] + t.Second),
		}
		cp := 0
		for cp < len(seqs[0]) && cp < len(seqs[1]) && seqs[0][cp] == seqs[1][cp] {
			cp++
		}
		if err := o.fits(i, seqs, cp); err != nil {
			return r, fmt.Errorf("winogrande: %w", err)
		}
		nBase := [2]int{len(tok(t.First + t.Choices[0])), len(tok(t.First + t.Choices[1]))}
		skip := len(seqs[0])-cp > minTrailing && len(seqs[1])-cp > minTrailing
		var pairs []pair
		var counts [2]int
		for s := 0; s < 2; s++ {
			nb := cp
			if skip {
				nb = nBase[s]
			}
			if nb < 1 || nb > len(seqs[s]) || (skip && nb < cp) {
				return r, fmt.Errorf("winogrande: task %d: the tokens of sentence+choice %d do not line up with the full sentence", i, s+1)
			}
			last := 0
			if len(seqs[s])-nb > 1 {
				last = 1
			}
			li := nb - cp
			if s == 1 {
				li = len(seqs[0]) - cp + nb - cp
			}
			for j := nb - 1; j < len(seqs[s])-1-last; j++ {
				pairs = append(pairs, pair{k: li, tok: seqs[s][j+1]})
				li++
			}
			counts[s] = len(seqs[s]) - nb - last
			if counts[s] <= 0 {
				return r, fmt.Errorf("winogrande: task %d: sentence %d has no token to score after the choice", i, s+1)
			}
		}
		lp, err := evalLayout(lm, seqs, cp, true, pairs)
		if err != nil {
			return r, fmt.Errorf("winogrande: task %d: %w", i, err)
		}
		var sc [2]float32
		ir := 0
		for s := 0; s < 2; s++ {
			nb := cp
			if skip {
				nb = nBase[s]
			}
			last := 0
			if len(seqs[s])-nb > 1 {
				last = 1
			}
			for j := nb - 1; j < len(seqs[s])-1-last; j++ {
				sc[s] += lp[ir]
				ir++
			}
			sc[s] /= float32(counts[s])
		}
		result := 2
		if sc[0] > sc[1] {
			result = 1
		}
		if result == t.Answer {
			r.Correct++
		}
		r.Tasks++
		r.Picked = append(r.Picked, result-1)
		r.Gold = append(r.Gold, t.Answer-1)
		r.Scores = append(r.Scores, []float64{float64(sc[0]), float64(sc[1])})
		o.printf("%d\t%.4f\t%10.6f  %10.6f  %d  %d\n", i+1, 100.0*float64(r.Correct)/float64(r.Tasks), sc[0], sc[1], result, t.Answer)
	}
	o.printf("\n")
	r.finish()
	if r.Tasks >= 100 {
		p := float32(r.Correct) / float32(r.Tasks)
		sigma := 100 * float32(math.Sqrt(float64(p*(1-p)/float32(r.Tasks-1))))
		o.printf("Final Winogrande score(%d tasks): %.4f +/- %.4f\n", r.Tasks, 100*p, sigma)
	}
	return r, nil
}

// MultipleChoice scores tasks as llama-perplexity --multiple-choice does:
// each answer is tokenized as question + " " + answer (with BOS) and scored
// like a HellaSwag ending (float32 sums); a task counts as correct when the
// best answer is labelled 1. It prints the running accuracy, the final
// accuracy with its standard error and the accuracy of random guessing.
func MultipleChoice(lm LM, tok Tokenize, tasks []MultipleChoiceTask, o Options) (Result, error) {
	var r Result
	seqsOf := make([][][]int32, len(tasks))
	for i, t := range tasks {
		if t.Question == "" || len(t.Answers) == 0 {
			return r, fmt.Errorf("multiple-choice: task %d has an empty question or no answers", i+1)
		}
		if len(t.Labels) != len(t.Answers) {
			return r, fmt.Errorf("multiple-choice: task %d has %d answers but %d labels", i+1, len(t.Answers), len(t.Labels))
		}
		for _, a := range t.Answers {
			if a == "" {
				return r, fmt.Errorf("multiple-choice: task %d has an empty answer", i+1)
			}
			seqsOf[i] = append(seqsOf[i], tok(t.Question+" "+a))
		}
	}
	o.logf("multiple_choice_score : calculating TruthfulQA score over %d tasks.\n", len(tasks))
	o.printf("\ntask\tacc_norm\n")
	nAnswers := 0
	for i, t := range tasks {
		seqs := seqsOf[i]
		cp := commonPrefix(seqs)
		if err := o.fits(i, seqs, cp); err != nil {
			return r, fmt.Errorf("multiple-choice: %w", err)
		}
		lp, err := evalLayout(lm, seqs, cp, false, endingPairs(seqs, cp))
		if err != nil {
			return r, fmt.Errorf("multiple-choice: task %d: %w", i+1, err)
		}
		scores := make([]float64, len(seqs))
		ir := 0
		for s, q := range seqs {
			sum := lp[ir]
			ir++
			cnt := 1
			for j := cp; j < len(q)-1; j++ {
				sum += lp[ir]
				ir++
				cnt++
			}
			scores[s] = float64(sum / float32(cnt))
		}
		best := argmax(scores)
		nAnswers += len(seqs)
		if t.Labels[best] == 1 {
			r.Correct++
		}
		gold := -1
		for j, l := range t.Labels {
			if l == 1 {
				gold = j
				break
			}
		}
		r.Tasks++
		r.Picked = append(r.Picked, best)
		r.Gold = append(r.Gold, gold)
		r.Scores = append(r.Scores, scores)
		o.printf("%d\t%.8f\n", r.Tasks, 100.*float64(r.Correct)/float64(r.Tasks))
	}
	r.finish()
	p := float32(r.Correct) / float32(r.Tasks)
	sigma := float32(math.Sqrt(float64(p * (1 - p) / float32(r.Tasks-1))))
	o.printf("\n Final result: %.4f +/- %.4f\n", 100*p, 100*sigma)
	p = float32(r.Tasks) / float32(nAnswers)
	sigma = float32(math.Sqrt(float64(p * (1 - p) / float32(r.Tasks-1))))
	o.printf("Random chance: %.4f +/- %.4f\n", 100*p, 100*sigma)
	o.printf("\n")
	return r, nil
}
