// Command bitnet-dump prints the metadata and tensor table of a GGUF file.
//
//	bitnet-dump model.gguf        # metadata and the first 16 tensors
//	bitnet-dump -a model.gguf     # every tensor (-a may also follow the file)
//	bitnet-dump --stats model.gguf  # BitLinear ternary shares, bits per weight, no-bias check
//
// Exit status: 0 on success, 1 when the file cannot be read, 2 on a usage
// error.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/bitnet-go/bitnet/gguf"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "bitnet-dump: %v\nRun 'bitnet-dump -h' for the flags.\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "bitnet-dump: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bitnet-dump", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by main
	all := fs.Bool("a", false, "list every tensor (default: the first 16)")
	stats := fs.Bool("stats", false, "print BitLinear statistics instead: per-matrix ternary shares (or a histogram), bits per weight, no-bias check")
	// Flags may come before or after the file name.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stderr, "usage: bitnet-dump [-a | --stats] FILE.gguf\n\nPrint the metadata and tensor table of a GGUF file.\n\n")
				fs.SetOutput(stderr)
				fs.PrintDefaults()
				return nil
			}
			return usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(pos) {
	case 0:
		return usageError{errors.New("no file: give a GGUF file")}
	case 1:
	default:
		return usageError{fmt.Errorf("unexpected arguments %q", pos[1:])}
	}
	f, err := gguf.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(stdout)
	if *stats { // stats.go
		if err := printStats(w, f); err != nil {
			return err
		}
		return w.Flush()
	}
	fmt.Fprintln(w, "version", f.Version, "dialect", f.Dialect, "align", f.Alignment, "data", f.DataOffset, "mapped", f.Mapped)
	for _, kv := range f.KVs {
		s := fmt.Sprint(kv.Value.V)
		if a, ok := kv.Value.V.(gguf.Array); ok {
			s = fmt.Sprintf("array[%s x %d]", a.Elem, a.Len())
		}
		fmt.Fprintf(w, "  %s (%s) = %s\n", printable(kv.Key, 200), kv.Value.Type, printable(s, 80))
	}
	for i, t := range f.Tensors {
		if i < 16 || *all {
			fmt.Fprintf(w, "  %-28s %v %s raw=%d off=%d size=%d\n", printable(t.Name, 200), t.Dims, t.Type, t.RawType, t.Offset, t.Size)
		}
	}
	fmt.Fprintln(w, len(f.Tensors), "tensors")
	return w.Flush()
}

// printable cuts s to at most n runes and quotes it if it holds anything
// a terminal would not print as text (a file is untrusted input: its strings
// may carry escape sequences).
func printable(s string, n int) string {
	cut := false
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n])
		cut = true
	}
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			s = strconv.Quote(s)
			break
		}
	}
	if cut {
		s += "…"
	}
	return s
}
