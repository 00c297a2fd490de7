// Command bitnet-tokenize tokenizes text with the vocabulary of a GGUF file,
// like llama.cpp's llama-tokenize. It works on vocabulary-only files too.
//
//	bitnet-tokenize -m model.gguf -p "Hello world"
//	bitnet-tokenize -m model.gguf -f text.txt --ids --no-bos
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bitnet-tokenize: %v\n", err)
		if errors.As(err, new(usageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bitnet-tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var model, prompt, file, pre string
	var ids, noBOS, noParseSpecial bool
	for _, n := range []string{"m", "model"} {
		fs.StringVar(&model, n, "", "GGUF `file` with a vocabulary (a model or a vocab-only file)")
	}
	for _, n := range []string{"p", "prompt"} {
		fs.StringVar(&prompt, n, "", "`text` to tokenize")
	}
	fs.StringVar(&file, "f", "", "read the text from `file`")
	fs.StringVar(&file, "file", "", "read the text from `file`")
	fs.BoolVar(&ids, "ids", false, "print only the ids, as [1, 2, 3]")
	fs.BoolVar(&noBOS, "no-bos", false, "do not add the BOS token")
	fs.BoolVar(&noParseSpecial, "no-parse-special", false, "treat the text of special tokens as plain text")
	fs.StringVar(&pre, "pre", "", "override the BPE pre-tokenizer (e.g. llama-bpe)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if model == "" {
		return usageError{errors.New("no vocabulary: give a GGUF file with -m FILE")}
	}
	if prompt != "" && file != "" {
		return usageError{errors.New("give the text with -p or -f, not both")}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		prompt = string(b)
	}
	f, err := gguf.Open(model)
	if err != nil {
		return err
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{Pre: pre})
	if err != nil {
		return fmt.Errorf("%s: %w", model, err)
	}
	out := tok.Encode(prompt, !noBOS, !noParseSpecial)
	if ids {
		s := make([]string, len(out))
		for i, id := range out {
			s[i] = strconv.Itoa(int(id))
		}
		_, err = fmt.Fprintf(stdout, "[%s]\n", strings.Join(s, ", "))
		return err
	}
	for _, id := range out {
		if _, err := fmt.Fprintf(stdout, "%6d -> '%s'\n", id, tok.PieceSpecial(id, true)); err != nil {
			return err
		}
	}
	return nil
}
