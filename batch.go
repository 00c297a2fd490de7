package bitnet

import (
	"context"
	"errors"
	"fmt"

	"github.com/bitnet-go/bitnet/runtime"
)

// BatchOptions size a Batch.
type BatchOptions struct {
	// Rows is the most tokens one pass evaluates, summed over its chunks
	// (0: the model's BatchSize).
	Rows int
	// Threads, if not 0, gives the batch worker threads of its own (Close
	// releases them) instead of the model's.
	Threads int
}

// Batch evaluates the next tokens of several sessions in one forward pass,
// so that each weight matrix is read once for all of them: the decode steps
// of many conversations, or a prompt of one next to the decode steps of
// others. Each session's logits are bit for bit those Session.Eval gives
// for the same tokens without all (see runtime.Batch), so sessions decoded
// together produce exactly the tokens they produce alone. Split a prompt
// into chunks of at least two tokens: a one-token chunk rounds like a
// decode step.
//
// A Batch is not safe for concurrent use, and its sessions must not be used
// elsewhere during Eval.
type Batch struct {
	m      *Model
	b      *runtime.Batch
	pool   *runtime.Pool // the batch's own threads, or nil
	chunks []runtime.Chunk
}

// BatchChunk is what a Batch evaluates of one session: Tokens at the next
// positions of its cache.
type BatchChunk struct {
	Session *Session
	Tokens  []int32
	// Logits asks for the logits of the last token.
	Logits bool
}

// NewBatch makes a Batch sized by o (nil: the defaults).
func (m *Model) NewBatch(o *BatchOptions) (*Batch, error) {
	var opt BatchOptions
	if o != nil {
		opt = *o
	}
	switch {
	case opt.Rows < 0:
		return nil, fmt.Errorf("bitnet: batch of %d rows", opt.Rows)
	case opt.Threads < 0:
		return nil, fmt.Errorf("bitnet: batch with %d threads", opt.Threads)
	}
	if opt.Rows == 0 {
		opt.Rows = m.batch
	}
	pool, own, err := m.workers(opt.Threads)
	if err != nil {
		return nil, err
	}
	b, err := runtime.NewBatch(m.lm.Model, opt.Rows, pool)
	if err != nil {
		if own != nil {
			own.Close()
		}
		return nil, err
	}
	return &Batch{m: m, b: b, pool: own}, nil
}

// Rows is the most tokens one pass evaluates.
func (b *Batch) Rows() int { return b.b.MaxRows() }

// Close releases the batch's own worker threads (BatchOptions.Threads).
func (b *Batch) Close() error {
	if b.pool != nil {
		b.pool.Close()
		b.pool = nil
	}
	return nil
}

// Eval evaluates chunks in one forward pass and adds their tokens to their
// sessions' caches. It returns one slice per chunk: its last token's logits
// if it asked for them, else nil; the slices are reused by the next call.
// Each session may appear once, and must be of the batch's model. Errors (an
// empty chunk, a token outside the vocabulary, a chunk past its session's
// context, wrapping ErrContextFull, more than Rows tokens) are found before
// anything is evaluated: on error no cache changes. ctx is checked before
// the pass.
func (b *Batch) Eval(ctx context.Context, chunks []BatchChunk) ([][]float32, error) {
	if len(chunks) == 0 {
		return nil, errors.New("bitnet: no chunks to evaluate")
	}
	b.chunks = b.chunks[:0]
	for i, c := range chunks {
		if c.Session == nil || c.Session.m != b.m {
			return nil, fmt.Errorf("bitnet: batch chunk %d: not a session of the batch's model", i)
		}
		b.chunks = append(b.chunks, runtime.Chunk{Seq: &c.Session.st.Seq, Tokens: c.Tokens, Logits: c.Logits})
	}
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if b.m.closed {
		return nil, ErrClosed
	}
	out, err := b.b.Forward(b.chunks)
	clear(b.chunks) // drop the references to the sessions
	if err != nil {
		return nil, fmt.Errorf("bitnet: %w", err)
	}
	for _, c := range chunks {
		c.Session.cached = append(c.Session.cached, c.Tokens...)
	}
	return out, nil
}
