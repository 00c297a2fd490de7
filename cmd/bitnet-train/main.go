// Command bitnet-train trains a BitNet b1.58 model (the 2B4T graph) from
// scratch on a text file and exports it as GGUF (F32, I2_S and TQ2_0) for
// bitnet-run and bitnet.cpp.
//
//	bitnet-train -train train.txt -valid valid.txt -vocab vocab.gguf -out runs/s
//	bitnet-train -out runs/s -resume      # continue a stopped or killed run
//	bitnet-train -plot runs/s             # redraw runs/s/loss.svg now
//
// The defaults are the reference recipe (testdata README, "trained-s"): dim
// 256, 4 layers, 4 heads / 2 KV heads, FFN 768, context 256, batch 12 × 256,
// 2,918,400 tokens (950 steps), warm-up 60 steps to 1.5e-3, the two-stage
// schedule, seed 1234. The run directory receives model-f32.gguf,
// model-i2_s.gguf, model-tq2_0.gguf, metrics.jsonl, loss.svg, summary.json,
// samples.txt, the checkpoint and the tokenized data shards. SIGINT or
// SIGTERM stops after the current step with a checkpoint; SIGUSR1 redraws
// loss.svg.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
	"github.com/bitnet-go/bitnet/train"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bitnet-train: %v\n", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

type options struct {
	trainPath, validPath, vocabPath, out, plotDir string
	docSep, sampling, formats, name               string
	c                                             train.Config
	batch, micro, threads, steps                  int
	tokens                                        int64
	lr, minLR, s1Floor, s2Start, wd, clip         float64
	beta1, beta2                                  float64
	warmup                                        int
	seed                                          uint64
	logEvery, valEvery, valWindows, ckptEvery     int
	resume                                        bool
	samples, sampleTokens                         int
	temp                                          float64
	shards                                        string // -shards (shards.go hook)
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
	fs.StringVar(&o.plotDir, "plot", "", "draw `dir`/loss.svg from dir/metrics.jsonl and exit")
	fs.IntVar(&o.c.Dim, "dim", 256, "embedding dimension")
	fs.IntVar(&o.c.Layers, "layers", 4, "number of blocks")
	fs.IntVar(&o.c.Heads, "heads", 4, "attention heads")
	fs.IntVar(&o.c.KVHeads, "kv-heads", 2, "key/value heads (grouped-query attention)")
	fs.IntVar(&o.c.FFN, "ffn", 768, "FFN hidden dimension")
	fs.IntVar(&o.c.Ctx, "ctx", 256, "training context (tokens per sequence, BOS included)")
	var eps, theta float64
	fs.Float64Var(&eps, "norm-eps", 1e-5, "RMSNorm epsilon")
	fs.Float64Var(&theta, "rope-theta", 500000, "RoPE base")
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
	fs.StringVar(&o.formats, "formats", "f32,i2_s,tq2_0", "export formats")
	fs.StringVar(&o.name, "name", "bitnet-train", "general.name of the exports")
	fs.IntVar(&o.samples, "samples", 3, "stories to sample from the I2_S export at the end")
	fs.IntVar(&o.sampleTokens, "sample-tokens", 120, "tokens per sample")
	fs.Float64Var(&o.temp, "temp", 0.7, "sampling temperature of the samples")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.c.NormEps, o.c.RopeBase = float32(eps), float32(theta)
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.plotDir != "" {
		svg := filepath.Join(o.plotDir, train.PlotFile)
		if err := train.PlotSVG(filepath.Join(o.plotDir, train.MetricsFile), svg); err != nil {
			return err
		}
		fmt.Fprintln(stdout, svg)
		return nil
	}
	if o.out == "" {
		return errors.New("-out is required")
	}
	if !o.resume && ((o.trainPath == "") == (o.shards == "") || o.vocabPath == "") {
		return errors.New("-vocab and one of -train and -shards are required (or -resume)")
	}
	vocabPath := o.vocabPath
	if vocabPath == "" {
		// A resumed run reads the vocabulary from its own export path record.
		b, err := os.ReadFile(filepath.Join(o.out, "vocab.path"))
		if err != nil {
			return errors.New("-vocab is required")
		}
		vocabPath = strings.TrimSpace(string(b))
	}
	vf, err := gguf.Open(vocabPath)
	if err != nil {
		return err
	}
	defer vf.Close()
	tok, err := tokenizer.FromGGUF(vf, tokenizer.Options{})
	if err != nil {
		return fmt.Errorf("%s: tokenizer: %w", vocabPath, err)
	}
	o.c.Vocab = tok.NumTokens()

	steps := o.steps
	if steps <= 0 {
		steps = int(o.tokens / int64(o.batch*o.c.Ctx))
	}
	opt := train.Options{
		Batch: o.batch, Micro: min(o.micro, o.batch), Steps: steps,
		Schedule: train.Schedule{Peak: o.lr, Warmup: o.warmup, Steps: steps, Stage1Floor: o.s1Floor,
			Stage2Start: o.s2Start, MinLR: o.minLR, WD: o.wd},
		Optimizer: train.AdamW{Beta1: o.beta1, Beta2: o.beta2, Eps: 1e-8, Clip: o.clip},
		Seed:      o.seed, Threads: o.threads, Sampling: o.sampling,
	}
	var formats []train.Format
	for _, f := range strings.Split(o.formats, ",") {
		if f = strings.TrimSpace(f); f != "" {
			formats = append(formats, train.Format(strings.ToLower(f)))
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if abs, err := filepath.Abs(vocabPath); err == nil {
		os.WriteFile(filepath.Join(o.out, "vocab.path"), []byte(abs+"\n"), 0o644)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			train.PlotSVG(filepath.Join(o.out, train.MetricsFile), filepath.Join(o.out, train.PlotFile))
		}
	}()

	if err := importShards(o, stderr); err != nil {
		return err
	}
	res, err := train.Run(ctx, train.RunConfig{
		OutDir: o.out, Model: o.c, Options: opt,
		TrainText: o.trainPath, ValidText: o.validPath, DocSep: o.docSep,
		Tokenizer: tok, Vocab: vf,
		LogEvery: o.logEvery, ValEvery: o.valEvery, ValWindows: o.valWindows, CkptEvery: o.ckptEvery,
		Formats: formats, Name: o.name, Resume: o.resume, Log: stderr,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "final: %d steps, %d tokens, %.0f tokens/s, train loss %.4f, validation loss %.4f (ppl %.2f)\n",
		res.Steps, res.Tokens, res.TokensPerSec, res.FinalTrainLoss, res.ValLoss, res.ValPPL)
	i2s := filepath.Join(o.out, train.ExportName(train.FormatI2S))
	if o.samples > 0 {
		if _, err := os.Stat(i2s); err == nil {
			return writeSamples(stdout, i2s, filepath.Join(o.out, "samples.txt"), o)
		}
	}
	return nil
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
	return os.WriteFile(outPath, []byte(b.String()), 0o644)
}
