// Command bitnet-convert converts Hugging Face BitNet b1.58 checkpoints to
// GGUF (see package convert for the model families and what is written).
//
//	bitnet-convert HF_DIR -o model.gguf [--type i2_s] [--head f16] [--embd f16]
//	bitnet-convert --requantize IN.gguf -o OUT.gguf --type tq2_0
//	bitnet-convert --to-hf DIR model.gguf     # back to a transformers checkpoint
//
// The output is written atomically; a progress bar is drawn on stderr when
// it is a terminal. Usage errors exit with status 2, conversion errors
// with 1, an interrupt with 130 (143 for SIGTERM) after removing the
// partial output.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bitnet-go/bitnet/convert"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		atomicfile.Cleanup()
		fmt.Fprintln(os.Stderr, "\nbitnet-convert: interrupted; no output written")
		if s == syscall.SIGTERM {
			os.Exit(143)
		}
		os.Exit(130)
	}()
	var progress io.Writer
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" {
		progress = os.Stderr
	}
	os.Exit(run(os.Args[1:], os.Stderr, progress))
}

// usageError is an error in the command line (exit status 2).
type usageError struct{ error }

func run(args []string, stderr, progress io.Writer) int {
	err := convertMain(args, stderr, progress)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "bitnet-convert: %v\nRun bitnet-convert -h for usage.\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "bitnet-convert: %v\n", err)
	return 1
}

func convertMain(args []string, stderr, progress io.Writer) error {
	fs := flag.NewFlagSet("bitnet-convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output GGUF `file` (required)")
	typ := fs.String("type", "i2_s", "format of the ternary matrices: "+strings.Join(convert.Types, ", "))
	head := fs.String("head", "", "format of output.weight: f32, f16, bf16, q8_0 or q6_k (default: F16 for ternary types, else the --type)")
	embd := fs.String("embd", "", "format of token_embd.weight: f32, f16, bf16, q8_0 or q6_k (default as --head)")
	arch := fs.String("arch", "", "architecture name for BitNetForCausalLM: bitnet-25 (default) or bitnet-b1.58")
	name := fs.String("name", "", "general.name (default: the reference's choice)")
	pre := fs.String("pre", "", "llama.cpp pre-tokenizer name for a BPE tokenizer (default: detected)")
	requant := fs.String("requantize", "", "requantize this GGUF `file` instead of converting a checkpoint")
	toHF := fs.String("to-hf", "", "export the GGUF given as argument (arch bitnet-b1.58, bitnet-25, bitnet or ternary llama) to a Hugging Face checkpoint in `DIR`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bitnet-convert HF_DIR -o OUT.gguf [flags]\n       bitnet-convert --requantize IN.gguf -o OUT.gguf [flags]\n       bitnet-convert --to-hf DIR IN.gguf\n\nflags:\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after the positional argument.
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *toHF != "" {
		if len(pos) != 1 {
			return usageError{fmt.Errorf("--to-hf DIR takes one GGUF file argument (got %d)", len(pos))}
		}
		if *out != "" || *requant != "" {
			return usageError{errors.New("--to-hf writes into its directory: -o and --requantize do not apply")}
		}
		return convert.ExportHF(pos[0], *toHF, convert.ExportOptions{Warnings: stderr})
	}
	if *out == "" {
		return usageError{errors.New("no output file: give -o FILE")}
	}
	if *requant != "" {
		if len(pos) != 0 {
			return usageError{fmt.Errorf("--requantize takes no model directory (got %q)", pos[0])}
		}
		if *name != "" || *pre != "" {
			return usageError{errors.New("--name and --pre apply to checkpoint conversion only")}
		}
		rt := "" // keep the ternary format unless --type is given
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "type" {
				rt = *typ
			}
		})
		return convert.Requantize(*requant, *out, convert.RequantizeOptions{Type: rt, Head: *head, Embd: *embd, Arch: *arch, Progress: progress})
	}
	switch len(pos) {
	case 0:
		return usageError{errors.New("no model directory: give HF_DIR (with config.json and *.safetensors)")}
	case 1:
	default:
		return usageError{fmt.Errorf("one model directory expected, got %d: %s", len(pos), strings.Join(pos, " "))}
	}
	if !validType(*typ, convert.Types) {
		return usageError{fmt.Errorf("unknown --type %q (want %s)", *typ, strings.Join(convert.Types, ", "))}
	}
	for flagName, v := range map[string]string{"head": *head, "embd": *embd} {
		if v != "" && !validType(v, []string{"f32", "f16", "bf16", "q8_0", "q6_k"}) {
			return usageError{fmt.Errorf("unknown --%s %q (want f32, f16, bf16, q8_0 or q6_k)", flagName, v)}
		}
	}
	if st, err := os.Stat(pos[0]); err != nil {
		return err
	} else if !st.IsDir() {
		return usageError{fmt.Errorf("%s is not a directory (give the Hugging Face model directory)", pos[0])}
	}
	return convert.Convert(pos[0], *out, convert.Options{Type: *typ, Head: *head, Embd: *embd, Arch: *arch, Name: *name, Pre: *pre, Progress: progress})
}

func validType(v string, ok []string) bool {
	for _, s := range ok {
		if v == s {
			return true
		}
	}
	return false
}
