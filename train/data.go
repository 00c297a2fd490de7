package train

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// Tokenizer is what the data pipeline needs from a tokenizer; the runtime's
// loader/tokenizer.Tokenizer satisfies it, so training and inference see the
// same ids.
type Tokenizer interface {
	Encode(text string, addSpecial, parseSpecial bool) []int32
	BOS() int32
	EOS() int32
	Piece(id int32) []byte // the bytes a token stands for
}

// TokenizeText turns a text into one token stream. With docSep empty the
// text is one document (TinyStories as shipped has no document markers, and
// the reference run tokenized it as one stream); otherwise the text is cut
// at docSep and the documents are joined with EOS.
func TokenizeText(tok Tokenizer, text, docSep string) []int32 {
	if docSep == "" {
		return tok.Encode(text, false, false)
	}
	var out []int32
	for _, doc := range strings.Split(text, docSep) {
		// (an invalid UTF-8 separator can cut a character in two)
		doc = strings.TrimSpace(strings.ToValidUTF8(doc, ""))
		if doc == "" {
			continue
		}
		out = append(out, tok.Encode(doc, false, false)...)
		out = append(out, tok.EOS())
	}
	return out
}

// Token shards: a small header, then the ids.
//
//	offset  size  field
//	0       4     magic "BNTK"
//	4       4     version (1), u32 LE
//	8       4     dtype: 1 = u16, 2 = u32 (LE)
//	12      4     vocabulary size, u32 LE
//	16      8     count of ids, u64 LE
//	24      …     count ids of dtype
const (
	shardMagic   = "BNTK"
	shardVersion = 1
	shardU16     = 1
	shardU32     = 2
	shardHeader  = 24
)

// WriteShard writes ids to path atomically, as u16 when the vocabulary fits.
func WriteShard(path string, ids []int32, vocab int) error {
	if vocab <= 0 || vocab > MaxVocab {
		return fmt.Errorf("shard %s: vocabulary of %d tokens", path, vocab)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("shard %s: id %d outside the vocabulary of %d", path, id, vocab)
		}
	}
	return atomicfile.WriteFile(path, atomicfile.Mode, func(w io.Writer) error { return encodeShard(w, ids, vocab) })
}

// encodeShard writes the shard of ids (checked by the caller) to w.
func encodeShard(w io.Writer, ids []int32, vocab int) error {
	dtype, width := uint32(shardU32), 4
	if vocab <= 1<<16 {
		dtype, width = shardU16, 2
	}
	h := make([]byte, shardHeader)
	copy(h, shardMagic)
	binary.LittleEndian.PutUint32(h[4:], shardVersion)
	binary.LittleEndian.PutUint32(h[8:], dtype)
	binary.LittleEndian.PutUint32(h[12:], uint32(vocab))
	binary.LittleEndian.PutUint64(h[16:], uint64(len(ids)))
	if _, err := w.Write(h); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for i, id := range ids {
		if width == 2 {
			buf = binary.LittleEndian.AppendUint16(buf, uint16(id))
		} else {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(id))
		}
		if len(buf) == cap(buf) || i == len(ids)-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

// ReadShard reads a shard written by WriteShard.
func ReadShard(path string) (ids []int32, vocab int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	return decodeShard(bufio.NewReader(f), st.Size(), path)
}

// decodeShard reads a shard of size bytes from r (name is for errors).
func decodeShard(r io.Reader, size int64, name string) (ids []int32, vocab int, err error) {
	h := make([]byte, shardHeader)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, 0, fmt.Errorf("shard %s: header: %w", name, err)
	}
	if string(h[:4]) != shardMagic {
		return nil, 0, fmt.Errorf("shard %s: bad magic %q", name, h[:4])
	}
	if v := binary.LittleEndian.Uint32(h[4:]); v != shardVersion {
		return nil, 0, fmt.Errorf("shard %s: unsupported version %d", name, v)
	}
	dtype := binary.LittleEndian.Uint32(h[8:])
	vocab = int(binary.LittleEndian.Uint32(h[12:]))
	n := binary.LittleEndian.Uint64(h[16:])
	width := map[uint32]int{shardU16: 2, shardU32: 4}[dtype]
	if width == 0 {
		return nil, 0, fmt.Errorf("shard %s: unknown dtype %d", name, dtype)
	}
	// n is checked against the file before n·width is formed (a hostile
	// count could wrap it) and before anything is allocated.
	if body := uint64(size) - shardHeader; size < shardHeader || n > body/uint64(width) || body != n*uint64(width) {
		return nil, 0, fmt.Errorf("shard %s: %d bytes, header promises %d ids of %d bytes", name, size, n, width)
	}
	if vocab <= 0 || vocab > MaxVocab {
		return nil, 0, fmt.Errorf("shard %s: vocabulary of %d tokens", name, vocab)
	}
	if mem := systemMemory(); mem > 0 && n > mem/4 {
		return nil, 0, fmt.Errorf("shard %s: %d ids do not fit in this machine's memory", name, n)
	}
	ids = make([]int32, n)
	b := make([]byte, width)
	for i := range ids {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, 0, fmt.Errorf("shard %s: %w", name, err)
		}
		if width == 2 {
			ids[i] = int32(binary.LittleEndian.Uint16(b))
		} else {
			ids[i] = int32(binary.LittleEndian.Uint32(b))
		}
		if ids[i] < 0 || int(ids[i]) >= vocab {
			return nil, 0, fmt.Errorf("shard %s: id %d outside the vocabulary of %d", name, ids[i], vocab)
		}
	}
	return ids, vocab, nil
}

// Sampling modes of a BatchSampler.
const (
	// SampleRef is the reference run's recipe: each row is BOS + Ctx
	// consecutive tokens, alternately starting at a random paragraph start
	// (after a newline or EOS) and at a random offset.
	SampleRef = "ref"
	// SamplePacked cuts the stream into consecutive Ctx-token sequences
	// (packing) and serves them in a fresh random order each epoch.
	SamplePacked = "packed"
)

// BatchSampler serves training rows from a token stream: inputs are BOS followed
// by Ctx−1 tokens, targets the Ctx tokens that follow each input. It is
// deterministic given its seed, and its State (data position and RNG) can
// be saved and restored exactly.
type BatchSampler struct {
	tokens []int32
	starts []int32 // paragraph starts (SampleRef)
	ctx    int
	bos    int32
	mode   string
	seed   uint64

	pcg   *rand.PCG
	rng   *rand.Rand
	rows  int64
	epoch int
	idx   int
	perm  []int
}

// BatchSamplerState is the resumable state of a BatchSampler.
type BatchSamplerState struct {
	Rows  int64  `json:"rows"` // rows served so far
	Epoch int    `json:"epoch"`
	Index int    `json:"index"`
	RNG   []byte `json:"rng"` // PCG state
}

// NewBatchSampler makes a batch sampler over tokens. newline reports whether a token
// ends a paragraph (its text holds a newline, or it is EOS).
func NewBatchSampler(tokens []int32, ctx int, bos int32, mode string, seed uint64, newline func(int32) bool) (*BatchSampler, error) {
	if len(tokens) > math.MaxInt32 {
		return nil, fmt.Errorf("sampler: %d tokens: at most %d", len(tokens), math.MaxInt32)
	}
	if ctx < 2 {
		return nil, fmt.Errorf("sampler: context %d: at least 2", ctx)
	}
	if len(tokens) < ctx+1 {
		return nil, fmt.Errorf("sampler: %d tokens are fewer than one row of %d", len(tokens), ctx+1)
	}
	s := &BatchSampler{tokens: tokens, ctx: ctx, bos: bos, mode: mode, seed: seed}
	s.pcg = rand.NewPCG(seed, 0x73616d706c65) // "sample"
	s.rng = rand.New(s.pcg)
	switch mode {
	case SampleRef:
		last := len(tokens) - ctx
		s.starts = append(s.starts, 0)
		for i, t := range tokens[:last] {
			if newline(t) {
				s.starts = append(s.starts, int32(i+1))
			}
		}
	case SamplePacked:
		s.newEpoch()
	default:
		return nil, fmt.Errorf("sampler: unknown mode %q (want %s or %s)", mode, SampleRef, SamplePacked)
	}
	return s, nil
}

func (s *BatchSampler) newEpoch() {
	r := rand.New(rand.NewPCG(s.seed, uint64(s.epoch)))
	s.perm = r.Perm(len(s.tokens) / s.ctx)
}

// Next fills one row: in[0] = BOS, in[1:] and tgt the tokens from the row's
// start.
func (s *BatchSampler) Next(in, tgt []int32) {
	var st int
	switch s.mode {
	case SampleRef:
		if s.rows%2 == 0 {
			st = int(s.starts[s.rng.IntN(len(s.starts))])
		} else {
			st = s.rng.IntN(len(s.tokens) - s.ctx + 1)
		}
	case SamplePacked:
		if s.idx == len(s.perm) {
			s.epoch++
			s.idx = 0
			s.newEpoch()
		}
		st = s.perm[s.idx] * s.ctx
		s.idx++
	}
	s.rows++
	seq := s.tokens[st : st+s.ctx]
	in[0] = s.bos
	copy(in[1:s.ctx], seq[:s.ctx-1])
	copy(tgt[:s.ctx], seq)
}

// State returns the sampler's position and RNG state.
func (s *BatchSampler) State() BatchSamplerState {
	b, _ := s.pcg.MarshalBinary()
	return BatchSamplerState{Rows: s.rows, Epoch: s.epoch, Index: s.idx, RNG: b}
}

// Restore sets the state saved by State.
func (s *BatchSampler) Restore(st BatchSamplerState) error {
	if err := s.pcg.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("sampler: %w", err)
	}
	s.rows, s.idx = st.Rows, st.Index
	if s.mode == SamplePacked {
		s.epoch = st.Epoch
		s.newEpoch()
		if s.idx > len(s.perm) {
			return errors.New("sampler: index past the epoch")
		}
	}
	return nil
}

// Epochs is the number of passes over the stream served so far.
func (s *BatchSampler) Epochs() float64 {
	return float64(s.rows) * float64(s.ctx) / float64(len(s.tokens))
}

// ValWindows returns the starts of the evaluation windows over a stream:
// each window is BOS + ctx tokens and scores ctx predictions; windows start
// every ctx−1 tokens (the reference's "BOS + 256 tokens at stride 255").
func ValWindows(n, ctx int) []int {
	if ctx < 2 {
		return nil // no window of one token advances (Config.Validate refuses ctx < 2)
	}
	var w []int
	for s := 0; s+ctx <= n; s += ctx - 1 {
		w = append(w, s)
	}
	return w
}
