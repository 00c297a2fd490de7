// Command bitnet-tokenize tokenizes text with the vocabulary of a GGUF file,
// like llama.cpp's llama-tokenize. It works on vocabulary-only files too.
//
//	bitnet-tokenize -m model.gguf -p "Hello world"
//	bitnet-tokenize -m model.gguf -f text.txt --ids --no-bos
//
// Exit status: 0 on success, 1 on an error, 2 on a usage error.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/sysmem"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "bitnet-tokenize: %v\nRun 'bitnet-tokenize -h' for the flags.\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "bitnet-tokenize: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bitnet-tokenize", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by main
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
			fmt.Fprint(stderr, "usage: bitnet-tokenize -m FILE.gguf (-p TEXT | -f FILE) [flags]\n\nTokenize text with the vocabulary of a GGUF file.\n\n")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
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
		b, err := readText(file)
		if err != nil {
			return err
		}
		prompt = string(b)
	} else if len(prompt) > maxTextBytes() {
		return fmt.Errorf("the text is %d bytes, more than the %d bytes bitnet-tokenize reads", len(prompt), maxTextBytes())
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
	w := bufio.NewWriter(stdout)
	if ids {
		s := make([]string, len(out))
		for i, id := range out {
			s[i] = strconv.Itoa(int(id))
		}
		fmt.Fprintf(w, "[%s]\n", strings.Join(s, ", "))
		return w.Flush()
	}
	for _, id := range out {
		fmt.Fprintf(w, "%6d -> '%s'\n", id, tok.PieceSpecial(id, true))
	}
	return w.Flush()
}

// bytesPerTextByte is about the memory tokenizing takes per byte of text
// (the text, its fragments, the ids and their printed form).
const bytesPerTextByte = 32

// maxTextBytes bounds the text: 1 GiB, and no more than a quarter of the
// machine's memory can tokenize.
func maxTextBytes() int {
	limit := uint64(1 << 30)
	if total, ok := sysmem.Total(); ok {
		limit = min(limit, total/4/bytesPerTextByte)
	}
	return int(limit)
}

// readText reads the -f file, refusing one larger than maxTextBytes before
// reading it whole.
func readText(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := maxTextBytes()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > int64(limit) {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d bytes bitnet-tokenize reads", path, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s is more than the %d bytes bitnet-tokenize reads", path, limit)
	}
	return b, nil
}
