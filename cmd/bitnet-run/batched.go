package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/asm"
)

// batchedBench measures parallel sequences the way llama-batched-bench
// does (--bench -npl 1,2,4,8 -p 128 -n 64): for each number B of
// sequences, each with a prompt of PP random tokens and TG generated
// tokens, it evaluates the B prompts (packed into passes of at most -b
// tokens) and then TG decode steps that each evaluate the next token of
// all B sequences in one forward pass (bitnet.Batch), and prints
// llama-batched-bench's table: prompt, generation and aggregate tokens/s.
func batchedBench(s *session) error {
	c, m, stdout, stderr := s.cfg, s.m, s.stdout, s.stderr
	npl, pps, tgs, threads := c.npl, c.benchPrompts, c.benchGens, c.benchThreads
	maxB := 0
	for _, b := range npl {
		maxB = max(maxB, b)
	}
	// A pass holds a decode row of every sequence; prompt chunks need two
	// rows more (never a lone prompt token, see runtime.Batch).
	rows := max(c.batch, maxB+2)

	rng := rand.New(rand.NewPCG(1, 2))
	fmt.Fprintf(stderr, "kernels: %s\n", asm.Impl())
	for _, nt := range threads {
		b, err := m.NewBatch(&bitnet.BatchOptions{Rows: rows, Threads: nt})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nbatched-bench: n_batch = %d, n_threads = %d, kernels = %s\n\n", rows, nt, asm.Impl())
		fmt.Fprintf(stdout, "|%6s |%6s |%5s |%7s |%9s |%9s |%9s |%9s |%9s |%9s |\n", "PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s")
		fmt.Fprintf(stdout, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 7), strings.Repeat("-", 7), strings.Repeat("-", 6), strings.Repeat("-", 8), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 10))
		warm := false
		for _, pp := range pps {
			for _, tg := range tgs {
				for _, nb := range npl {
					if pp+tg == 0 {
						continue
					}
					r, err := runBatched(b, m, nb, pp, tg, rng)
					if err != nil {
						b.Close()
						return err
					}
					if !warm {
						// The first run pages the weights in; measure again.
						warm = true
						if r, err = runBatched(b, m, nb, pp, tg, rng); err != nil {
							b.Close()
							return err
						}
					}
					nkv := nb * (pp + tg)
					tpp, ttg := r.pp.Seconds(), r.tg.Seconds()
					fmt.Fprintf(stdout, "|%6d |%6d |%5d |%7d |%9.3f |%9.2f |%9.3f |%9.2f |%9.3f |%9.2f |\n",
						pp, tg, nb, nkv, tpp, tokPerSec(nb*pp, tpp), ttg, tokPerSec(nb*tg, ttg), tpp+ttg, tokPerSec(nkv, tpp+ttg))
				}
			}
		}
		b.Close()
	}
	return nil
}

func tokPerSec(n int, sec float64) float64 {
	if sec <= 0 {
		return 0
	}
	return float64(n) / sec
}

type batchedTimes struct{ pp, tg time.Duration }

// runBatched evaluates nb random prompts of pp tokens and then tg decode
// steps of all nb sequences (sessions of pp+tg tokens).
func runBatched(b *bitnet.Batch, m *bitnet.Model, nb, pp, tg int, rng *rand.Rand) (batchedTimes, error) {
	var r batchedTimes
	seqs := make([]*bitnet.Session, nb)
	prompts := make([][]int32, nb)
	next := make([]int32, nb)
	vocab := m.VocabSize()
	for i := range seqs {
		var err error
		// Batch 1: the session's own forward buffers are never used.
		if seqs[i], err = m.NewSessionWith(&bitnet.SessionOptions{Context: max(pp+tg, 1), Batch: 1}); err != nil {
			return r, err
		}
		prompts[i] = make([]int32, pp)
		for k := range prompts[i] {
			prompts[i][k] = int32(rng.IntN(vocab))
		}
		next[i] = int32(rng.IntN(vocab))
	}
	ctx := context.Background()
	// Prompts: pack the sequences' prompts into passes of up to MaxRows
	// tokens, chunks of at least two tokens (one for one-token prompts).
	t0 := time.Now()
	fed := make([]int, nb)
	chunks := make([]bitnet.BatchChunk, 0, nb)
	for {
		chunks = chunks[:0]
		room := b.Rows()
		for i := range seqs {
			rem := pp - fed[i]
			if rem == 0 {
				continue
			}
			n := min(rem, room)
			if rem > 1 && rem-n == 1 {
				n--
			}
			if n < 2 && rem > 1 || n < 1 {
				break
			}
			chunks = append(chunks, bitnet.BatchChunk{Session: seqs[i], Tokens: prompts[i][fed[i] : fed[i]+n], Logits: fed[i]+n == pp})
			fed[i] += n
			room -= n
		}
		if len(chunks) == 0 {
			break
		}
		if _, err := b.Eval(ctx, chunks); err != nil {
			return r, err
		}
	}
	r.pp = time.Since(t0)
	// Generation: one pass per step for all sequences. The tokens are
	// random (sampling is not what is measured).
	t0 = time.Now()
	chunks = chunks[:0]
	for i := range seqs {
		chunks = append(chunks, bitnet.BatchChunk{Session: seqs[i], Tokens: next[i : i+1], Logits: true})
	}
	for step := 0; step < tg; step++ {
		if _, err := b.Eval(ctx, chunks); err != nil {
			return r, err
		}
		for i := range next {
			next[i] = int32(rng.IntN(vocab))
		}
	}
	r.tg = time.Since(t0)
	return r, nil
}
