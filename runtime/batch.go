package runtime

import (
	"errors"
	"fmt"

	"github.com/bitnet-go/bitnet/asm"
)

// Seq is one sequence's KV cache: binary16 keys and values,
// [layer][pos·KVDim], as llama.cpp keeps them, and the number of positions
// filled. A State has one; a Batch evaluates several at once. Every
// sequence has a cache of its own (no sharing), so a sequence is freed,
// truncated or reset without touching the others.
type Seq struct {
	model    *Model
	k, v     [][]uint16
	ctx, pos int
}

// NewSeq makes an empty sequence of model m with a KV cache of ctx
// positions.
func NewSeq(m *Model, ctx int) (*Seq, error) {
	if ctx <= 0 {
		return nil, fmt.Errorf("context size %d must be positive", ctx)
	}
	s := newSeq(m, ctx)
	return &s, nil
}

func newSeq(m *Model, ctx int) Seq {
	c := &m.Config
	s := Seq{model: m, ctx: ctx, k: make([][]uint16, c.Layers), v: make([][]uint16, c.Layers)}
	for l := range s.k {
		s.k[l] = make([]uint16, ctx*c.KVDim())
		s.v[l] = make([]uint16, ctx*c.KVDim())
	}
	return s
}

// Pos is the number of positions in the KV cache.
func (s *Seq) Pos() int { return s.pos }

// Ctx is the size of the KV cache.
func (s *Seq) Ctx() int { return s.ctx }

// KVBytes is the size of the KV cache in bytes.
func (s *Seq) KVBytes() int {
	n := 0
	for l := range s.k {
		n += 2 * (len(s.k[l]) + len(s.v[l]))
	}
	return n
}

// Reset empties the KV cache.
func (s *Seq) Reset() { s.pos = 0 }

// Truncate drops cache positions from pos on.
func (s *Seq) Truncate(pos int) {
	if pos < s.pos {
		s.pos = max(pos, 0)
	}
}

// Chunk is what a Batch evaluates of one sequence in a forward pass: the
// tokens at the next positions of Seq's cache.
type Chunk struct {
	Seq    *Seq
	Tokens []int32
	// Logits asks for the logits of the last token (the row that predicts
	// the next one).
	Logits bool
}

// Batch evaluates several sequences in one forward pass: the chunks of a
// pass are stacked into one batch of rows, so each weight matrix is read
// once for all of them (the ternary GEMMs multiply every row with a weight
// tile while it is in cache), while attention runs per row over its own
// sequence's cache. Decode steps of some sequences and prompt chunks of
// others share a pass this way.
//
// Numerics: a chunk gives exactly what State.Forward(chunk.Tokens, false)
// gives on a State holding the same cache (with a batch size of at least
// len(chunk.Tokens)): the same logits and the same cache rows, bit for bit,
// whatever the other chunks of the pass are and on every kernel
// implementation. The reference engines round at points that depend on the
// size of a batch (a one-token batch rounds the activations of F16 weights
// — the output head — and the fork's attention probabilities to F16, a
// larger batch does not; see Engine), and a Batch applies those rules per
// chunk: the rows of a one-token chunk (a decode step) follow the one-token
// rule, the rows of a longer chunk (a prompt) the batched rule, and the
// output head, which sees one row per chunk, always the one-token rule, as
// State.Forward's head does for the last row. The integer ternary dots are
// exact and the float scaling of each row does not depend on the other
// rows, so a row of a batched product equals the product of that row alone.
//
// Consequences: n sequences decoded together produce exactly the tokens
// they produce decoded one at a time with the same samplers; and a prompt
// evaluated in chunks of at least two tokens gives the same cache and
// logits as the prompt in one pass (a chunk of one token would follow the
// one-token rule, so split prompts so that none is left alone, as package
// serve does).
//
// A Batch is not safe for concurrent use; its sequences must not be used by
// anything else during Forward.
type Batch struct {
	work
	logits []float32
	out    [][]float32
	heads  []int // the row of each chunk that wants logits
	tokens []int32
}

// NewBatch makes a Batch that evaluates up to maxRows tokens per pass (the
// sum of its chunks' lengths), running on pool.
func NewBatch(m *Model, maxRows int, pool *Pool) (*Batch, error) {
	if maxRows <= 0 {
		return nil, fmt.Errorf("batch of %d rows: must be positive", maxRows)
	}
	b := &Batch{}
	b.work.init(m, maxRows, 1, pool)
	return b, nil
}

// MaxRows is the most tokens a pass evaluates.
func (b *Batch) MaxRows() int { return b.maxBatch }

// Forward evaluates chunks in one pass and advances their sequences. It
// returns one slice per chunk: the chunk's Vocab logits if it asked for
// them, else nil. The slices are reused by the next call. Each sequence may
// appear in at most one chunk. Errors (a sequence of another model or given
// twice, an empty chunk, a token outside the vocabulary, a chunk that would
// run past its cache — wrapping ErrContextFull — or more than MaxRows
// tokens) are found before anything is evaluated: on error no cache
// changes.
func (b *Batch) Forward(chunks []Chunk) ([][]float32, error) {
	c := &b.m.Config
	if len(chunks) == 0 {
		return nil, errors.New("batch: no chunks")
	}
	n, nOut := 0, 0
	for i, ch := range chunks {
		switch {
		case ch.Seq == nil:
			return nil, fmt.Errorf("batch: chunk %d has no sequence", i)
		case ch.Seq.model != b.m:
			return nil, fmt.Errorf("batch: chunk %d: the sequence belongs to another model", i)
		case len(ch.Tokens) == 0:
			return nil, fmt.Errorf("batch: chunk %d has no tokens", i)
		case ch.Seq.pos+len(ch.Tokens) > ch.Seq.ctx:
			return nil, fmt.Errorf("%w: chunk %d: %d tokens at position %d exceed the context of %d", ErrContextFull, i, len(ch.Tokens), ch.Seq.pos, ch.Seq.ctx)
		}
		for j := range i {
			if chunks[j].Seq == ch.Seq {
				return nil, fmt.Errorf("batch: chunks %d and %d evaluate the same sequence", j, i)
			}
		}
		for _, t := range ch.Tokens {
			if t < 0 || int(t) >= c.Vocab {
				return nil, fmt.Errorf("batch: chunk %d: token id %d outside the vocabulary (%d)", i, t, c.Vocab)
			}
		}
		n += len(ch.Tokens)
		if ch.Logits {
			nOut++
		}
	}
	if n > b.maxBatch {
		return nil, fmt.Errorf("batch: %d tokens exceed the batch size of %d", n, b.maxBatch)
	}

	b.tokens = grow(b.tokens, n)
	tokens := b.tokens
	b.heads = b.heads[:0]
	row := 0
	for _, ch := range chunks {
		one := len(ch.Tokens) == 1
		for i, t := range ch.Tokens {
			tokens[row] = t
			b.rows[row] = rowSpec{seq: ch.Seq, pos: ch.Seq.pos + i, single: one}
			row++
		}
		if ch.Logits {
			b.heads = append(b.heads, row-1)
		}
		b.growScores(ch.Seq.ctx)
	}
	b.layers(tokens)
	clear(b.rows[:n]) // drop the references to the sequences
	for _, ch := range chunks {
		ch.Seq.pos += len(ch.Tokens)
	}

	// The output head: one row per chunk that wants logits, each with the
	// one-token rule (State.Forward multiplies only the last row).
	b.out = grow(b.out, len(chunks))
	clear(b.out)
	if nOut == 0 {
		return b.out, nil
	}
	b.logits = grow(b.logits, nOut*c.Vocab)
	for i, r := range b.heads {
		asm.RMSNorm(b.h[i*c.Dim:(i+1)*c.Dim], b.x[r*c.Dim:(r+1)*c.Dim], b.m.OutputNorm, c.NormEps)
		b.single[i] = true
	}
	b.group3[0], b.outs3[0] = b.m.Output, b.logits
	matMulGroup(b.group3[:1], b.outs3[:1], b.h[:nOut*c.Dim], nOut, b.single[:nOut], b.pool, &b.scratch)
	b.group3[0], b.outs3[0] = nil, nil
	k := 0
	for i, ch := range chunks {
		if ch.Logits {
			b.out[i] = b.logits[k*c.Vocab : (k+1)*c.Vocab]
			k++
		}
	}
	return b.out, nil
}
