package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/sampler"
)

// runGenerate is the default mode: evaluate the prompt, then sample up to
// -n tokens, printing the text (or the ids with --ids) and, with --logits,
// writing every row of logits.
func runGenerate(s *session) error {
	cfg := s.cfg
	ids, prompt, err := s.promptTokens()
	if err != nil {
		return err
	}
	sess, err := s.newSession(0)
	if err != nil {
		return err
	}
	params := cfg.sampling
	if cfg.randomSeed {
		params.Seed = uint64(time.Now().UnixNano())
	}

	var logits *logitsWriter
	if cfg.logitsFile != "" {
		if logits, err = newLogitsWriter(cfg.logitsFile); err != nil {
			return err
		}
		defer logits.abort()
	}

	out := bufio.NewWriter(s.stdout)
	defer out.Flush()
	if !cfg.ids {
		out.WriteString(prompt)
		out.Flush()
	}
	res, genErr := generate(sess, ids, cfg, params, logits, func(text string) {
		if !cfg.ids {
			out.WriteString(text)
			out.Flush()
		}
	})
	gen := res.Tokens
	if !cfg.ids {
		out.WriteString("\n")
	} else {
		fmt.Fprintf(out, "prompt: %s\noutput: %s\n", joinIDs(ids), joinIDs(gen))
	}
	if err := out.Flush(); err != nil {
		return err
	}
	contextFull := errors.Is(genErr, bitnet.ErrContextFull)
	if logits != nil && (genErr == nil || contextFull) {
		if err := logits.commit(); err != nil {
			return err
		}
	}
	stderr := s.stderr
	fmt.Fprintf(stderr, "\nload time: %.2f ms\n", ms(s.loadTime))
	fmt.Fprintf(stderr, "prompt: %d tokens in %.2f ms (%.2f tokens/s)\n", len(ids), ms(res.PromptTime), rate(len(ids), res.PromptTime))
	fmt.Fprintf(stderr, "generated: %d tokens in %.2f ms (%.2f tokens/s)\n", len(gen), ms(res.GenTime), rate(max(len(gen)-1, 0), res.GenTime))
	fmt.Fprintf(stderr, "threads: %d, seed: %d, context: %d, kernels: %s\n", cfg.threads, params.Seed, cfg.ctx, asm.Impl())
	if rss, ok := peakRSS(); ok {
		fmt.Fprintf(stderr, "peak RSS: %.1f MiB (model file %.1f MiB, KV cache %.1f MiB)\n", float64(rss)/(1<<20), float64(s.modelBytes)/(1<<20), float64(sess.KVBytes())/(1<<20))
	}
	if contextFull && cfg.nPredict < 0 {
		fmt.Fprintf(stderr, "stopped: %v\n", genErr)
		return nil
	}
	return genErr
}

// generate evaluates the prompt ids on sess and samples up to -n tokens
// with params, passing each piece of output text to write and, with
// logits, every row of logits (the prompt's, then that of each token
// evaluated). -n 0 only evaluates the prompt; -n -1 runs until an
// end-of-generation token or a full context (an error wrapping
// bitnet.ErrContextFull).
func generate(sess *bitnet.Session, ids []int32, cfg *config, params sampler.Params, logits *logitsWriter, write func(string)) (bitnet.Result, error) {
	ctx := context.Background()
	if cfg.nPredict == 0 {
		t0 := time.Now()
		rows, err := sess.Eval(ctx, ids, logits != nil)
		res := bitnet.Result{PromptTokens: len(ids), PromptTime: time.Since(t0), Stop: bitnet.StopLength}
		if err == nil && logits != nil {
			V := len(rows) / len(ids)
			for r := range ids {
				logits.row(rows[r*V : (r+1)*V])
			}
		}
		return res, err
	}
	smp := bitnet.Sampling{Temp: params.Temp, TopK: params.TopK, TopP: params.TopP, MinP: params.MinP,
		RepeatPenalty: params.RepeatPenalty, RepeatLastN: params.RepeatLastN, FreqPenalty: params.FreqPenalty,
		PresencePenalty: params.PresencePenalty, Seed: params.Seed}
	opts := &bitnet.GenerateOptions{
		MaxTokens: max(cfg.nPredict, 0), // -n -1 (any n < 0): no limit
		Sampling:  &smp,
		IgnoreEOS: cfg.ignoreEOS,
		OnToken:   func(t bitnet.Token) bool { write(t.Text); return true },
	}
	if logits != nil {
		opts.OnLogits = logits.row
	}
	res, err := sess.CompleteTokens(ctx, ids, opts)
	if errors.Is(err, bitnet.ErrContextFull) && res.Stop == bitnet.StopContext {
		// The message bitnet-run has always printed (without the
		// library's "bitnet: " prefix).
		err = fmt.Errorf("%w after %d new tokens (context %d)", bitnet.ErrContextFull, len(res.Tokens), sess.ContextSize())
	}
	return res, err
}

// promptTokens reads the prompt (-p, or -f bounded by what the context can
// hold) and tokenizes it.
func (s *session) promptTokens() (ids []int32, text string, err error) {
	cfg := s.cfg
	tok := s.m.Tokenizer()
	limit := promptByteLimit(tok, cfg.ctx)
	text = cfg.prompt
	if cfg.promptFile != "" {
		b, err := readBounded(cfg.promptFile, limit, "prompt file", fmt.Sprintf("a context of %d tokens can hold (raise -c)", cfg.ctx))
		if err != nil {
			return nil, "", err
		}
		text = string(b)
	} else if int64(len(text)) > limit {
		return nil, "", fmt.Errorf("the prompt is %d bytes, more than the %d bytes a context of %d tokens can hold (raise -c)", len(text), limit, cfg.ctx)
	}
	ids = tok.Encode(text, !cfg.noBOS, true)
	if len(ids) == 0 {
		return nil, "", errors.New("the prompt is empty (give one with -p or -f)")
	}
	if len(ids) > cfg.ctx {
		return nil, "", fmt.Errorf("the prompt is %d tokens, longer than the context of %d (raise -c)", len(ids), cfg.ctx)
	}
	return ids, text, nil
}

// logitsWriter writes float32 rows to a file that appears only on commit.
type logitsWriter struct {
	f   *atomicfile.File
	err error
	buf []byte
}

func newLogitsWriter(path string) (*logitsWriter, error) {
	f, err := atomicfile.Create(path, atomicfile.Mode)
	if err != nil {
		return nil, err
	}
	return &logitsWriter{f: f}, nil
}

func (w *logitsWriter) row(row []float32) {
	if w.err != nil {
		return
	}
	w.buf = w.buf[:0]
	for _, v := range row {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(v))
	}
	_, w.err = w.f.Write(w.buf)
}

func (w *logitsWriter) commit() error {
	if w.err != nil {
		w.f.Abort()
		return fmt.Errorf("writing %s: %w", w.f.Name(), w.err)
	}
	return w.f.Commit()
}

func (w *logitsWriter) abort() { w.f.Abort() }

func joinIDs(ids []int32) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(id)))
	}
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
