// Command bitnet-run runs a BitNet b1.58 GGUF model: text generation with a
// KV cache and llama.cpp's samplers, perplexity, llama-bench-style
// benchmarks, and scripting outputs (token ids, logits).
//
//	bitnet-run model.gguf -p "Once upon a time"
//	bitnet-run -m model.gguf -p "Once upon" -n 64 --temp 0 --ids
//	bitnet-run -m model.gguf --perplexity valid.txt -c 128
//	bitnet-run -m model.gguf --bench -p 512 -n 128 -t 1,2
//
// Flags follow llama.cpp's CLI (llama-cli / llama-perplexity / llama-bench).
//
// Exit status: 0 on success, 1 on an error, 2 on a usage error, 128+n when
// ended by signal n (130 for Ctrl-C); output files are then left as they were.
//
// # Structure
//
// A run goes flags → one config → session → mode:
//
//   - flags.go: the flags as given (options).
//   - config.go: resolve checks the flags, bounds every size and applies
//     every default into one config (the mode, -c, -t, -b, sampling, ...);
//     fit completes it for the loaded model (the context, in one place for
//     every mode) and checks the machine can hold the state.
//   - session.go: the model, opened through the library API (package
//     bitnet: weights, tokenizer, worker threads, --head-int8), and the
//     constructor of the library sessions (KV caches) the modes run on.
//   - one file per mode, each a func(*session) error: generate.go (with the
//     --logits dump), perplexity.go, bench.go, eval.go (zero-shot and KL)
//     and batched.go (--bench -npl, several sessions per forward pass with
//     bitnet.Batch), all on library sessions. Chat mode (chat.go) opens the
//     model itself, with its chat template: it takes the config instead of
//     a session.
//
// A new mode is a function over *session, one entry in modes below and one
// pick line in selectMode (config.go); its flags go in flags.go.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// modes maps a mode's name (chosen by selectMode) to the function running it.
var modes = map[string]func(*session) error{
	"generate":   runGenerate,
	"perplexity": runPerplexity,
	"bench":      runBench,
	"eval":       runEvalMode,
	// --bench -npl: selected by resolve (config.go), not by selectMode.
	"batched-bench": batchedBench,
}

func main() {
	handleSignals()
	os.Exit(exitStatus(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitStatus reports err and returns the process status for it.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.As(err, new(usageError)) {
		fmt.Fprintf(stderr, "bitnet-run: %v\nRun 'bitnet-run -h' for the flags.\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "bitnet-run: %v\n", err)
	return 1
}

func run(args []string, stdout, stderr io.Writer) (err error) {
	var o options
	fs := newFlags(&o)
	pos, err := parseArgs(fs, &o, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, "usage: bitnet-run [flags] model.gguf\n\nRun a BitNet b1.58 GGUF model (llama.cpp-style flags; -x and --x are the same).\n\n")
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return nil
	}
	if err != nil {
		return usageError{err}
	}
	cfg, err := resolve(&o, pos)
	if err != nil {
		return err
	}
	if cfg.cpuProfile != "" {
		stop, perr := startProfile(cfg.cpuProfile)
		if perr != nil {
			return perr
		}
		defer func() {
			if perr := stop(); err == nil {
				err = perr
			}
		}()
	}
	if cfg.mode == "chat" {
		return runChat(cfg, stdout, stderr)
	}
	s, err := openSession(cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	return modes[cfg.mode](s)
}

// startProfile starts a CPU profile written atomically to path; stop ends
// it and puts the file in place.
func startProfile(path string) (stop func() error, err error) {
	f, err := atomicfile.Create(path, atomicfile.Mode)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Abort()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Commit()
	}, nil
}
