// Command bitnet-data turns text corpora into token shards for
// bitnet-train: it streams documents from .txt, .jsonl (a chosen field) and
// Parquet files (.gz/.zst compressed too), optionally lowercases them,
// drops exact and near duplicates (MinHash + LSH, across all sources),
// tokenizes with a GGUF vocabulary on all cores, separates documents with
// EOS, mixes several sources by token share and holds out a validation
// split, deterministically for a seed.
//
//	bitnet-data -vocab model.gguf -o shards/ -i web-*.jsonl.zst -i 0.3=books.txt
//	bitnet-train -shards shards/ -vocab model.gguf -out runs/s
//
// Each -i is [WEIGHT=]FILE[,FILE...] (globs allowed); weights are relative
// token shares (default 1). The output directory receives train-NNNNNN.tok
// and valid-NNNNNN.tok (the trainer's shard format, see package data) and
// manifest.json with the counts.
//
// Deduplication reads the inputs twice: a first pass finds the duplicates
// within -dedup-mem of memory (spilling sorted runs to -tmp beyond it), the
// second tokenizes and writes the kept documents. Of documents alike, the
// first in source order (the -i flags in turn) is kept. An interrupt stops
// the run and removes the temporary files; shards already written stay,
// without a manifest.
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
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bitnet-go/bitnet/data"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "bitnet-data: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

type inputs []string

func (i *inputs) String() string     { return strings.Join(*i, " ") }
func (i *inputs) Set(s string) error { *i = append(*i, s); return nil }

// parseSource reads [WEIGHT=]FILE[,FILE...].
func parseSource(s string) (data.Source, error) {
	src := data.Source{Weight: 1}
	if eq := strings.IndexByte(s, '='); eq > 0 {
		if w, err := strconv.ParseFloat(s[:eq], 64); err == nil {
			if !(w > 0) {
				return src, fmt.Errorf("-i %s: the weight must be positive", s)
			}
			src.Weight, s = w, s[eq+1:]
		}
	}
	for _, pat := range strings.Split(s, ",") {
		if pat == "" {
			continue
		}
		m, err := filepath.Glob(pat)
		if err != nil {
			return src, fmt.Errorf("-i %s: %w", pat, err)
		}
		if len(m) == 0 {
			return src, fmt.Errorf("-i %s: no such file", pat)
		}
		sort.Strings(m)
		src.Files = append(src.Files, m...)
	}
	if len(src.Files) == 0 {
		return src, fmt.Errorf("-i %q: no files", s)
	}
	return src, nil
}

func run(args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("bitnet-data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var in inputs
	var c data.Config
	var vocab, sep, dropLog, dedupMem string
	fs.Var(&in, "i", "input source `[WEIGHT=]FILE[,FILE...]` (repeat for a mixture; globs allowed)")
	fs.StringVar(&vocab, "vocab", "", "GGUF `file` whose tokenizer to use")
	fs.StringVar(&c.OutDir, "o", "", "output `dir`ectory (must not hold a data set already)")
	fs.StringVar(&c.Field, "field", "text", "JSON field / Parquet column of the text")
	fs.StringVar(&sep, "sep", "blank", "documents of a .txt file: blank (paragraphs), line, none (one document per file) or a literal separator")
	fs.BoolVar(&c.Lowercase, "lower", false, "lowercase the text (as the TinyStories cut of this project)")
	fs.BoolVar(&c.Dedup, "dedup", true, "drop exact and near duplicates (MinHash LSH, Jaccard ≳ 0.75 of word 5-shingles)")
	fs.StringVar(&dedupMem, "dedup-mem", "256MiB", "memory `budget` of deduplication (bytes, or with KiB, MiB, GiB); beyond it the index spills to -tmp")
	fs.StringVar(&c.TempDir, "tmp", "", "`dir`ectory for deduplication's temporary files (default: the system's, $TMPDIR)")
	fs.Float64Var(&c.ValidFraction, "valid", 0.005, "fraction of the documents held out for validation")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the held-out split")
	fs.IntVar(&c.ShardTokens, "shard-tokens", 1<<24, "tokens per shard file")
	fs.Int64Var(&c.MaxTokens, "max-tokens", 0, "stop after this many training tokens (0: when the first source runs out, so the shares hold)")
	fs.IntVar(&c.Workers, "t", goruntime.NumCPU(), "tokenizing threads")
	fs.StringVar(&dropLog, "drop-log", "", "write each dropped document (source, document index from 0, reason) to `file`")
	fs.IntVar(&c.MaxDoc, "max-doc", 64<<20, "largest document in bytes (longer ones are an error)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	case len(in) == 0:
		return usageError{errors.New("no input: give -i FILE")}
	case vocab == "":
		return usageError{errors.New("no vocabulary: give -vocab model.gguf")}
	case c.OutDir == "":
		return usageError{errors.New("no output directory: give -o DIR")}
	case c.ValidFraction < 0 || c.ValidFraction >= 1:
		return usageError{fmt.Errorf("-valid %g: want a fraction in [0, 1)", c.ValidFraction)}
	case c.Workers < 1:
		return usageError{fmt.Errorf("-t %d: need at least one thread", c.Workers)}
	}
	mem, err := parseSize(dedupMem)
	if err != nil || mem < data.MinDedupMem {
		return usageError{fmt.Errorf("-dedup-mem %q: want a size of at least 64KiB (such as 256MiB)", dedupMem)}
	}
	c.DedupMem = mem
	switch sep {
	case "blank":
		c.Sep = "\n\n"
	case "line":
		c.Sep = "\n"
	case "":
		return usageError{errors.New("-sep: empty separator")}
	default:
		c.Sep = sep
	}
	for _, s := range in {
		src, err := parseSource(s)
		if err != nil {
			return usageError{err}
		}
		c.Sources = append(c.Sources, src)
	}
	vf, err := gguf.Open(vocab)
	if err != nil {
		return err
	}
	defer vf.Close()
	tok, err := tokenizer.FromGGUF(vf, tokenizer.Options{})
	if err != nil {
		return fmt.Errorf("%s: tokenizer: %w", vocab, err)
	}
	c.Tokenizer, c.Vocab, c.Log = tok, tok.NumTokens(), stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	c.Context = ctx
	if dropLog != "" {
		// Streamed as the documents are dropped, committed at the end.
		f, ferr := atomicfile.Create(dropLog, atomicfile.Mode)
		if ferr != nil {
			return fmt.Errorf("-drop-log: %w", ferr)
		}
		defer f.Abort()
		c.OnDrop = func(d data.Drop) error {
			_, err := fmt.Fprintf(f, "%d %d %s\n", d.Source, d.Doc, strings.ReplaceAll(d.Why.String(), " ", "-"))
			return err
		}
		defer func() {
			if err == nil { // run's result: the log is kept only on success
				err = f.Commit()
			}
		}()
	}
	t0 := time.Now()
	rep, err := data.Build(c)
	if err != nil {
		return err
	}
	el := time.Since(t0).Seconds()
	var bytes int64
	for _, s := range rep.Sources {
		bytes += s.Bytes
	}
	fmt.Fprintf(stdout, "%.1f MB of text in %.1f s: %.2f MB/s, %.0f tokens/s (%d threads)\n",
		float64(bytes)/1e6, el, float64(bytes)/1e6/el, float64(rep.TrainTokens+rep.ValidTokens)/el, c.Workers)
	if rss, ok := peakRSS(); ok {
		fmt.Fprintf(stdout, "peak RSS: %.1f MiB\n", float64(rss)/(1<<20))
	}
	return nil
}

// parseSize reads a byte count: digits with an optional unit (B, KiB, MiB,
// GiB, TiB; K, M, G, T mean the same).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	shift := 0
	switch strings.ToLower(strings.TrimSpace(t[i:])) {
	case "", "b":
	case "k", "kib", "kb":
		shift = 10
	case "m", "mib", "mb":
		shift = 20
	case "g", "gib", "gb":
		shift = 30
	case "t", "tib", "tb":
		shift = 40
	default:
		return 0, fmt.Errorf("size %q: unknown unit", s)
	}
	if n > (1<<62)>>shift {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n << shift, nil
}
