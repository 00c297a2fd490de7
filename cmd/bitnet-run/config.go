package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/internal/sysmem"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
)

// Limits on what a flag may ask for. Every size is checked against these
// before anything is allocated; the context and batch are further checked
// against the machine's memory once the model is known (checkMemory).
const (
	// defaultCtx caps the default context (-c 0): llama-cli's default.
	defaultCtx = 4096
	// maxCtx is the largest context accepted: 1M tokens, far past the
	// training context of any BitNet model.
	maxCtx = 1 << 20
	// maxThreads is ggml's GGML_MAX_N_THREADS.
	maxThreads = 512
	// maxSeqs bounds --bench -npl.
	maxSeqs = 4096
	// maxReps bounds --bench -r.
	maxReps = 1000
	// maxTextBytes bounds the --perplexity text (it is tokenized whole, at
	// several bytes of memory per byte of text).
	maxTextBytes = 256 << 20
)

// config is the one resolved configuration every mode runs on: flags are
// checked and defaults applied here (resolve), and the settings that depend
// on the model are completed in one place once it is loaded (fit).
type config struct {
	mode  string // a key of modes
	model string

	// -c as given (0: default) and the context every mode uses (set by fit).
	ctxFlag, ctx int
	batch        int
	threads      int // the thread count (the largest of the list with --bench)

	// generation
	prompt, promptFile string
	nPredict           int
	sampling           sampler.Params // RepeatLastN is resolved by fit
	randomSeed         bool
	ignoreEOS, ids     bool
	noBOS              bool
	logitsFile         string

	// perplexity
	textFile string

	// bench
	benchPrompts, benchGens, benchThreads []int
	npl                                   []int // --bench -npl (batched.go)
	reps                                  int

	pre        string
	headInt8   bool
	noMmap     bool
	cpuProfile string

	chat chatOptions // chat mode (chat.go)
	ev   evalOptions // evaluation modes (eval.go)
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// selectMode picks the mode from the flags; at most one may be chosen. A new
// mode adds one pick line here and one entry in modes (main.go).
func selectMode(o *options) (string, error) {
	mode, chosen := "generate", []string(nil)
	pick := func(on bool, name, flag string) {
		if on {
			mode, chosen = name, append(chosen, flag)
		}
	}
	pick(o.bench, "bench", "--bench")
	// --kl-divergence-base without --kl-divergence reads the text of
	// --perplexity FILE, as llama-perplexity does: that is the eval mode.
	pick(o.pplFile != "" && !o.ev.active(), "perplexity", "--perplexity")
	pick(o.ev.active(), "eval", "--hellaswag/--winogrande/--multiple-choice/--kl-divergence")
	pick(o.chat, "chat", "-cnv")
	if !o.chat && (o.system != "" || o.chatTemplate != "" || o.templateFile != "") {
		return "", usagef("-sys and --chat-template need chat mode (-cnv)")
	}
	if len(chosen) > 1 {
		return "", usagef("%s cannot be combined", strings.Join(chosen, " and "))
	}
	return mode, nil
}

// resolve checks the flags and applies every default that does not depend
// on the model. All its errors are usage errors.
func resolve(o *options, pos []string) (*config, error) {
	c := &config{
		model: o.model, ctxFlag: o.ctx, batch: o.batch, pre: o.pre,
		prompt: o.prompt, promptFile: o.promptFile, ignoreEOS: o.ignoreEOS, ids: o.ids,
		noBOS: o.noBOS, logitsFile: o.logitsFile, textFile: o.pplFile,
		headInt8: o.headInt8, noMmap: o.noMmap, cpuProfile: o.cpuProfile, reps: o.reps,
		chat: o.chatOptions, ev: o.ev,
	}
	var err error
	if c.mode, err = selectMode(o); err != nil {
		return nil, err
	}
	switch {
	case len(pos) > 1:
		return nil, usagef("unexpected arguments %q", pos[1:])
	case len(pos) == 1 && c.model != "":
		return nil, usagef("model given twice: -m %s and %s", c.model, pos[0])
	case len(pos) == 1:
		c.model = pos[0]
	}
	if c.model == "" {
		return nil, usagef("no model: give a GGUF file with -m FILE or as the first argument")
	}
	if c.ctxFlag < 0 || c.ctxFlag > maxCtx {
		return nil, usagef("-c %d: the context size must be between 0 (the model's) and %d", c.ctxFlag, maxCtx)
	}
	if c.batch < 1 {
		return nil, usagef("-b %d: need at least one token per batch", c.batch)
	}
	if o.format != "md" {
		return nil, usagef("-o %s: only md is supported", o.format)
	}
	if c.mode == "bench" {
		if err := c.resolveBench(o); err != nil {
			return nil, err
		}
		if o.npl != "" {
			if c.npl, err = parseList(o.npl, "-npl", maxSeqs); err != nil {
				return nil, err
			}
			for _, b := range c.npl {
				if b < 1 {
					return nil, usagef("-npl %d: need at least one sequence", b)
				}
			}
			c.mode = "batched-bench"
		}
	} else if o.npl != "" {
		return nil, usagef("-npl applies to --bench only")
	} else {
		if c.threads, err = strconv.Atoi(o.threadList); err != nil {
			return nil, usagef("-t %q: not a number", o.threadList)
		}
		if err := checkThreads(c.threads); err != nil {
			return nil, err
		}
		if c.nPredict, err = strconv.Atoi(o.nPredictStr); err != nil {
			return nil, usagef("-n %q: not a number", o.nPredictStr)
		}
	}
	if c.prompt != "" && c.promptFile != "" {
		return nil, usagef("give the prompt with -p or -f, not both")
	}
	if c.logitsFile != "" && c.mode != "generate" {
		return nil, usagef("--logits writes the logits of a generation; it cannot be combined with --%s", c.mode)
	}
	if err := c.resolveSampling(o); err != nil {
		return nil, err
	}
	// Refuse outputs that may not be replaced before any work is done.
	for _, out := range []string{c.logitsFile, c.cpuProfile} {
		if out != "" {
			if err := atomicfile.CheckDestination(out); err != nil {
				return nil, usageError{err}
			}
		}
	}
	return c, nil
}

func checkThreads(t int) error {
	if t < 1 || t > maxThreads {
		return usagef("-t %d: the thread count must be between 1 and %d", t, maxThreads)
	}
	return nil
}

func (c *config) resolveBench(o *options) error {
	pp, tg := "512", "128"
	if o.set["p"] {
		pp = o.prompt
	}
	if o.set["n"] {
		tg = o.nPredictStr
	}
	c.prompt = ""
	var err error
	if c.benchPrompts, err = parseList(pp, "-p", maxCtx); err != nil {
		return err
	}
	if c.benchGens, err = parseList(tg, "-n", maxCtx); err != nil {
		return err
	}
	if c.benchThreads, err = parseList(o.threadList, "-t", maxThreads); err != nil {
		return err
	}
	for _, t := range c.benchThreads {
		if err := checkThreads(t); err != nil {
			return err
		}
		c.threads = max(c.threads, t)
	}
	if c.reps < 1 || c.reps > maxReps {
		return usagef("-r %d: the repetitions must be between 1 and %d", c.reps, maxReps)
	}
	if o.promptFile != "" {
		return usagef("-f cannot be combined with --bench (-p is a list of prompt lengths there)")
	}
	return nil
}

// parseList parses "1,2,4" into numbers between 0 and limit.
func parseList(s, what string, limit int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 || v > limit {
			return nil, usagef("%s %q: want a comma-separated list of numbers from 0 to %d", what, s, limit)
		}
		out = append(out, v)
	}
	return out, nil
}

func (c *config) resolveSampling(o *options) error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"--temp", o.temp}, {"--top-p", o.topP}, {"--min-p", o.minP},
		{"--repeat-penalty", o.repeatPenalty}, {"--presence-penalty", o.presencePenalty},
		{"--frequency-penalty", o.frequencyPenalty},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || math.Abs(f.v) > math.MaxFloat32 {
			return usagef("%s %v: not a finite number", f.name, f.v)
		}
	}
	c.sampling = sampler.Params{
		Temp: float32(o.temp), TopK: o.topK, TopP: float32(o.topP), MinP: float32(o.minP),
		RepeatPenalty: float32(o.repeatPenalty), FreqPenalty: float32(o.frequencyPenalty),
		PresencePenalty: float32(o.presencePenalty), RepeatLastN: o.repeatLastN,
		Seed: uint64(o.seed),
	}
	c.randomSeed = o.seed < 0
	return nil
}

// contextSize is the one place -c is resolved, for every mode: the value
// given, or by default the model's training context (at most defaultCtx),
// raised to need, the least context the mode's work requires (the largest
// --bench test; 0 for the other modes).
func contextSize(flagCtx, trainCtx, need int) int {
	if flagCtx > 0 {
		return flagCtx
	}
	ctx := defaultCtx
	if trainCtx > 0 {
		ctx = min(ctx, trainCtx)
	}
	return max(ctx, need)
}

// need is the least context the mode's work requires.
func (c *config) need() int {
	n := 0
	for _, v := range append(append([]int(nil), c.benchPrompts...), c.benchGens...) {
		n = max(n, v)
	}
	return n
}

// fit completes the configuration for the loaded model: the context, the
// penalty window, and the check that the machine can hold the state.
func (c *config) fit(m *runtime.Model, modelBytes int64) error {
	c.ctx = contextSize(c.ctxFlag, m.TrainCtx, c.need())
	if n := c.need(); n > c.ctx {
		return usagef("a --bench test of %d tokens does not fit the context of %d (raise -c)", n, c.ctx)
	}
	// The penalty window never holds more than the context: -1 (llama.cpp's
	// "the context size") and anything larger mean the same window.
	if n := c.sampling.RepeatLastN; n < 0 || n > c.ctx {
		c.sampling.RepeatLastN = c.ctx
	}
	return checkMemory(&m.Config, c.stateShape(), modelBytes)
}

// stateShape is the size of the runtime state the mode will make.
func (c *config) stateShape() stateShape {
	s := stateShape{ctx: c.ctx, batch: min(c.batch, c.ctx), threads: c.threads, logitRows: 1}
	switch c.mode {
	case "perplexity":
		s.logitRows = c.ctx // every position of a chunk is scored
	case "generate":
		if c.logitsFile != "" {
			s.logitRows = c.ctx // prompt rows, at most the context
		}
	case "batched-bench":
		// B sequences of PP+TG tokens each, in passes of B+2 rows or more.
		maxB, pp, tg := 0, 0, 0
		for _, b := range c.npl {
			maxB = max(maxB, b)
		}
		for _, v := range c.benchPrompts {
			pp = max(pp, v)
		}
		for _, v := range c.benchGens {
			tg = max(tg, v)
		}
		s.ctx = maxB * (pp + tg)
		// The pass's rows, and the one-row forward buffers of each
		// sequence's session (their attention scores are in the threads ×
		// ctx term).
		s.batch = max(c.batch, maxB+2) + maxB
		s.logitRows = maxB
	}
	return s
}

// stateShape is what sizes a runtime.State.
type stateShape struct{ ctx, batch, threads, logitRows int }

// stateBytes estimates the memory of a runtime.State (see NewState and
// Forward): the F16 KV cache, the per-token buffers of a batch, the
// attention scores of each thread and the logits rows.
func stateBytes(m *runtime.Config, s stateShape) float64 {
	f := func(n int) float64 { return float64(n) }
	kv := 2 * 2 * f(m.Layers) * f(s.ctx) * f(m.KVDim())
	perTok := 4*(3*f(m.Dim)+2*f(m.QDim())+2*f(m.KVDim())+2*f(m.FFN)+f(m.HeadDim)) + 2*f(m.QDim())
	return kv + f(s.batch)*perTok + 4*f(s.threads)*f(s.ctx) + 4*f(s.logitRows)*f(m.Vocab)
}

// totalMemory is the machine's memory (a variable so tests can shrink it).
var totalMemory = sysmem.Total

var errTooBig = errors.New("the machine's memory cannot hold it")

// checkMemory refuses a state that, with the model, needs more than the
// machine's physical memory.
func checkMemory(m *runtime.Config, s stateShape, modelBytes int64) error {
	total, ok := totalMemory()
	if !ok {
		return nil // the fixed limits of resolve still apply
	}
	need := stateBytes(m, s) + float64(modelBytes)
	if need > float64(total) {
		return fmt.Errorf("a context of %d tokens (batch %d, %d threads) needs about %.1f GiB with the model; %w (%.1f GiB): lower -c, -b or -t",
			s.ctx, s.batch, s.threads, need/(1<<30), errTooBig, float64(total)/(1<<30))
	}
	return nil
}
