// Command bitnet-run runs a BitNet b1.58 GGUF model: text generation with a
// KV cache and llama.cpp's samplers, perplexity, and scripting outputs.
//
//	bitnet-run model.gguf -p "Once upon a time"
//	bitnet-run -m model.gguf -p "Once upon" -n 64 --temp 0 --ids
//	bitnet-run -m model.gguf --perplexity valid.txt -c 128
//
// Flags follow llama.cpp's CLI (llama-cli / llama-perplexity).
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/sampler"
)

type options struct {
	model, prompt, promptFile string
	nPredict, ctx, threads    int
	batch                     int
	seed                      int64
	temp, topP, minP          float64
	topK, repeatLastN         int
	repeatPenalty             float64
	presencePenalty           float64
	frequencyPenalty          float64
	ignoreEOS, ids            bool
	logitsFile, pplFile       string
	pre                       string
	noBOS                     bool
	ctxSet                    bool

	// --bench mode (llama-bench style): -p and -n are lists of token counts,
	// -t a list of thread counts.
	bench                   bool
	benchPrompt, benchGen   string
	threadList, nPredictStr string
	reps                    int
	promptSet, nSet         bool
	cpuProfile              string
	headInt8                bool
	npl                     string // --bench -npl: parallel sequences (batched.go)

	chatOptions // chat mode (chat.go)
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "bitnet-run: %v\nRun 'bitnet-run -h' for the flags.\n", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "bitnet-run: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// parseArgs parses flags that may come before or after the positional
// model path (Go's flag package stops at the first positional argument).
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func newFlags(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bitnet-run", flag.ContinueOnError)
	// Parse errors are reported once by main; -h prints the flags.
	fs.SetOutput(io.Discard)
	str := func(p *string, names, def, usage string) {
		for _, n := range strings.Split(names, ",") {
			fs.StringVar(p, n, def, usage)
		}
	}
	num := func(p *int, names string, def int, usage string) {
		for _, n := range strings.Split(names, ",") {
			fs.IntVar(p, n, def, usage)
		}
	}
	flt := func(p *float64, names string, def float64, usage string) {
		for _, n := range strings.Split(names, ",") {
			fs.Float64Var(p, n, def, usage)
		}
	}
	str(&o.model, "m,model", "", "model `file` (GGUF); may also be given as the first argument")
	str(&o.prompt, "p,prompt", "", "prompt `text`")
	str(&o.promptFile, "f,file", "", "read the prompt from `file`")
	str(&o.nPredictStr, "n,n-predict", "-1", "number of tokens to generate (-1: until end of text or a full context); with --bench, a list of generation lengths")
	num(&o.ctx, "c,ctx-size", 0, "context size in tokens (0: the model's training context, at most 4096)")
	str(&o.threadList, "t,threads", strconv.Itoa(goruntime.NumCPU()), "number of threads; with --bench, a list such as 1,2")
	num(&o.batch, "b,batch-size", 512, "maximum tokens per forward pass when evaluating the prompt")
	fs.Int64Var(&o.seed, "s", -1, "random seed (-1: random)")
	fs.Int64Var(&o.seed, "seed", -1, "random seed (-1: random)")
	flt(&o.temp, "temp", 0.8, "temperature (≤ 0: greedy)")
	num(&o.topK, "top-k", 40, "top-k sampling (≤ 0: off)")
	flt(&o.topP, "top-p", 0.95, "top-p sampling (1: off)")
	flt(&o.minP, "min-p", 0.05, "min-p sampling (0: off)")
	flt(&o.repeatPenalty, "repeat-penalty", 1.0, "penalty for repeated tokens (1: off)")
	num(&o.repeatLastN, "repeat-last-n", 64, "last n tokens the penalties consider (-1: the context size)")
	flt(&o.presencePenalty, "presence-penalty", 0, "presence penalty (0: off)")
	flt(&o.frequencyPenalty, "frequency-penalty", 0, "frequency penalty (0: off)")
	fs.BoolVar(&o.ignoreEOS, "ignore-eos", false, "keep generating after an end-of-generation token")
	fs.BoolVar(&o.ids, "ids", false, "print the prompt and output token ids instead of text")
	str(&o.logitsFile, "logits", "", "write float32 logits rows (prompt positions, then each generated token) to `file`")
	str(&o.pplFile, "perplexity", "", "compute the perplexity of the text in `file` (chunks of -c tokens, like llama-perplexity)")
	str(&o.pre, "pre", "", "override the BPE pre-tokenizer (e.g. llama-bpe for the Llama-3 split; default: the file's, or llama.cpp's default split when it has none)")
	fs.BoolVar(&o.noBOS, "no-bos", false, "do not add the BOS token to the prompt")
	fs.BoolVar(&o.bench, "bench", false, "benchmark prompt processing (-p N) and generation (-n N) like llama-bench and print its markdown table")
	num(&o.reps, "r,repetitions", 5, "with --bench: repetitions of each test")
	str(&o.npl, "npl", "", "with --bench: `list` of parallel sequence counts (e.g. 1,2,4,8): llama-batched-bench's table instead of llama-bench's")
	fs.String("o", "md", "with --bench: output format (md)")
	str(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile to `file`")
	addChatFlags(fs, &o.chatOptions)
	fs.BoolVar(&o.headInt8, "head-int8", false, "use an int8 copy of the output head (half the bytes of F16 per token: faster decoding, logits differ slightly from bitnet.cpp's)")
	return fs
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := newFlags(&o, stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, "usage: bitnet-run [flags] model.gguf\n\nRun a BitNet b1.58 GGUF model (llama.cpp-style flags; -x and --x are the same).\n\n")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil
		}
		return usageError{err}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "c", "ctx-size":
			o.ctxSet = true
		case "p", "prompt":
			o.promptSet = true
		case "n", "n-predict":
			o.nSet = true
		case "o":
			if v := f.Value.String(); v != "md" {
				err = usageError{fmt.Errorf("-o %s: only md is supported", v)}
			}
		}
	})
	if err != nil {
		return err
	}
	if o.bench {
		o.benchPrompt, o.benchGen = "512", "128"
		if o.promptSet {
			o.benchPrompt = o.prompt
		}
		if o.nSet {
			o.benchGen = o.nPredictStr
		}
	} else {
		if o.nPredict, err = strconv.Atoi(o.nPredictStr); err != nil {
			return usageError{fmt.Errorf("-n %q: not a number", o.nPredictStr)}
		}
		if o.threads, err = strconv.Atoi(o.threadList); err != nil {
			return usageError{fmt.Errorf("-t %q: not a number", o.threadList)}
		}
	}
	switch {
	case len(pos) > 1:
		return usageError{fmt.Errorf("unexpected arguments %q", pos[1:])}
	case len(pos) == 1 && o.model != "":
		return usageError{fmt.Errorf("model given twice: -m %s and %s", o.model, pos[0])}
	case len(pos) == 1:
		o.model = pos[0]
	}
	if o.model == "" {
		return usageError{errors.New("no model: give a GGUF file with -m FILE or as the first argument")}
	}
	if !o.bench && o.threads < 1 {
		return usageError{fmt.Errorf("-t %d: need at least one thread", o.threads)}
	}
	if o.ctx < 0 {
		return usageError{fmt.Errorf("-c %d: the context size cannot be negative", o.ctx)}
	}
	if o.prompt != "" && o.promptFile != "" {
		return usageError{errors.New("give the prompt with -p or -f, not both")}
	}
	if o.promptFile != "" {
		b, err := os.ReadFile(o.promptFile)
		if err != nil {
			return fmt.Errorf("reading the prompt file: %w", err)
		}
		o.prompt = string(b)
	}
	if o.chat || o.chatTemplate != "" || o.templateFile != "" || o.system != "" {
		return runChat(&o, stdout, stderr)
	}
	var pplText []byte
	if o.pplFile != "" {
		if pplText, err = os.ReadFile(o.pplFile); err != nil {
			return fmt.Errorf("reading the perplexity text: %w", err)
		}
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	m, err := loader.Load(o.model)
	if err != nil {
		return err
	}
	defer m.Close()
	tok, err := tokenizer.FromGGUF(m.File, tokenizer.Options{Pre: o.pre})
	if err != nil {
		return fmt.Errorf("%s: %w", o.model, err) // err starts with "tokenizer: "
	}
	if o.headInt8 {
		p := runtime.NewPool(goruntime.NumCPU())
		m.Output = runtime.QuantizeRowsInt8(m.Output, p)
		p.Close()
	}
	loadTime := time.Since(t0)
	if o.bench && o.npl != "" {
		return batchedBench(&o, m, stdout, stderr)
	}
	if o.bench {
		return benchmark(&o, m, stdout, stderr)
	}
	pool := runtime.NewPool(o.threads)
	defer pool.Close()

	if o.pplFile != "" {
		return perplexity(&o, m, tok, pool, pplText, stdout, stderr)
	}

	ctx := o.ctx
	if ctx == 0 {
		// The model's training context, at most llama-cli's default 4096.
		ctx = 4096
		if m.TrainCtx > 0 {
			ctx = min(ctx, m.TrainCtx)
		}
	}
	st, err := runtime.NewState(m.Model, ctx, o.batch, pool)
	if err != nil {
		return err
	}
	ids := tok.Encode(o.prompt, !o.noBOS, true)
	if len(ids) == 0 {
		return errors.New("the prompt is empty (give one with -p or -f)")
	}
	if len(ids) > ctx {
		return fmt.Errorf("the prompt is %d tokens, longer than the context of %d (raise -c)", len(ids), ctx)
	}

	seed := uint64(o.seed)
	if o.seed < 0 {
		seed = uint64(time.Now().UnixNano())
	}
	lastN := o.repeatLastN
	if lastN < 0 {
		lastN = ctx
	}
	smp := sampler.New(sampler.Params{
		Temp: float32(o.temp), TopK: o.topK, TopP: float32(o.topP), MinP: float32(o.minP),
		RepeatPenalty: float32(o.repeatPenalty), FreqPenalty: float32(o.frequencyPenalty),
		PresencePenalty: float32(o.presencePenalty), RepeatLastN: lastN, Seed: seed,
	}, m.Vocab)

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var logitsOut *atomicFile
	var logitsW *bufio.Writer
	if o.logitsFile != "" {
		if logitsOut, err = createAtomic(o.logitsFile); err != nil {
			return err
		}
		defer logitsOut.Abort()
		logitsW = bufio.NewWriterSize(logitsOut.f, 1<<20)
	}
	writeRow := func(row []float32) {
		var b [4]byte
		for _, v := range row {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			logitsW.Write(b[:])
		}
	}
	dec := tok.NewStreamDecoder()
	if !o.ids {
		out.WriteString(o.prompt)
		out.Flush()
	}
	var tPrompt time.Duration
	tStart := time.Now()
	gopts := runtime.GenerateOptions{
		MaxTokens: o.nPredict,
		IsEOG:     tok.IsEOG,
		IgnoreEOS: o.ignoreEOS,
		OnPromptDone: func() {
			tPrompt = time.Since(tStart)
		},
		OnToken: func(id int32, _ []float32) bool {
			if !o.ids {
				out.WriteString(dec.Add(id))
				out.Flush()
			}
			return true
		},
	}
	if logitsW != nil {
		gopts.OnPromptLogits = writeRow
		gopts.OnLogits = writeRow
	}
	gen, genErr := st.Generate(ids, smp, gopts)
	tGen := time.Since(tStart) - tPrompt
	if !o.ids {
		out.WriteString(dec.Flush())
		out.WriteString("\n")
	} else {
		fmt.Fprintf(out, "prompt: %s\noutput: %s\n", joinIDs(ids), joinIDs(gen))
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if logitsW != nil {
		if genErr == nil || errors.Is(genErr, runtime.ErrContextFull) {
			if err := logitsW.Flush(); err != nil {
				return err
			}
			if err := logitsOut.Commit(); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stderr, "\nload time: %.2f ms\n", ms(loadTime))
	fmt.Fprintf(stderr, "prompt: %d tokens in %.2f ms (%.2f tokens/s)\n", len(ids), ms(tPrompt), rate(len(ids), tPrompt))
	fmt.Fprintf(stderr, "generated: %d tokens in %.2f ms (%.2f tokens/s)\n", len(gen), ms(tGen), rate(max(len(gen)-1, 0), tGen))
	fmt.Fprintf(stderr, "threads: %d, seed: %d, context: %d, kernels: %s\n", o.threads, seed, ctx, asm.Impl())
	if rss, ok := peakRSS(); ok {
		fmt.Fprintf(stderr, "peak RSS: %.1f MiB (model file %.1f MiB, KV cache %.1f MiB)\n", float64(rss)/(1<<20), float64(fileSize(o.model))/(1<<20), float64(st.KVBytes())/(1<<20))
	}
	if genErr != nil {
		if errors.Is(genErr, runtime.ErrContextFull) && o.nPredict < 0 {
			fmt.Fprintf(stderr, "stopped: %v\n", genErr)
			return nil
		}
		return genErr
	}
	return nil
}

func perplexity(o *options, m *loader.Model, tok *tokenizer.Tokenizer, pool *runtime.Pool, text []byte, stdout, stderr io.Writer) error {
	ctx := o.ctx
	if !o.ctxSet || ctx == 0 {
		ctx = 512 // llama-perplexity's default
	}
	st, err := runtime.NewState(m.Model, ctx, ctx, pool)
	if err != nil {
		return err
	}
	tokens := tok.Encode(string(text), !o.noBOS, false)
	bos := int32(-1)
	if !o.noBOS && tok.AddBOS() {
		bos = tok.BOS()
	}
	fmt.Fprintf(stderr, "perplexity: %d tokens, %d chunks of %d\n", len(tokens), len(tokens)/ctx, ctx)
	t0 := time.Now()
	res, err := st.Perplexity(tokens, ctx, bos, func(chunk int, ppl float64) {
		fmt.Fprintf(stderr, "[%d]%.4f,", chunk, ppl)
	})
	if err != nil {
		return err
	}
	el := time.Since(t0)
	fmt.Fprintf(stderr, "\nFinal estimate: PPL = %.4f +/- %.5f\n", res.PPL, res.StdErr)
	fmt.Fprintf(stderr, "%d chunks, %d tokens evaluated in %.2f s (%.2f tokens/s)\n", res.Chunks, res.Chunks*ctx, el.Seconds(), float64(res.Chunks*ctx)/el.Seconds())
	fmt.Fprintf(stdout, "perplexity: %.4f\n", res.PPL)
	return nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

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

// atomicFile is written under a temporary name and renamed into place on
// Commit, so a failed run never clobbers an existing file.
type atomicFile struct {
	f    *os.File
	path string
	done bool
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	return &atomicFile{f: f, path: path}, nil
}

func (a *atomicFile) Commit() error {
	if err := a.f.Close(); err != nil {
		return err
	}
	a.done = true
	return os.Rename(a.f.Name(), a.path)
}

func (a *atomicFile) Abort() {
	if !a.done {
		a.f.Close()
		os.Remove(a.f.Name())
	}
}
