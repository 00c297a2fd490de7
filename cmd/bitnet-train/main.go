// Command bitnet-train trains a BitNet b1.58 model (the 2B4T graph) from
// scratch on a text file and exports it as GGUF (F32, I2_S and TQ2_0) for
// bitnet-run and bitnet.cpp.
//
//	bitnet-train -train train.txt -valid valid.txt -vocab vocab.gguf -out runs/s
//	bitnet-train -out runs/s -resume      # continue a stopped or killed run
//	bitnet-train -plot runs/s             # redraw runs/s/loss.svg and ternary.svg now
//
// The defaults are the reference recipe (testdata README, "trained-s"): dim
// 256, 4 layers, 4 heads / 2 KV heads, FFN 768, context 256, batch 12 × 256,
// 2,918,400 tokens (950 steps), warm-up 60 steps to 1.5e-3, the two-stage
// schedule, seed 1234. The run directory receives model-f32.gguf,
// model-i2_s.gguf, model-tq2_0.gguf, metrics.jsonl (with the per-matrix
// weight statistics every -stats-every steps), loss.svg, ternary.svg,
// summary.json (with each export's bits per parameter), samples.txt, run.json (what the run was made from: the inputs' sizes and
// SHA-256, the shape and hyperparameters), the checkpoint and the tokenized
// data shards. A fresh run reuses shards only when run.json shows they were
// made from the same inputs; -resume refuses inputs or settings that differ
// from the run's (-allow-changes lets the optimizer's settings change).
//
// SIGINT or SIGTERM stops after the current step with a checkpoint and exits
// with status 130 or 143; a second signal quits at once, removing partly
// written files. SIGUSR1 (not on Windows) redraws loss.svg and ternary.svg. Usage errors
// exit with status 2, other errors with 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
	"github.com/bitnet-go/bitnet/train"
)

func main() {
	ctx, sig, stop := withSignals(context.Background(), os.Stderr)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, sig.received(), os.Stderr))
}

// usageError is a misuse of the command line (exit status 2).
type usageError struct {
	err     error
	printed bool // the flag package already printed it
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// interrupted is a run stopped by a signal after saving a checkpoint.
type interrupted struct {
	steps int
	out   string
	err   error
}

func (e *interrupted) Error() string { return e.err.Error() }
func (e *interrupted) Unwrap() error { return e.err }

// exitCode prints err and returns the process's exit status: 0, 2 for
// usage errors, 128+n after signal n, 1 otherwise.
func exitCode(err error, sig os.Signal, stderr io.Writer) int {
	var ue *usageError
	var in *interrupted
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.printed {
			fmt.Fprintf(stderr, "bitnet-train: %v\n", err)
		}
		return 2
	case errors.As(err, &in) && sig != nil && in.steps == 0:
		fmt.Fprintf(stderr, "bitnet-train: %v: stopped before the first step (nothing to resume)\n", signalName(sig))
		return signalStatus(sig)
	case errors.As(err, &in) && sig != nil:
		fmt.Fprintf(stderr, "bitnet-train: %v: stopped after step %d; the checkpoint in %s holds it (continue with: bitnet-train -out %s -resume)\n",
			signalName(sig), in.steps, in.out, in.out)
		return signalStatus(sig)
	}
	fmt.Fprintf(stderr, "bitnet-train: %v\n", err)
	if sig != nil {
		return signalStatus(sig)
	}
	return 1
}

type options struct {
	trainPath, validPath, vocabPath, out, plotDir string
	docSep, sampling, formats, name               string
	toHF                                          string
	c                                             train.Config
	batch, micro, threads, steps                  int
	tokens                                        int64
	lr, minLR, s1Floor, s2Start, wd, clip         float64
	beta1, beta2                                  float64
	warmup                                        int
	seed                                          uint64
	logEvery, valEvery, valWindows, ckptEvery     int
	statsEvery                                    int
	resume, allowChanges                          bool
	samples, sampleTokens                         int
	temp                                          float64
	eps, theta                                    float64
	shards                                        string // -shards (shards.go)

	set  map[string]bool // flags given on the command line
	fmts []train.Format
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bitnet-train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.trainPath, "train", "", "training text `file`")
	fs.StringVar(&o.shards, "shards", "", "train from token shards: bitnet-data output `dir`s or shard files, comma-separated (instead of -train)")
	fs.StringVar(&o.validPath, "valid", "", "validation text `file` (default: the last 5% of the training tokens)")
	fs.StringVar(&o.vocabPath, "vocab", "", "GGUF `file` whose tokenizer (tokenizer.* keys) tokenizes the data and goes into the exports")
	fs.StringVar(&o.out, "out", "", "run `dir`ectory (checkpoint, metrics, plots, exports)")
	fs.BoolVar(&o.resume, "resume", false, "continue the run in -out from its checkpoint")
	fs.BoolVar(&o.allowChanges, "allow-changes", false, "with -resume: continue with changed optimizer settings (-batch, -micro, -steps/-tokens, -lr, -warmup, -s1-floor, -s2-start, -min-lr, -wd, -clip, -beta1, -beta2) instead of refusing them")
	fs.StringVar(&o.plotDir, "plot", "", "draw `dir`/loss.svg and dir/ternary.svg from dir/metrics.jsonl and exit")
	fs.IntVar(&o.c.Dim, "dim", 256, "embedding dimension")
	fs.IntVar(&o.c.Layers, "layers", 4, "number of blocks")
	fs.IntVar(&o.c.Heads, "heads", 4, "attention heads")
	fs.IntVar(&o.c.KVHeads, "kv-heads", 2, "key/value heads (grouped-query attention)")
	fs.IntVar(&o.c.FFN, "ffn", 768, "FFN hidden dimension")
	fs.IntVar(&o.c.Ctx, "ctx", 256, "training context (tokens per sequence, BOS included; at least 2)")
	fs.Float64Var(&o.eps, "norm-eps", 1e-5, "RMSNorm epsilon")
	fs.Float64Var(&o.theta, "rope-theta", 500000, "RoPE base")
	fs.IntVar(&o.batch, "batch", 12, "sequences per optimizer step")
	fs.IntVar(&o.micro, "micro", 4, "sequences per forward/backward pass (gradient accumulation over batch/micro passes)")
	fs.Int64Var(&o.tokens, "tokens", 2918400, "training tokens (steps = tokens / (batch·ctx))")
	fs.IntVar(&o.steps, "steps", 0, "optimizer steps (overrides -tokens)")
	fs.Float64Var(&o.lr, "lr", 1.5e-3, "peak learning rate")
	fs.IntVar(&o.warmup, "warmup", 60, "warm-up steps")
	fs.Float64Var(&o.s1Floor, "s1-floor", 0.5, "stage 1 ends at this fraction of the peak learning rate")
	fs.Float64Var(&o.s2Start, "s2-start", 0.2, "stage 2 starts at this fraction of the peak learning rate")
	fs.Float64Var(&o.minLR, "min-lr", 1e-6, "learning rate at the last step")
	fs.Float64Var(&o.wd, "wd", 0.1, "stage-1 weight decay (ternary weights only)")
	fs.Float64Var(&o.clip, "clip", 1.0, "gradient clipping norm (0: off)")
	fs.Float64Var(&o.beta1, "beta1", 0.9, "AdamW β1")
	fs.Float64Var(&o.beta2, "beta2", 0.95, "AdamW β2")
	fs.Uint64Var(&o.seed, "seed", 1234, "random seed (initialization and data order)")
	fs.IntVar(&o.threads, "t", min(goruntime.NumCPU(), 2), "threads")
	fs.StringVar(&o.sampling, "sampling", train.SampleRef, "rows: ref (half at paragraph starts, half at random offsets) or packed (shuffled consecutive sequences)")
	fs.StringVar(&o.docSep, "doc-sep", "", "document separator in the texts; documents are joined with EOS (default: each file is one document)")
	fs.IntVar(&o.logEvery, "log-every", 10, "steps between metrics.jsonl lines")
	fs.IntVar(&o.valEvery, "val-every", 100, "steps between validations")
	fs.IntVar(&o.valWindows, "val-windows", 64, "validation windows at each periodic check (0: all; the final check uses all)")
	fs.IntVar(&o.ckptEvery, "ckpt-every", 50, "steps between checkpoints")
	fs.IntVar(&o.statsEvery, "stats-every", 0, "steps between the weight statistics in metrics.jsonl and ternary.svg (per BitLinear matrix: γ, shares of −1/0/+1, histogram of W/γ); 0: none (default: -val-every)")
	fs.StringVar(&o.formats, "formats", "f32,i2_s,tq2_0", "export formats (comma-separated: f32, i2_s, tq2_0; empty: none)")
	fs.StringVar(&o.name, "name", "bitnet-train", "general.name of the exports")
	fs.StringVar(&o.toHF, "to-hf", "", "also write the trained model as a Hugging Face checkpoint (transformers' BitNetForCausalLM, packed ternary weights) into `dir`, from the i2_s or f32 export")
	fs.IntVar(&o.samples, "samples", 3, "stories to sample from the I2_S export at the end")
	fs.IntVar(&o.sampleTokens, "sample-tokens", 120, "tokens per sample")
	fs.Float64Var(&o.temp, "temp", 0.7, "sampling temperature of the samples")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err: err, printed: true}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected arguments %q", fs.Args())
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	o.c.NormEps, o.c.RopeBase = float32(o.eps), float32(o.theta)
	if err := o.check(); err != nil {
		return nil, &usageError{err: err}
	}
	return o, nil
}

// check validates the flags that need no file: every size is bounded
// before anything is allocated.
func (o *options) check() error {
	between := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("-%s %d: must be between %d and %d", name, v, lo, hi)
		}
		return nil
	}
	for _, e := range []error{
		between("dim", o.c.Dim, 1, train.MaxDim), between("ffn", o.c.FFN, 1, train.MaxDim),
		between("layers", o.c.Layers, 1, train.MaxLayers), between("heads", o.c.Heads, 1, o.c.Dim),
		between("kv-heads", o.c.KVHeads, 1, o.c.Heads), between("ctx", o.c.Ctx, 2, train.MaxCtx),
		between("batch", o.batch, 1, train.MaxBatch), between("micro", o.micro, 1, train.MaxBatch),
		between("steps", o.steps, 0, train.MaxSteps), between("warmup", o.warmup, 0, train.MaxSteps),
		between("t", o.threads, 1, train.MaxThreads),
		between("log-every", o.logEvery, 1, train.MaxSteps), between("val-every", o.valEvery, 1, train.MaxSteps),
		between("ckpt-every", o.ckptEvery, 1, train.MaxSteps), between("stats-every", o.statsEvery, 0, train.MaxSteps), between("val-windows", o.valWindows, 0, math.MaxInt32),
		between("samples", o.samples, 0, 1000), between("sample-tokens", o.sampleTokens, 1, train.MaxCtx),
	} {
		if e != nil {
			return e
		}
	}
	// With -resume, -tokens counts in the run's batch and context (checked
	// in resumeSettings).
	if !o.resume {
		if err := o.checkTokens(o.batch, o.c.Ctx); err != nil {
			return err
		}
	}
	if !(o.temp >= 0) || math.IsInf(o.temp, 0) {
		return fmt.Errorf("-temp %g: must be finite and not negative", o.temp)
	}
	fmts, err := train.ParseFormats(o.formats)
	if err != nil {
		return fmt.Errorf("-formats: %w", err)
	}
	o.fmts = fmts
	if err := o.checkToHF(); err != nil {
		return err
	}
	// The shape's and optimizer's own rules (vocabulary size aside).
	c := o.c
	c.Vocab = 1
	if err := c.Validate(); err != nil {
		return err
	}
	opt := o.trainOptions()
	if o.resume {
		opt.Steps, opt.Schedule.Steps = 1, 1
	}
	if err := opt.Validate(); err != nil {
		return err
	}
	return nil
}

func (o *options) checkTokens(batch, ctx int) error {
	if o.steps > 0 {
		return nil
	}
	if o.tokens <= 0 || o.tokens/int64(batch*ctx) < 1 {
		return fmt.Errorf("-tokens %d is less than one step of batch × ctx = %d tokens", o.tokens, batch*ctx)
	}
	if o.tokens/int64(batch*ctx) > train.MaxSteps {
		return fmt.Errorf("-tokens %d makes more than %d steps", o.tokens, train.MaxSteps)
	}
	return nil
}

func (o *options) stepsFor(batch, ctx int) int {
	if o.steps > 0 {
		return o.steps
	}
	return int(o.tokens / int64(batch*ctx))
}

// trainOptions are the options the flags set.
func (o *options) trainOptions() train.Options {
	steps := o.stepsFor(o.batch, o.c.Ctx)
	return train.Options{
		Batch: o.batch, Micro: min(o.micro, o.batch), Steps: steps,
		Schedule: train.Schedule{Peak: o.lr, Warmup: o.warmup, Steps: steps, Stage1Floor: o.s1Floor,
			Stage2Start: o.s2Start, MinLR: o.minLR, WD: o.wd},
		Optimizer: train.AdamW{Beta1: o.beta1, Beta2: o.beta2, Eps: 1e-8, Clip: o.clip},
		Seed:      o.seed, Threads: o.threads, Sampling: o.sampling,
	}
}

// resumeSettings are the checkpoint's shape and options with the flags
// given on the command line put over them, for train.Run to compare.
func (o *options) resumeSettings(h train.CheckpointHeader) (train.Config, train.Options, error) {
	c, opt := h.Config, h.Options
	for name, p := range map[string]*int{"dim": &c.Dim, "layers": &c.Layers, "heads": &c.Heads, "kv-heads": &c.KVHeads,
		"ffn": &c.FFN, "ctx": &c.Ctx, "batch": &opt.Batch, "micro": &opt.Micro, "warmup": &opt.Schedule.Warmup} {
		if o.set[name] {
			*p = map[string]int{"dim": o.c.Dim, "layers": o.c.Layers, "heads": o.c.Heads, "kv-heads": o.c.KVHeads,
				"ffn": o.c.FFN, "ctx": o.c.Ctx, "batch": o.batch, "micro": o.micro, "warmup": o.warmup}[name]
		}
	}
	for name, p := range map[string]*float64{"lr": &opt.Schedule.Peak, "s1-floor": &opt.Schedule.Stage1Floor,
		"s2-start": &opt.Schedule.Stage2Start, "min-lr": &opt.Schedule.MinLR, "wd": &opt.Schedule.WD,
		"clip": &opt.Optimizer.Clip, "beta1": &opt.Optimizer.Beta1, "beta2": &opt.Optimizer.Beta2} {
		if o.set[name] {
			*p = map[string]float64{"lr": o.lr, "s1-floor": o.s1Floor, "s2-start": o.s2Start, "min-lr": o.minLR,
				"wd": o.wd, "clip": o.clip, "beta1": o.beta1, "beta2": o.beta2}[name]
		}
	}
	if o.set["norm-eps"] {
		c.NormEps = o.c.NormEps
	}
	if o.set["rope-theta"] {
		c.RopeBase = o.c.RopeBase
	}
	if o.set["seed"] {
		opt.Seed = o.seed
	}
	if o.set["sampling"] {
		opt.Sampling = o.sampling
	}
	if o.set["steps"] || o.set["tokens"] {
		if c.Ctx < 2 || c.Ctx > train.MaxCtx || opt.Batch < 1 || opt.Batch > train.MaxBatch {
			return c, opt, fmt.Errorf("checkpoint of %s: batch %d, context %d", o.out, opt.Batch, c.Ctx)
		}
		if err := o.checkTokens(opt.Batch, c.Ctx); err != nil {
			return c, opt, err
		}
		opt.Steps = o.stepsFor(opt.Batch, c.Ctx)
	}
	opt.Schedule.Steps = opt.Steps
	opt.Threads = h.Options.Threads
	if o.set["t"] {
		opt.Threads = o.threads
	}
	return c, opt, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.plotDir != "" {
		written, err := train.PlotRun(o.plotDir)
		for _, p := range written {
			fmt.Fprintln(stdout, p)
		}
		return err
	}
	if o.out == "" {
		return usagef("-out is required")
	}
	if o.allowChanges && !o.resume {
		return usagef("-allow-changes only applies with -resume")
	}
	if !o.resume && ((o.trainPath == "") == (o.shards == "") || o.vocabPath == "") {
		return usagef("-vocab and one of -train and -shards are required (or -resume)")
	}
	var hdr train.CheckpointHeader
	vocabPath := o.vocabPath
	if o.resume {
		ckpt := filepath.Join(o.out, train.CheckpointFile)
		if hdr, err = train.ReadCheckpointHeader(ckpt); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("-resume: %s has no checkpoint (%s)", o.out, train.CheckpointFile)
			}
			return err
		}
		if vocabPath == "" {
			if vocabPath = recordedVocab(o.out); vocabPath == "" {
				return usagef("-vocab is required: %s does not record its vocabulary", o.out)
			}
		}
	}
	vf, err := gguf.Open(vocabPath)
	if err != nil {
		return err
	}
	defer vf.Close()
	tok, err := tokenizer.FromGGUF(vf, tokenizer.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", vocabPath, err) // err starts with "tokenizer: "
	}

	rc := train.RunConfig{
		OutDir: o.out, Model: o.c, Options: o.trainOptions(), AllowChanges: o.allowChanges,
		TrainText: o.trainPath, ValidText: o.validPath, VocabPath: o.vocabPath, DocSep: o.docSep,
		Tokenizer: tok, Vocab: vf,
		LogEvery: o.logEvery, ValEvery: o.valEvery, ValWindows: o.valWindows, CkptEvery: o.ckptEvery, StatsEvery: o.statsEvery,
		Formats: o.fmts, Name: o.name, Resume: o.resume, Log: stderr,
	}
	rc.Model.Vocab = tok.NumTokens()
	switch {
	case !o.set["stats-every"]:
		rc.StatsEvery = o.valEvery
	case o.statsEvery == 0:
		rc.StatsEvery = -1 // none
	}
	if !o.set["formats"] {
		rc.Formats = nil // the defaults, less those the shape cannot be stored in
	}
	if o.resume {
		if rc.Model, rc.Options, err = o.resumeSettings(hdr); err != nil {
			return &usageError{err: err}
		}
		rc.Model.Vocab = tok.NumTokens()
	} else {
		if err := rc.Model.Validate(); err != nil {
			return &usageError{err: err}
		}
		if err := train.CheckMemory(rc.Model, rc.Options); err != nil {
			return &usageError{err: err}
		}
	}

	stopRedraw := notifyRedraw(func() { train.PlotRun(o.out) })
	defer stopRedraw()

	if err := shardInputs(o, &rc); err != nil {
		return err
	}
	res, err := train.Run(ctx, rc)
	var mm *train.MismatchError
	switch {
	case err != nil && errors.Is(err, context.Canceled) && res != nil:
		return &interrupted{steps: res.Steps, out: o.out, err: err}
	case errors.As(err, &mm):
		return &usageError{err: err}
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "final: %d steps, %d tokens, %.0f tokens/s, train loss %.4f, validation loss %.4f (ppl %.2f)\n",
		res.Steps, res.Tokens, res.TokensPerSec, res.FinalTrainLoss, res.ValLoss, res.ValPPL)
	if o.toHF != "" {
		if err := exportHF(o.out, o.toHF, stdout, stderr); err != nil {
			return err
		}
	}
	i2s := filepath.Join(o.out, train.ExportName(train.FormatI2S))
	if o.samples > 0 {
		if _, err := os.Stat(i2s); err == nil {
			return writeSamples(stdout, i2s, filepath.Join(o.out, "samples.txt"), o)
		}
	}
	return nil
}

// recordedVocab is the vocabulary a run directory records: run.json's, or
// the vocab.path file of runs made before run.json existed.
func recordedVocab(dir string) string {
	if m, err := train.ReadManifest(dir); err == nil && m.Vocab != nil && m.Vocab.Path != "" {
		return m.Vocab.Path
	}
	if b, err := os.ReadFile(filepath.Join(dir, "vocab.path")); err == nil && len(b) < 1<<16 {
		return strings.TrimSpace(string(b))
	}
	return ""
}

// writeSamples loads the I2_S export with the runtime (which checks that it
// loads) and writes a few sampled stories.
func writeSamples(stdout io.Writer, modelPath, outPath string, o *options) error {
	m, err := loader.Load(modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	tok, err := tokenizer.FromGGUF(m.File, tokenizer.Options{})
	if err != nil {
		return err
	}
	pool := runtime.NewPool(o.threads)
	defer pool.Close()
	prompts := []string{"once upon a time", "one day, a little girl named lily", "the dog ran to the park and"}
	var b strings.Builder
	for i := 0; i < o.samples; i++ {
		prompt := prompts[i%len(prompts)]
		st, err := runtime.NewState(m.Model, min(m.TrainCtx, 1+len(prompt)+o.sampleTokens+8), 0, pool)
		if err != nil {
			return err
		}
		p := sampler.DefaultParams()
		p.Temp, p.Seed = float32(o.temp), uint64(i+1)
		smp := sampler.New(p, m.Vocab)
		ids := tok.Encode(prompt, true, false)
		t0 := time.Now()
		out, err := st.Generate(ids, smp, runtime.GenerateOptions{MaxTokens: o.sampleTokens, IsEOG: tok.IsEOG})
		if err != nil && !errors.Is(err, runtime.ErrContextFull) {
			return err
		}
		fmt.Fprintf(&b, "--- sample %d (temp %.2f, %d tokens, %s)\n%s%s\n\n", i+1, o.temp, len(out),
			time.Since(t0).Round(time.Millisecond), prompt, tok.Detokenize(out, false, false))
	}
	fmt.Fprint(stdout, b.String())
	return atomicfile.WriteFile(outPath, atomicfile.Mode, func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
}
