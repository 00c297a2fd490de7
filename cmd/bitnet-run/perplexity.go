package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bitnet-go/bitnet"
)

// runPerplexity computes the perplexity of the --perplexity text the way
// llama-perplexity does, in chunks of the context size.
func runPerplexity(s *session) error {
	cfg := s.cfg
	text, err := readBounded(cfg.textFile, maxTextBytes, "perplexity text", "bitnet-run reads")
	if err != nil {
		return err
	}
	sess, err := s.newSession(0)
	if err != nil {
		return err
	}
	tokens := s.m.Tokenize(string(text), !cfg.noBOS, false)
	ctx := cfg.ctx
	fmt.Fprintf(s.stderr, "perplexity: %d tokens, %d chunks of %d\n", len(tokens), len(tokens)/ctx, ctx)
	t0 := time.Now()
	res, err := sess.Perplexity(context.Background(), tokens, &bitnet.PerplexityOptions{
		Chunk: ctx, NoBOS: cfg.noBOS,
		Progress: func(chunk int, ppl float64) { fmt.Fprintf(s.stderr, "[%d]%.4f,", chunk, ppl) },
	})
	if err != nil {
		return err
	}
	el := time.Since(t0)
	fmt.Fprintf(s.stderr, "\nFinal estimate: PPL = %.4f +/- %.5f\n", res.PPL, res.StdErr)
	fmt.Fprintf(s.stderr, "%d chunks, %d tokens evaluated in %.2f s (%.2f tokens/s)\n", res.Chunks, res.Chunks*ctx, el.Seconds(), float64(res.Chunks*ctx)/el.Seconds())
	fmt.Fprintf(s.stdout, "perplexity: %.4f\n", res.PPL)
	return nil
}
