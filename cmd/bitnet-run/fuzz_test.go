package main

import (
	"errors"
	"math"
	"testing"

	"github.com/bitnet-go/bitnet/runtime"
)

// FuzzSamplingFlags feeds arbitrary text to the sampling flags: resolve
// must accept it or return a usage error (never panic), and what it accepts
// must be finite, with a penalty window that fits the context once fitted.
func FuzzSamplingFlags(f *testing.F) {
	f.Add("0.8", "40", "0.95", "0.05", "1.0", "64", "0", "0", "-1")
	f.Add("NaN", "-1", "Inf", "-Inf", "1e39", "1000000000000", "0x1p-2", "1_000", "9223372036854775807")
	f.Add("", "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, temp, topK, topP, minP, repPen, lastN, presence, freq, seed string) {
		var o options
		fs := newFlags(&o)
		args := []string{"model.gguf", "--temp", temp, "--top-k", topK, "--top-p", topP, "--min-p", minP,
			"--repeat-penalty", repPen, "--repeat-last-n", lastN, "--presence-penalty", presence,
			"--frequency-penalty", freq, "-s", seed}
		pos, err := parseArgs(fs, &o, args)
		if err != nil {
			return // the flag package's parse error: a usage error in run
		}
		cfg, err := resolve(&o, pos)
		if err != nil {
			if !errors.As(err, new(usageError)) {
				t.Fatalf("%q: %v is not a usage error", args, err)
			}
			return
		}
		p := cfg.sampling
		for _, v := range []float32{p.Temp, p.TopP, p.MinP, p.RepeatPenalty, p.PresencePenalty, p.FreqPenalty} {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%q: accepted a non-finite parameter: %+v", args, p)
			}
		}
		m := &runtime.Model{Config: runtime.Config{Dim: 8, Layers: 1, Heads: 1, KVHeads: 1, HeadDim: 8, FFN: 8, Vocab: 16, RopeDim: 8, TrainCtx: 32}}
		if err := cfg.fit(m, 0); err != nil {
			t.Fatalf("%q: fit: %v", args, err)
		}
		if n := cfg.sampling.RepeatLastN; n < 0 || n > cfg.ctx {
			t.Fatalf("%q: penalty window %d for a context of %d", args, n, cfg.ctx)
		}
	})
}
