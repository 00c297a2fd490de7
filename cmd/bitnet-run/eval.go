package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/eval"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// evalOptions are llama-perplexity's evaluation modes.
type evalOptions struct {
	hellaswag, winogrande, multipleChoice string
	hellaswagTasks, winograndeTasks       int
	multipleChoiceTasks                   int
	klBase                                string
	kl                                    bool
}

func addEvalFlags(fs *flag.FlagSet, e *evalOptions) {
	fs.StringVar(&e.hellaswag, "hellaswag", "", "HellaSwag score (acc_norm) of the tasks in `file` (llama-perplexity's 6-line format)")
	fs.IntVar(&e.hellaswagTasks, "hellaswag-tasks", 400, "number of HellaSwag tasks, drawn at random as llama-perplexity does (0: all)")
	fs.StringVar(&e.winogrande, "winogrande", "", "WinoGrande score of the tasks in the CSV `file`")
	fs.IntVar(&e.winograndeTasks, "winogrande-tasks", 0, "number of WinoGrande tasks, drawn at random (0: all)")
	fs.StringVar(&e.multipleChoice, "multiple-choice", "", "multiple-choice score (ARC, MMLU, TruthfulQA) of llama.cpp's binary task `file`")
	fs.IntVar(&e.multipleChoiceTasks, "multiple-choice-tasks", 0, "number of multiple-choice tasks, drawn at random (0: all)")
	fs.StringVar(&e.klBase, "kl-divergence-base", "", "with --perplexity TEXT: save the log-probabilities to `file`; with --kl-divergence: compare with that file")
	fs.BoolVar(&e.kl, "kl-divergence", false, "KL divergence of this model from the log-probabilities in --kl-divergence-base")
}

func (e *evalOptions) active() bool {
	return e.hellaswag != "" || e.winogrande != "" || e.multipleChoice != "" || e.klBase != "" || e.kl
}

// runEvalMode is the "eval" mode: llama-perplexity's --hellaswag,
// --winogrande, --multiple-choice and --kl-divergence(-base).
func runEvalMode(s *session) error {
	return runEval(s.cfg, s.m, s.stdout, s.stderr)
}

// sessionLM scores with a library session (eval.LM).
type sessionLM struct {
	ctx context.Context
	*bitnet.Session
}

// Forward evaluates tokens at the next cache positions (eval.LM).
func (l sessionLM) Forward(tokens []int32, all bool) ([]float32, error) {
	return l.Eval(l.ctx, tokens, all)
}

// runEval runs the evaluation mode chosen by c.ev.
func runEval(c *config, m *bitnet.Model, stdout, stderr io.Writer) error {
	e := &c.ev
	modes := 0
	for _, on := range []bool{e.hellaswag != "", e.winogrande != "", e.multipleChoice != "", e.klBase != ""} {
		if on {
			modes++
		}
	}
	switch {
	case modes > 1:
		return usageError{errors.New("give one of --hellaswag, --winogrande, --multiple-choice and --kl-divergence-base")}
	case e.kl && e.klBase == "":
		return usageError{errors.New("--kl-divergence needs the base model's file: --kl-divergence-base FILE")}
	case e.hellaswagTasks < 0 || e.winograndeTasks < 0 || e.multipleChoiceTasks < 0:
		return usageError{errors.New("the number of tasks cannot be negative")}
	case e.klBase != "" && !e.kl && c.textFile == "" && c.promptFile == "":
		return usageError{errors.New("--kl-divergence-base without --kl-divergence saves the log-probabilities of a text: give it with --perplexity FILE or -f FILE")}
	}
	ctx := c.ctx // the one context rule (config.go)
	tok := m.Tokenizer()
	bos := int32(-1)
	if !c.noBOS && tok.AddBOS() {
		bos = tok.BOS()
	}
	encode := func(s string) []int32 { return tok.Encode(s, !c.noBOS, false) }
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	flushing := flushWriter{out}
	// Sessions of n tokens (the KL base file fixes its own context).
	newState := func(n int) (eval.LM, error) {
		s, err := m.NewSessionWith(&bitnet.SessionOptions{Context: n, Batch: min(c.batch, n)})
		if err != nil {
			return nil, err
		}
		return sessionLM{context.Background(), s}, nil
	}
	t0 := time.Now()
	defer func() { fmt.Fprintf(stderr, "evaluation time: %.2f s\n", time.Since(t0).Seconds()) }()

	if e.klBase != "" && e.kl {
		f, err := os.Open(e.klBase)
		if err != nil {
			return fmt.Errorf("kl-divergence: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		h, err := eval.ReadBaseHeader(f, st.Size())
		if err != nil {
			return fmt.Errorf("%s: %w", e.klBase, err)
		}
		if h.Vocab != m.VocabSize() {
			return fmt.Errorf("%s: the base model's vocabulary has %d tokens, this model's %d", e.klBase, h.Vocab, m.VocabSize())
		}
		s, err := newState(h.Ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "kl_divergence: %d chunks of %d tokens from %s\n", h.Chunks, h.Ctx, e.klBase)
		_, err = eval.Compare(s, h, bufio.NewReader(f), eval.CompareOptions{BOS: bos, Out: flushing})
		return err
	}
	if e.klBase != "" {
		src := c.textFile
		if src == "" {
			src = c.promptFile
		}
		text, err := readBounded(src, maxTextBytes, "text", "a text to evaluate may hold")
		if err != nil {
			return err
		}
		s, err := newState(ctx)
		if err != nil {
			return err
		}
		// As llama-perplexity's -f reads it: one trailing newline removed.
		tokens := encode(strings.TrimSuffix(string(text), "\n"))
		fmt.Fprintf(stderr, "perplexity: saving all logits to %s\n", e.klBase)
		var res eval.PPL
		err = atomicfile.WriteFile(e.klBase, 0o644, func(w io.Writer) error {
			var err error
			res, err = eval.SaveBase(s, m.VocabSize(), tokens, eval.BaseOptions{Ctx: ctx, BOS: bos, Progress: func(c int, ppl float64) {
				fmt.Fprintf(flushing, "[%d]%.4f,", c, ppl)
			}}, w)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\nFinal estimate: PPL = %.4f +/- %.5f\n", res.PPL, res.StdErr)
		return nil
	}

	s, err := newState(ctx)
	if err != nil {
		return err
	}
	opts := eval.Options{Ctx: ctx, Out: flushing, Log: stderr}
	switch {
	case e.hellaswag != "":
		data, err := readBounded(e.hellaswag, maxTextBytes, "hellaswag task file", "a task file may hold")
		if err != nil {
			return err
		}
		tasks, err := eval.ParseHellaSwag(data)
		if err != nil {
			return fmt.Errorf("%s: %w", e.hellaswag, err)
		}
		_, err = eval.HellaSwag(s, encode, tasks, e.hellaswagTasks, opts)
		return err
	case e.winogrande != "":
		data, err := readBounded(e.winogrande, maxTextBytes, "winogrande task file", "a task file may hold")
		if err != nil {
			return err
		}
		tasks, warn, err := eval.ParseWinogrande(data)
		for _, w := range warn {
			fmt.Fprintf(stderr, "load_winogrande_from_csv: %s\n", w)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.winogrande, err)
		}
		_, err = eval.Winogrande(s, encode, tasks, e.winograndeTasks, opts)
		return err
	default:
		data, err := readBounded(e.multipleChoice, maxTextBytes, "multiple-choice task file", "a task file may hold")
		if err != nil {
			return err
		}
		tasks, err := eval.ReadMultipleChoice(data, e.multipleChoiceTasks)
		if err != nil {
			return fmt.Errorf("%s: %w", e.multipleChoice, err)
		}
		fmt.Fprintf(stderr, "multiple_choice_score: %d tasks\n", len(tasks))
		_, err = eval.MultipleChoice(s, encode, tasks, opts)
		return err
	}
}

// flushWriter flushes after every write so running results show at once.
type flushWriter struct{ w *bufio.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}
