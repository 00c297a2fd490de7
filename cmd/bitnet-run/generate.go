package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/runtime"
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
	st, err := s.newState(nil)
	if err != nil {
		return err
	}
	params := cfg.sampling
	if cfg.randomSeed {
		params.Seed = uint64(time.Now().UnixNano())
	}
	smp := sampler.New(params, s.m.Vocab)

	var logits *logitsWriter
	if cfg.logitsFile != "" {
		if logits, err = newLogitsWriter(cfg.logitsFile); err != nil {
			return err
		}
		defer logits.abort()
	}

	out := bufio.NewWriter(s.stdout)
	defer out.Flush()
	dec := s.tok.NewStreamDecoder()
	if !cfg.ids {
		out.WriteString(prompt)
		out.Flush()
	}
	var tPrompt time.Duration
	tStart := time.Now()
	gopts := runtime.GenerateOptions{
		MaxTokens:    cfg.nPredict,
		IsEOG:        s.tok.IsEOG,
		IgnoreEOS:    cfg.ignoreEOS,
		OnPromptDone: func() { tPrompt = time.Since(tStart) },
		OnToken: func(id int32, _ []float32) bool {
			if !cfg.ids {
				out.WriteString(dec.Add(id))
				out.Flush()
			}
			return true
		},
	}
	if logits != nil {
		gopts.OnPromptLogits = logits.row
		gopts.OnLogits = logits.row
	}
	gen, genErr := st.Generate(ids, smp, gopts)
	tGen := time.Since(tStart) - tPrompt
	if !cfg.ids {
		out.WriteString(dec.Flush())
		out.WriteString("\n")
	} else {
		fmt.Fprintf(out, "prompt: %s\noutput: %s\n", joinIDs(ids), joinIDs(gen))
	}
	if err := out.Flush(); err != nil {
		return err
	}
	contextFull := errors.Is(genErr, runtime.ErrContextFull)
	if logits != nil && (genErr == nil || contextFull) {
		if err := logits.commit(); err != nil {
			return err
		}
	}
	stderr := s.stderr
	fmt.Fprintf(stderr, "\nload time: %.2f ms\n", ms(s.loadTime))
	fmt.Fprintf(stderr, "prompt: %d tokens in %.2f ms (%.2f tokens/s)\n", len(ids), ms(tPrompt), rate(len(ids), tPrompt))
	fmt.Fprintf(stderr, "generated: %d tokens in %.2f ms (%.2f tokens/s)\n", len(gen), ms(tGen), rate(max(len(gen)-1, 0), tGen))
	fmt.Fprintf(stderr, "threads: %d, seed: %d, context: %d, kernels: %s\n", cfg.threads, params.Seed, cfg.ctx, asm.Impl())
	if rss, ok := peakRSS(); ok {
		fmt.Fprintf(stderr, "peak RSS: %.1f MiB (model file %.1f MiB, KV cache %.1f MiB)\n", float64(rss)/(1<<20), float64(s.modelBytes)/(1<<20), float64(st.KVBytes())/(1<<20))
	}
	if contextFull && cfg.nPredict < 0 {
		fmt.Fprintf(stderr, "stopped: %v\n", genErr)
		return nil
	}
	return genErr
}

// promptTokens reads the prompt (-p, or -f bounded by what the context can
// hold) and tokenizes it.
func (s *session) promptTokens() (ids []int32, text string, err error) {
	cfg := s.cfg
	limit := promptByteLimit(s.tok, cfg.ctx)
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
	ids = s.tok.Encode(text, !cfg.noBOS, true)
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
