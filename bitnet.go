// Package bitnet runs BitNet b1.58 GGUF models from Go: open a model (its
// weights, tokenizer and chat template together), make sessions that each
// hold their own KV cache, and complete prompts or chats, streaming tokens
// through a callback or a Go iterator, with llama.cpp's samplers and
// context cancellation.
//
//	m, err := bitnet.Open("model.gguf", nil)
//	...
//	defer m.Close()
//	s, err := m.NewSession()
//	...
//	for tok, err := range s.Stream(ctx, "Once upon a time", &bitnet.GenerateOptions{MaxTokens: 32}) {
//		...
//		fmt.Print(tok.Text)
//	}
//
// The numerics are those of bitnet-run (packages loader, runtime and
// sampler): a fresh session given the same prompt, seed and sampling
// parameters produces the same tokens.
//
// A session remembers the tokens in its cache. A new prompt (or chat) that
// begins with the same tokens reuses them and evaluates only the rest, so a
// chat's earlier turns are not evaluated again.
//
// Below generation, a session gives the model's logits directly:
// Session.Eval evaluates tokens and returns the logits of every position or
// of the last (bitnet-run scores package eval's tasks with it through a
// three-method adapter to eval.LM), Session.Truncate and Reset drop cached tokens, and Session.Perplexity
// scores a text as llama-perplexity does. A Batch evaluates the next tokens
// of several sessions in one forward pass (continuous batching, as
// bitnet-run --bench -npl measures it).
package bitnet

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"

	"github.com/bitnet-go/bitnet/chat"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/runtime"
)

// ErrContextFull is returned (wrapped) when a session's context cannot hold
// the prompt or the next token.
var ErrContextFull = runtime.ErrContextFull

// ErrClosed is returned by the methods of a closed Model and its sessions.
var ErrClosed = errors.New("bitnet: model is closed")

// Options configure Open. The zero value (or nil) gives the defaults.
type Options struct {
	// Threads is the number of worker threads (0: one per CPU).
	Threads int
	// Context is the KV cache size of each session in tokens (0: the
	// model's training context, at most 4096).
	Context int
	// Batch is the most tokens one forward pass evaluates when a prompt is
	// processed (0: 512).
	Batch int
	// ChatTemplate selects the chat template: a built-in name (see
	// chat.Builtins) or Jinja source; "" uses the file's (see chat.Select).
	ChatTemplate string
	// Pre overrides the BPE pre-tokenizer (for example "llama-bpe").
	Pre string
	// HeadInt8 replaces the output head by an int8 copy (per-row scales):
	// half the bytes of an F16 head per token, so decoding is faster, but
	// the logits differ slightly from those of the file's head.
	HeadInt8 bool
	// NoChatTemplate loads no chat template, for programs that only
	// complete text: a model whose own template does not parse still
	// opens, generation stops only at the vocabulary's end-of-generation
	// tokens, and Chat, ChatStream, ApplyChatTemplate and ChatPrompt (with
	// no template of its own) return ErrNoChatTemplate. ChatTemplate must
	// then be "".
	NoChatTemplate bool
	// NoMmap reads the weights into memory instead of mapping the file
	// (llama.cpp's --no-mmap; see gguf.OpenOptions.NoMmap): slower to open
	// and never shared between processes, but on some virtual machines the
	// mapped page cache streams much slower than anonymous memory.
	NoMmap bool
}

// ErrNoChatTemplate is returned by the chat methods of a model opened with
// Options.NoChatTemplate.
var ErrNoChatTemplate = errors.New("bitnet: the model was opened without a chat template")

// Model is an open model. Its methods are safe for concurrent use; the
// forward passes of its sessions take turns on its worker threads.
type Model struct {
	lm    *loader.Model
	tok   *tokenizer.Tokenizer
	tmpl  *chat.Template
	pool  *runtime.Pool
	nt    int // threads of pool
	ctx   int
	batch int
	eot   map[int32]bool // end-of-turn tokens of the chat template

	mu     sync.Mutex // one forward pass at a time; guards closed
	closed bool
}

// Open loads a GGUF model with its tokenizer and chat template.
func Open(path string, o *Options) (*Model, error) {
	var opt Options
	if o != nil {
		opt = *o
	}
	switch {
	case opt.Threads < 0:
		return nil, fmt.Errorf("bitnet: %d threads", opt.Threads)
	case opt.Context < 0:
		return nil, fmt.Errorf("bitnet: context size %d is negative", opt.Context)
	case opt.Batch < 0:
		return nil, fmt.Errorf("bitnet: batch size %d is negative", opt.Batch)
	case opt.NoChatTemplate && opt.ChatTemplate != "":
		return nil, errors.New("bitnet: a chat template was given with NoChatTemplate")
	}
	if opt.Threads == 0 {
		opt.Threads = goruntime.NumCPU()
	}
	if opt.Batch == 0 {
		opt.Batch = 512
	}
	lm, err := loader.LoadWith(path, gguf.OpenOptions{NoMmap: opt.NoMmap})
	if err != nil {
		return nil, err
	}
	m := &Model{lm: lm, nt: opt.Threads, ctx: opt.Context, batch: opt.Batch}
	fail := func(err error) (*Model, error) {
		lm.Close()
		return nil, err
	}
	if m.tok, err = tokenizer.FromGGUF(lm.File, tokenizer.Options{Pre: opt.Pre}); err != nil {
		return fail(fmt.Errorf("%s: %w", path, err)) // err starts with "tokenizer: "
	}
	if m.ctx == 0 {
		m.ctx = 4096
		if lm.TrainCtx > 0 {
			m.ctx = min(m.ctx, lm.TrainCtx)
		}
	}
	m.eot = map[int32]bool{}
	if !opt.NoChatTemplate {
		fileTmpl, _ := lm.File.GetString(layout.KeyChatTemplate)
		if m.tmpl, err = chat.Select(opt.ChatTemplate, fileTmpl, m.specialTokens()); err != nil {
			return fail(fmt.Errorf("%s: %w", path, err))
		}
		for _, s := range m.tmpl.EndOfTurn() {
			if id, ok := m.tok.TokenID(s); ok && m.tok.IsControl(id) {
				m.eot[id] = true
			}
		}
	}
	m.pool = runtime.NewPool(opt.Threads)
	if opt.HeadInt8 {
		lm.Output = runtime.QuantizeRowsInt8(lm.Output, m.pool)
	}
	return m, nil
}

// specialTokens are the BOS and EOS texts for Jinja templates.
func (m *Model) specialTokens() chat.Tokens {
	var t chat.Tokens
	if id := m.tok.BOS(); id != tokenizer.NoToken {
		t.BOS = m.tok.Token(id)
	}
	if id := m.tok.EOS(); id != tokenizer.NoToken {
		t.EOS = m.tok.Token(id)
	}
	return t
}

// Close releases the model. Its sessions must not be used afterwards.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.pool.Close()
	return m.lm.Close()
}

// ContextSize is the KV cache size of each session in tokens (of each
// session made by NewSession; see SessionOptions).
func (m *Model) ContextSize() int { return m.ctx }

// BatchSize is the most tokens one forward pass of a session evaluates
// (Options.Batch).
func (m *Model) BatchSize() int { return m.batch }

// Threads is the number of worker threads of the model's sessions
// (Options.Threads, or one per CPU).
func (m *Model) Threads() int { return m.nt }

// Arch is the model's architecture (general.architecture, such as
// "bitnet-b1.58").
func (m *Model) Arch() string { return m.lm.Arch }

// GGUF is the model file's header: its metadata and tensor descriptions
// (the tensor data is read through the model's weights, not this).
func (m *Model) GGUF() *gguf.File { return m.lm.File }

// Name is the model's general.name ("" if the file has none).
func (m *Model) Name() string {
	n, _ := m.lm.File.GetString(layout.KeyName)
	return n
}

// TrainContext is the context length the model was trained with (0 if the
// file does not say).
func (m *Model) TrainContext() int { return m.lm.TrainCtx }

// VocabSize is the number of tokens of the vocabulary.
func (m *Model) VocabSize() int { return m.lm.Vocab }

// Tokenizer gives the model's tokenizer.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// ChatTemplate is the template Chat formats conversations with (nil with
// Options.NoChatTemplate).
func (m *Model) ChatTemplate() *chat.Template { return m.tmpl }

// Tokenize turns text into token ids. addSpecial adds BOS (and EOS) where
// the vocabulary asks for them; parseSpecial turns the texts of special
// tokens (such as "<|eot_id|>") into those tokens.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) []int32 {
	return m.tok.Encode(text, addSpecial, parseSpecial)
}

// Detokenize turns token ids into text (llama.cpp's detokenize; special
// tokens are left out).
func (m *Model) Detokenize(ids []int32) string { return m.tok.Detokenize(ids, false, false) }

// TokenText is the text of one token as the model writes it (special
// tokens give their text, such as "<|eot_id|>").
func (m *Model) TokenText(id int32) string { return string(m.tok.PieceSpecial(id, true)) }

// IsEndOfGeneration reports whether id ends generation: the vocabulary's
// end-of-generation tokens and the chat template's end-of-turn tokens.
func (m *Model) IsEndOfGeneration(id int32) bool { return m.tok.IsEOG(id) || m.eot[id] }

// ApplyChatTemplate formats msgs with the model's chat template; with
// addAssistant the text ends with the opening of the assistant's answer.
func (m *Model) ApplyChatTemplate(msgs []chat.Message, addAssistant bool) (string, error) {
	if m.tmpl == nil {
		return "", ErrNoChatTemplate
	}
	return m.tmpl.Render(msgs, addAssistant)
}

// tokenizeChat tokenizes rendered chat text; a BOS the template wrote is
// not added twice (llama.cpp does the same).
func (m *Model) tokenizeChat(text string) []int32 {
	add := true
	if m.tok.AddBOS() {
		if bos := m.tok.Token(m.tok.BOS()); bos != "" && strings.HasPrefix(text, bos) {
			add = false
		}
	}
	return m.tok.Encode(text, add, true)
}

// NewSession makes a session with an empty KV cache of ContextSize tokens
// that runs on the model's worker threads.
func (m *Model) NewSession() (*Session, error) { return m.NewSessionWith(nil) }

// SessionOptions size one session. The zero value (or nil) gives the
// model's settings (Options).
type SessionOptions struct {
	// Context is the session's KV cache size in tokens (0: ContextSize).
	Context int
	// Batch is the most tokens one forward pass evaluates (0: BatchSize;
	// at most Context).
	Batch int
	// Threads, if not 0, gives the session worker threads of its own
	// (Close releases them) instead of the model's; the forward passes of
	// all sessions still take turns.
	Threads int
}

// NewSessionWith makes a session with an empty KV cache sized by o.
func (m *Model) NewSessionWith(o *SessionOptions) (*Session, error) {
	var opt SessionOptions
	if o != nil {
		opt = *o
	}
	switch {
	case opt.Context < 0:
		return nil, fmt.Errorf("bitnet: session context size %d is negative", opt.Context)
	case opt.Batch < 0:
		return nil, fmt.Errorf("bitnet: session batch size %d is negative", opt.Batch)
	case opt.Threads < 0:
		return nil, fmt.Errorf("bitnet: session with %d threads", opt.Threads)
	}
	if opt.Context == 0 {
		opt.Context = m.ctx
	}
	if opt.Batch == 0 {
		opt.Batch = m.batch
	}
	opt.Batch = min(opt.Batch, opt.Context)
	pool, own, err := m.workers(opt.Threads)
	if err != nil {
		return nil, err
	}
	st, err := runtime.NewState(m.lm.Model, opt.Context, opt.Batch, pool)
	if err != nil {
		if own != nil {
			own.Close()
		}
		return nil, err
	}
	return &Session{m: m, st: st, batch: opt.Batch, pool: own}, nil
}

// workers returns the worker pool of a new session or batch: the model's
// (own nil) or, for threads > 0, a pool of its own that the caller closes
// (own == pool). ErrClosed once the model is closed.
func (m *Model) workers(threads int) (pool, own *runtime.Pool, err error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, nil, ErrClosed
	}
	if threads > 0 {
		p := runtime.NewPool(threads)
		return p, p, nil
	}
	return m.pool, nil, nil
}
