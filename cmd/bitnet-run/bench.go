package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/gguf"
)

// runBench measures prompt processing (pp) and generation (tg) speed the
// way llama-bench does and prints its markdown table, plus the streaming
// read bandwidth measured in the same run. Every test runs from an empty
// cache of the configured context, in batches of -b tokens.
func runBench(s *session) error {
	cfg, m, stdout, stderr := s.cfg, s.m, s.stdout, s.stderr
	file := m.GGUF()
	var size, params uint64
	for i := range file.Tensors {
		size += file.Tensors[i].Size
		params += file.Tensors[i].Elements()
	}
	name := fmt.Sprintf("%s %s", m.Arch(), fileType(file))
	sizeStr := fmt.Sprintf("%.2f GiB", float64(size)/(1<<30))
	if size < 1<<30 {
		sizeStr = fmt.Sprintf("%.2f MiB", float64(size)/(1<<20))
	}
	paramStr := fmt.Sprintf("%.2f B", float64(params)/1e9)
	if params < 1e9 {
		paramStr = fmt.Sprintf("%.2f M", float64(params)/1e6)
	}
	fmt.Fprintf(stderr, "kernels: %s, context: %d, batch: %d\n", asm.Impl(), cfg.ctx, cfg.batch)
	fmt.Fprintf(stdout, "| %-30s | %10s | %10s | %-10s | %7s | %13s | %20s |\n", "model", "size", "params", "backend", "threads", "test", "t/s")
	fmt.Fprintf(stdout, "| %s | %s: | %s: | %s | %s: | %s: | %s: |\n", strings.Repeat("-", 30), strings.Repeat("-", 9), strings.Repeat("-", 9), strings.Repeat("-", 10), strings.Repeat("-", 6), strings.Repeat("-", 12), strings.Repeat("-", 19))
	rng := rand.New(rand.NewPCG(1, 2))
	randTokens := func(n int) []int32 {
		t := make([]int32, n)
		for i := range t {
			t[i] = int32(rng.IntN(m.VocabSize()))
		}
		return t
	}
	ctx := context.Background()
	for _, nt := range cfg.benchThreads {
		err := func() error {
			st, err := s.newSession(nt) // a test's own nt threads
			if err != nil {
				return err
			}
			defer st.Close()
			row := func(test string, n int, once func() error) error {
				var rates []float64
				for r := 0; r <= cfg.reps; r++ { // the first run warms up
					st.Reset()
					t0 := time.Now()
					if err := once(); err != nil {
						return err
					}
					if r > 0 {
						rates = append(rates, float64(n)/time.Since(t0).Seconds())
					}
				}
				mean, sd := meanSD(rates)
				fmt.Fprintf(stdout, "| %-30s | %10s | %10s | %-10s | %7d | %13s | %20s |\n",
					name, sizeStr, paramStr, "CPU", nt, test, fmt.Sprintf("%.2f ± %.2f", mean, sd))
				return nil
			}
			for _, p := range cfg.benchPrompts {
				if p == 0 {
					continue
				}
				toks := randTokens(p)
				if err := row(fmt.Sprintf("pp%d", p), p, func() error {
					_, err := st.Eval(ctx, toks, false)
					return err
				}); err != nil {
					return err
				}
			}
			for _, n := range cfg.benchGens {
				if n == 0 {
					continue
				}
				toks := randTokens(n)
				if err := row(fmt.Sprintf("tg%d", n), n, func() error {
					for _, t := range toks {
						if _, err := st.Eval(ctx, []int32{t}, false); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "streaming read bandwidth, %d thread(s): %.1f GB/s\n", nt, readBandwidth(nt))
	}
	return nil
}

func meanSD(x []float64) (float64, float64) {
	var s float64
	for _, v := range x {
		s += v
	}
	mean := s / float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	var v float64
	for _, e := range x {
		v += (e - mean) * (e - mean)
	}
	return mean, math.Sqrt(v / float64(len(x)-1))
}

func fileType(f *gguf.File) string {
	counts := map[gguf.Type]uint64{}
	for i := range f.Tensors {
		counts[f.Tensors[i].Type] += f.Tensors[i].Elements()
	}
	// Name the file after the format holding most of the block weights.
	best, bestN := gguf.F32, uint64(0)
	for t, n := range counts {
		if t != gguf.F32 && n > bestN && !(t == gguf.F16 && counts[gguf.I2_S]+counts[gguf.TQ1_0]+counts[gguf.TQ2_0] > 0) {
			best, bestN = t, n
		}
	}
	return strings.ToUpper(best.String())
}

// bandwidthBytes is the buffer readBandwidth streams through (tests make
// it small: filling it is slow under -race).
var bandwidthBytes = 512 << 20

// readBandwidth measures how fast threads goroutines can stream through a
// 512 MiB buffer with asm.MemSum (best of 3), in GB/s.
func readBandwidth(threads int) float64 {
	buf := make([]byte, bandwidthBytes)
	for i := range buf {
		buf[i] = byte(i)
	}
	best := 0.0
	var sink uint64
	per := len(buf) / threads &^ 63
	sums := make([]uint64, threads)
	for r := 0; r < 3; r++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < threads; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				sums[w] = asm.MemSum(buf[w*per : (w+1)*per])
			}(w)
		}
		wg.Wait()
		el := time.Since(t0).Seconds()
		for _, s := range sums {
			sink += s
		}
		best = max(best, float64(per*threads)/el/1e9)
	}
	_ = sink
	return best
}
