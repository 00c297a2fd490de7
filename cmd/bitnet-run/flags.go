package main

import (
	"flag"
	"io"
	goruntime "runtime"
	"strconv"
	"strings"
)

// options are the flags as given; resolve turns them into a config.
type options struct {
	model, prompt, promptFile string
	nPredictStr, threadList   string
	ctx, batch                int
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
	bench                     bool
	reps                      int
	format                    string
	cpuProfile                string
	headInt8                  bool
	noMmap                    bool

	chatOptions             // chat mode (chat.go)
	ev          evalOptions // evaluation modes (eval.go)
	npl         string      // --bench -npl: parallel sequences (batched.go)

	// set records which flags were given (by their first name), for the
	// flags whose meaning depends on the mode (-p, -n with --bench).
	set map[string]bool
}

// newFlags declares the flags on a FlagSet that reports nothing itself:
// run reports a parse error once, and -h prints the defaults.
func newFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("bitnet-run", flag.ContinueOnError)
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
	str(&o.prompt, "p,prompt", "", "prompt `text`; with --bench, a list of prompt lengths (default 512)")
	str(&o.promptFile, "f,file", "", "read the prompt from `file` (at most what the context can hold)")
	str(&o.nPredictStr, "n,n-predict", "-1", "number of tokens to generate (-1: until end of text or a full context); with --bench, a list of generation lengths (default 128)")
	num(&o.ctx, "c,ctx-size", 0, "context size in tokens, for every mode (0: the model's training context, at most "+strconv.Itoa(defaultCtx)+")")
	str(&o.threadList, "t,threads", strconv.Itoa(goruntime.NumCPU()), "number of threads (at most "+strconv.Itoa(maxThreads)+"); with --bench, a list such as 1,2")
	num(&o.batch, "b,batch-size", 512, "maximum tokens per forward pass (prompt, perplexity chunks, --bench)")
	fs.Int64Var(&o.seed, "s", -1, "random seed (-1: random)")
	fs.Int64Var(&o.seed, "seed", -1, "random seed (-1: random)")
	flt(&o.temp, "temp", 0.8, "temperature (≤ 0: greedy)")
	num(&o.topK, "top-k", 40, "top-k sampling (≤ 0: off)")
	flt(&o.topP, "top-p", 0.95, "top-p sampling (1: off)")
	flt(&o.minP, "min-p", 0.05, "min-p sampling (0: off)")
	flt(&o.repeatPenalty, "repeat-penalty", 1.0, "penalty for repeated tokens (1: off)")
	num(&o.repeatLastN, "repeat-last-n", 64, "last n tokens the penalties consider (-1: the context size; larger values mean the context size)")
	flt(&o.presencePenalty, "presence-penalty", 0, "presence penalty (0: off)")
	flt(&o.frequencyPenalty, "frequency-penalty", 0, "frequency penalty (0: off)")
	fs.BoolVar(&o.ignoreEOS, "ignore-eos", false, "keep generating after an end-of-generation token")
	fs.BoolVar(&o.ids, "ids", false, "print the prompt and output token ids instead of text")
	str(&o.logitsFile, "logits", "", "write float32 logits rows (prompt positions, then each generated token) to `file` (a regular file; replaced atomically)")
	str(&o.pplFile, "perplexity", "", "compute the perplexity of the text in `file` (chunks of -c tokens, like llama-perplexity)")
	str(&o.pre, "pre", "", "override the BPE pre-tokenizer (e.g. llama-bpe for the Llama-3 split; default: the file's, or llama.cpp's default split when it has none)")
	fs.BoolVar(&o.noBOS, "no-bos", false, "do not add the BOS token to the prompt")
	fs.BoolVar(&o.bench, "bench", false, "benchmark prompt processing (-p N) and generation (-n N) like llama-bench and print its markdown table")
	num(&o.reps, "r,repetitions", 5, "with --bench: repetitions of each test (at most "+strconv.Itoa(maxReps)+")")
	str(&o.format, "o", "md", "with --bench: output format (md)")
	str(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile to `file`")
	fs.BoolVar(&o.headInt8, "head-int8", false, "use an int8 copy of the output head (half the bytes of F16 per token: faster decoding, logits differ slightly from bitnet.cpp's)")
	fs.BoolVar(&o.noMmap, "no-mmap", false, "read the model into memory instead of mapping the file (like llama.cpp; on some virtual machines the mapping streams much slower)")
	addChatFlags(fs, &o.chatOptions)
	addEvalFlags(fs, &o.ev)
	fs.StringVar(&o.npl, "npl", "", "with --bench: `list` of parallel sequence counts (e.g. 1,2,4,8): llama-batched-bench's table instead of llama-bench's")
	return fs
}

// aliases maps every long flag name to its short one, so options.set is
// keyed by one name per flag.
var aliases = map[string]string{
	"model": "m", "prompt": "p", "file": "f", "n-predict": "n", "ctx-size": "c",
	"threads": "t", "batch-size": "b", "seed": "s", "repetitions": "r",
}

// parseArgs parses flags that may come before or after the positional
// model path (Go's flag package stops at the first positional argument).
func parseArgs(fs *flag.FlagSet, o *options, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		name := f.Name
		if short, ok := aliases[name]; ok {
			name = short
		}
		o.set[name] = true
	})
	return pos, nil
}
