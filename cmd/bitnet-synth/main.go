// Command bitnet-synth writes a random-weight BitNet b1.58 GGUF file of a
// given shape — by default exactly the shape of the official 2B4T file
// (arch bitnet-b1.58, hidden 2560, 30 layers, 20 heads / 5 KV heads, FFN
// 6912, vocabulary 128256, F16 token_embd, I2_S matrices, F32 norms) — for
// benchmarks and load tests without downloading the real model.
//
//	bitnet-synth -o synth-2b4t.gguf
//	bitnet-synth -o small.gguf -dim 512 -layers 4 -ffn 1536 -heads 8 -kv-heads 2
//
// The tokenizer keys come from a vocabulary GGUF (-vocab); by default the
// Llama-3 vocabulary without a pre key from ../shared/testdata/tokenizers.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/layout"
)

const defaultVocab = "../shared/testdata/tokenizers/ggml-vocab-bitnet-2b4t-nopre.gguf"

// archs are the architectures bitnet-synth writes (graphs with sub-norms).
var archs = []string{layout.ArchBitNetB158, layout.ArchBitNet25, layout.ArchBitNet}

func main() {
	stop := cleanupOnSignal()
	err := run(os.Args[1:], os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a misuse of the command line: exit status 2.
type usageError struct {
	err     error
	printed bool // the flag package printed it already
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.printed {
			fmt.Fprintf(stderr, "bitnet-synth: %v\n", err)
		}
		return 2
	}
	fmt.Fprintf(stderr, "bitnet-synth: %v\n", err)
	return 1
}

// cleanupOnSignal removes the partly written output on SIGINT or SIGTERM
// and exits with the conventional status (128 + the signal's number).
func cleanupOnSignal() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			atomicfile.Cleanup()
			fmt.Fprintf(os.Stderr, "bitnet-synth: %v: stopped; nothing written\n", s)
			code := 1
			if n, ok := s.(syscall.Signal); ok {
				code = 128 + int(n)
			}
			os.Exit(code)
		case <-done:
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

type shape struct {
	dim, layers, heads, kvHeads, ffn, ctx int
}

// options are bitnet-synth's flags.
type options struct {
	out, vocab, arch string
	shape
	seed uint64
	fmts *formats // -type, -head (formats.go)
}

// Bounds of the flags: far beyond any real model, well inside what the
// loader accepts (metadata values up to 2^24) and what a file can hold.
const (
	maxDim    = 1 << 20
	maxLayers = 1 << 12
	maxCtx    = 1 << 24
	maxBytes  = 1 << 40 // 1 TiB
)

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bitnet-synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "o", "", "output GGUF `file` (required)")
	fs.StringVar(&o.vocab, "vocab", "", "GGUF `file` whose tokenizer.* keys the model gets (default "+defaultVocab+")")
	fs.StringVar(&o.arch, "arch", layout.ArchBitNetB158, "architecture: "+strings.Join(archs, ", "))
	fs.IntVar(&o.dim, "dim", 2560, "hidden size (a multiple of 128)")
	fs.IntVar(&o.layers, "layers", 30, "number of layers")
	fs.IntVar(&o.heads, "heads", 20, "attention heads (dividing -dim into even head dimensions)")
	fs.IntVar(&o.kvHeads, "kv-heads", 5, "key/value heads (dividing -heads)")
	fs.IntVar(&o.ffn, "ffn", 6912, "FFN size (a multiple of 128)")
	fs.IntVar(&o.ctx, "ctx", 4096, "training context length written to the metadata")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed")
	o.fmts = addFormatFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err: err, printed: true}
	}
	if fs.NArg() > 0 {
		return nil, &usageError{err: fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if err := o.fmts.resolve(fs, &o.arch, o.shape); err != nil {
		return nil, &usageError{err: err}
	}
	if err := o.validate(); err != nil {
		return nil, &usageError{err: err}
	}
	return o, nil
}

// validate checks every flag before anything is read or written, so that
// whatever it accepts the loader loads: I2_S rows (dim, ffn) are multiples
// of 128, head dimensions are even, every size is bounded.
func (o *options) validate() error {
	if o.out == "" {
		return errors.New("no output file: give -o FILE")
	}
	if !slices.Contains(archs, o.arch) {
		return fmt.Errorf("-arch %q: unknown architecture (want %s)", o.arch, strings.Join(archs, ", "))
	}
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"dim", o.dim, 128, maxDim}, {"ffn", o.ffn, 128, maxDim}, {"layers", o.layers, 1, maxLayers},
		{"heads", o.heads, 1, o.dim}, {"kv-heads", o.kvHeads, 1, o.heads}, {"ctx", o.ctx, 1, maxCtx},
	} {
		if f.v < f.lo || f.v > f.hi {
			return fmt.Errorf("-%s %d: must be between %d and %d", f.name, f.v, f.lo, f.hi)
		}
	}
	switch {
	case o.dim%128 != 0 || o.ffn%128 != 0:
		return fmt.Errorf("-dim %d and -ffn %d must be multiples of 128 (I2_S rows)", o.dim, o.ffn)
	case o.dim%o.heads != 0 || (o.dim/o.heads)%2 != 0:
		return fmt.Errorf("-heads %d must divide -dim %d into even head dimensions (RoPE rotates pairs)", o.heads, o.dim)
	case o.heads%o.kvHeads != 0:
		return fmt.Errorf("-heads %d is not a multiple of -kv-heads %d", o.heads, o.kvHeads)
	}
	if err := atomicfile.CheckDestination(o.out); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	return nil
}

// fileBytes estimates the output's size (the tensor data) for a vocabulary
// of nVocab tokens.
func (s shape) fileBytes(nVocab int) float64 {
	d, f, kv := float64(s.dim), float64(s.ffn), float64(s.kvHeads*(s.dim/s.heads))
	perLayer := (d*d+2*d*kv+d*d+3*d*f)/4 + 7*32 + 4*(3*d+f)
	return 2*d*float64(nVocab) + float64(s.layers)*perLayer + 4*d
}

func run(args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.vocab == "" {
		o.vocab = defaultVocab
		if _, err := os.Stat(o.vocab); err != nil {
			return &usageError{err: fmt.Errorf("no vocabulary: give -vocab FILE (a GGUF with tokenizer.* keys); the default %s is missing", defaultVocab)}
		}
	}
	vf, err := gguf.Open(o.vocab)
	if err != nil {
		return err
	}
	defer vf.Close()
	w, nVocab, err := build(o.arch, o.shape, vf, o.seed, o.fmts)
	if err != nil {
		return fmt.Errorf("%s: %w", o.vocab, err)
	}
	if n := o.fileBytes(nVocab); n > maxBytes {
		return &usageError{err: fmt.Errorf("this shape makes a file of %.0f GiB; at most %d GiB", n/(1<<30), maxBytes>>30)}
	}
	if err := atomicfile.WriteFile(o.out, atomicfile.Mode, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	}); err != nil {
		return err
	}
	st, err := os.Stat(o.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %s, %s matrices, %s head, %d layers, dim %d, ffn %d, %d/%d heads, %.2f GiB\n", o.out, o.arch, o.fmts.typ, o.fmts.head, o.layers, o.dim, o.ffn, o.heads, o.kvHeads, float64(st.Size())/(1<<30))
	return nil
}

func build(arch string, s shape, vf *gguf.File, seed uint64, fmts *formats) (*gguf.Writer, int, error) {
	var nVocab int
	var tokKVs []gguf.KV
	for _, kv := range vf.KVs {
		if layout.IsTokenizerKey(kv.Key) {
			tokKVs = append(tokKVs, kv)
			if kv.Key == layout.KeyTokens {
				a, _ := kv.Value.Array()
				nVocab = a.Len()
			}
		}
	}
	if nVocab == 0 {
		return nil, 0, errors.New("the vocabulary file has no " + layout.KeyTokens)
	}
	if nVocab > 1<<24 {
		return nil, 0, fmt.Errorf("a vocabulary of %d tokens: at most %d", nVocab, 1<<24)
	}
	headDim := s.dim / s.heads
	w := &gguf.Writer{}
	w.Set(layout.KeyArchitecture, gguf.String(arch))
	w.Set(layout.KeyName, gguf.String(fmt.Sprintf("bitnet-synth random weights, seed %d", seed)))
	p := func(suffix string) string { return layout.Key(arch, suffix) }
	w.Set(p(layout.VocabSize), gguf.Uint32(uint32(nVocab)))
	w.Set(p(layout.ContextLength), gguf.Uint32(uint32(s.ctx)))
	w.Set(p(layout.EmbeddingLength), gguf.Uint32(uint32(s.dim)))
	w.Set(p(layout.BlockCount), gguf.Uint32(uint32(s.layers)))
	w.Set(p(layout.FeedForwardLength), gguf.Uint32(uint32(s.ffn)))
	w.Set(p(layout.RopeDimensionCount), gguf.Uint32(uint32(headDim)))
	w.Set(p(layout.HeadCount), gguf.Uint32(uint32(s.heads)))
	w.Set(p(layout.HeadCountKV), gguf.Uint32(uint32(s.kvHeads)))
	w.Set(p(layout.RMSEps), gguf.Float32(1e-5))
	w.Set(p(layout.RopeFreqBase), gguf.Float32(500000))
	w.Set(layout.KeyFileType, gguf.Uint32(fmts.fileType()))
	w.KVs = append(w.KVs, tokKVs...)
	w.Set(layout.KeyQuantizationVersion, gguf.Uint32(layout.QuantizationVersion))

	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	// token_embd (the tied head): N(0, 0.05²) like a trained embedding.
	et, ed := fmts.embedding(rng.Uint64(), s.dim, nVocab, 0.05)
	w.Tensors = append(w.Tensors, gguf.WriterTensor{
		Name: layout.TokenEmbd, Type: et, Dims: layout.Dims(nVocab, s.dim), WriteData: ed,
	})
	ones := func(n int) []byte {
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(1))
		}
		return b
	}
	// One shared buffer per norm width (the writer only reads them).
	onesDim, onesFFN := ones(s.dim), ones(s.ffn)
	qdim, kvdim := s.dim, s.kvHeads*headDim
	for l := 0; l < s.layers; l++ {
		mat := func(name string, in, outDim int) {
			t, data := fmts.matrix(rng.Uint64(), in, outDim, float32(1/math.Sqrt(float64(in))))
			w.Tensors = append(w.Tensors, gguf.WriterTensor{
				Name: layout.Block(l, name), Type: t, Dims: layout.Dims(outDim, in), WriteData: data,
			})
		}
		w.AddTensor(layout.Block(l, layout.AttnNorm), gguf.F32, []uint64{uint64(s.dim)}, onesDim)
		mat(layout.AttnQ, s.dim, qdim)
		mat(layout.AttnK, s.dim, kvdim)
		mat(layout.AttnV, s.dim, kvdim)
		mat(layout.AttnOutput, qdim, s.dim)
		w.AddTensor(layout.Block(l, layout.FFNNorm), gguf.F32, []uint64{uint64(s.dim)}, onesDim)
		mat(layout.FFNGate, s.dim, s.ffn)
		mat(layout.FFNUp, s.dim, s.ffn)
		mat(layout.FFNDown, s.ffn, s.dim)
		w.AddTensor(layout.Block(l, layout.AttnSubNorm), gguf.F32, []uint64{uint64(qdim)}, onesDim)
		w.AddTensor(layout.Block(l, layout.FFNSubNorm), gguf.F32, []uint64{uint64(s.ffn)}, onesFFN)
	}
	w.AddTensor(layout.OutputNorm, gguf.F32, []uint64{uint64(s.dim)}, onesDim)
	return w, nVocab, nil
}

// randomI2S streams n random ternary weights in the I2_S layout followed by
// the 32-byte tail holding the scale.
func randomI2S(seed uint64, n int, scale float32) func(io.Writer) error {
	return func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(seed, 1))
		// Each byte holds 4 codes in {0, 1, 2}: any of 81 byte values.
		var valid [81]byte
		for i := range valid {
			c := i
			var b byte
			for g := 0; g < 4; g++ {
				b = b<<2 | byte(c%3)
				c /= 3
			}
			valid[i] = b
		}
		buf := make([]byte, 1<<16)
		for left := n / 4; left > 0; {
			k := min(left, len(buf))
			for i := 0; i < k; i++ {
				buf[i] = valid[rng.IntN(81)]
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return err
			}
			left -= k
		}
		tail := layout.I2STail(scale)
		_, err := w.Write(tail[:])
		return err
	}
}

// randomF16 streams n normal values of standard deviation sd as binary16.
func randomF16(seed uint64, n int, sd float64) func(io.Writer) error {
	return func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(seed, 2))
		buf := make([]byte, 1<<16)
		for left := n; left > 0; {
			k := min(left, len(buf)/2)
			for i := 0; i < k; i++ {
				binary.LittleEndian.PutUint16(buf[2*i:], asm.F32ToF16(float32(rng.NormFloat64()*sd)))
			}
			if _, err := w.Write(buf[:2*k]); err != nil {
				return err
			}
			left -= k
		}
		return nil
	}
}
