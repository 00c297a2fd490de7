package tokenizer

import (
	"strings"
	"sync"
)

// Encode tokenizes text as llama.cpp's llama_tokenize does.
//
// addSpecial adds the tokens the vocabulary asks for (BOS when add_bos is
// set, EOS when add_eos is set). parseSpecial lets the texts of control
// tokens in text stand for those tokens ("<|eot_id|>" becomes one id);
// without it they are plain text. User-defined tokens are always matched
// first, as in llama.cpp (and Hugging Face tokenizers).
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	var out []int32
	frags := t.partition(text, parseSpecial)
	switch t.model {
	case SPM:
		if addSpecial && t.addBOS && t.bos != NoToken {
			out = append(out, t.bos)
		}
		prevSpecial := true // the first fragment gets the space prefix too
		for _, f := range frags {
			if f.tok != NoToken {
				out = append(out, f.tok)
				prevSpecial = true
				continue
			}
			raw := text[f.start:f.end]
			if t.addSpacePrefix && prevSpecial {
				raw = " " + raw
			}
			out = t.spmEncode(out, strings.ReplaceAll(raw, " ", "\u2581"))
			prevSpecial = false
		}
	case BPE:
		if addSpecial && t.addBOS && t.bos != NoToken {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.tok != NoToken {
				out = append(out, f.tok)
				continue
			}
			out = t.encodeText(out, text[f.start:f.end])
		}
	}
	if addSpecial && t.addEOS && t.eos != NoToken {
		out = append(out, t.eos)
	}
	return out
}

// fragment is a piece of the input: a token found by its text, or a span
// of raw text.
type fragment struct {
	tok        int32 // NoToken for raw text
	start, end int
}

// partition splits text at the texts of special tokens, longest first, as
// llama.cpp's tokenizer_st_partition does. Without parseSpecial only
// user-defined tokens split.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{NoToken, 0, len(text)}}
	var next []fragment
	for _, id := range t.specials {
		attr := t.attrs[id]
		if !parseSpecial && attr&(AttrControl|AttrUnknown) != 0 {
			continue
		}
		s := t.tokens[id]
		next = next[:0]
		for _, f := range frags {
			if f.tok != NoToken {
				next = append(next, f)
				continue
			}
			lo, hi := f.start, f.end
			for {
				i := strings.Index(text[lo:hi], s)
				if i < 0 {
					break
				}
				m := lo + i
				left := m
				if attr&AttrLStrip != 0 {
					for left > lo && isCSpace(text[left-1]) {
						left--
					}
				}
				if left > lo {
					next = append(next, fragment{NoToken, lo, left})
				}
				next = append(next, fragment{tok: id})
				lo = m + len(s)
				if attr&AttrRStrip != 0 {
					for lo < hi && isCSpace(text[lo]) {
						lo++
					}
				}
			}
			if lo < hi {
				next = append(next, fragment{NoToken, lo, hi})
			}
		}
		frags, next = next, frags
	}
	return frags
}

// isCSpace is C's isspace in the "C" locale.
func isCSpace(c byte) bool {
	return c == ' ' || ('\t' <= c && c <= '\r')
}

// scratch holds the buffers of one encoding call.
type scratch struct {
	text    cptext
	a, b    []int32
	syms    []bsym
	heap    []bpeBigram
	mapped  []byte
	spmSyms []bsym
	spmHeap []spmBigram
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// encodeText runs the pre-tokenizer split and BPE on a raw text fragment.
func (t *Tokenizer) encodeText(out []int32, s string) []int32 {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.text.decode(s)
	n := int32(len(sc.text.cps))
	if n == 0 {
		return out
	}
	ends := append(sc.a[:0], n)
	other := sc.b[:0]
	for _, step := range t.split {
		other = step(&sc.text, ends, other[:0])
		ends, other = other, ends
	}
	sc.a, sc.b = ends, other
	start := int32(0)
	for _, end := range ends {
		word := sc.text.s[sc.text.offs[start]:sc.text.offs[end]]
		out = t.bpeWord(out, word, sc)
		start = end
	}
	return out
}

const (
	maxCachedWord = 64      // bytes; longer words are not cached
	maxCacheSize  = 1 << 16 // words; the cache is dropped when full
)

type bsym struct {
	sym        int32 // BPE symbol, or -1
	start, n   int32 // bytes of the word
	prev, next int32
}

type bpeBigram struct {
	rank, left, right, size, result int32
}

func (a bpeBigram) less(b bpeBigram) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
}

// bpeWord appends the tokens of one pre-token (raw bytes), as llama.cpp's
// llm_tokenizer_bpe_session: merges by lowest rank, ties to the leftmost
// pair; a final symbol that is no token becomes the one-byte tokens of its
// text, where there are such.
func (t *Tokenizer) bpeWord(out []int32, word string, sc *scratch) []int32 {
	if len(word) <= maxCachedWord {
		t.cacheMu.Lock()
		ids, ok := t.cache[word]
		t.cacheMu.Unlock()
		if ok {
			return append(out, ids...)
		}
	}
	n0 := len(out)
	out = t.bpeMerge(out, word, sc)
	if len(word) <= maxCachedWord {
		ids := append([]int32(nil), out[n0:]...)
		t.cacheMu.Lock()
		if t.cache == nil || len(t.cache) >= maxCacheSize {
			t.cache = make(map[string][]int32)
		}
		t.cache[word] = ids
		t.cacheMu.Unlock()
	}
	return out
}

func (t *Tokenizer) bpeMerge(out []int32, word string, sc *scratch) []int32 {
	if t.ignoreMerges {
		sc.mapped = byteEncode(sc.mapped[:0], word)
		if id, ok := t.toID[string(sc.mapped)]; ok {
			return append(out, id)
		}
	}
	if len(word) == 1 {
		if s := t.byteSym[word[0]]; s >= 0 && int(s) < len(t.tokens) {
			return append(out, s)
		}
		return append(out, t.byteByte[word[0]]...)
	}
	syms := sc.syms[:0]
	for i := 0; i < len(word); i++ {
		syms = append(syms, bsym{sym: t.byteSym[word[i]], start: int32(i), n: 1, prev: int32(i - 1), next: int32(i + 1)})
	}
	syms[len(syms)-1].next = -1
	h := sc.heap[:0]
	push := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l].sym, syms[r].sym
		m, ok := t.merges[uint64(uint32(a))<<32|uint64(uint32(b))]
		if !ok {
			return
		}
		h = heapPush(h, bpeBigram{rank: m.rank, left: l, right: r, size: syms[l].n + syms[r].n, result: m.result})
	}
	for i := int32(1); i < int32(len(syms)); i++ {
		push(i-1, i)
	}
	for len(h) > 0 {
		var bg bpeBigram
		bg, h = heapPop(h)
		l, r := &syms[bg.left], &syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue // outdated
		}
		l.sym = bg.result
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		push(l.prev, bg.left)
		push(bg.left, l.next)
	}
	for i := int32(0); i != -1; i = syms[i].next {
		s := syms[i]
		if s.sym >= 0 && int(s.sym) < len(t.tokens) {
			out = append(out, s.sym)
			continue
		}
		for j := s.start; j < s.start+s.n; j++ {
			out = append(out, t.byteByte[word[j]]...)
		}
	}
	sc.syms, sc.heap = syms, h
	return out
}

type spmBigram struct {
	score             float32
	left, right, size int32
}

func (a spmBigram) less(b spmBigram) bool { // a comes out first
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

// spmEncode appends the SentencePiece tokens of s (spaces already "▁"), as
// llama.cpp's llm_tokenizer_spm_session: characters merge pairwise by the
// highest score of the joined token, ties to the leftmost pair; a final
// piece that is no token becomes byte tokens. (llama.cpp's "resegment"
// reduces to this: every merged piece is a token.)
func (t *Tokenizer) spmEncode(out []int32, s string) []int32 {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	syms := sc.spmSyms[:0]
	for i := 0; i < len(s); {
		n := min(utf8Len(s[i]), len(s)-i)
		syms = append(syms, bsym{start: int32(i), n: int32(n), prev: int32(len(syms) - 1), next: int32(len(syms) + 1)})
		i += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1
	h := sc.spmHeap[:0]
	push := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		id, ok := t.toID[s[syms[l].start:syms[r].start+syms[r].n]]
		if !ok {
			return
		}
		h = heapPush(h, spmBigram{score: t.scores[id], left: l, right: r, size: syms[l].n + syms[r].n})
	}
	for i := int32(1); i < int32(len(syms)); i++ {
		push(i-1, i)
	}
	for len(h) > 0 {
		var bg spmBigram
		bg, h = heapPop(h)
		l, r := &syms[bg.left], &syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		push(l.prev, bg.left)
		push(bg.left, l.next)
	}
	for i := int32(0); i != -1; i = syms[i].next {
		piece := s[syms[i].start : syms[i].start+syms[i].n]
		if id, ok := t.toID[piece]; ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(piece); j++ {
			if id := t.byteTok[piece[j]]; id >= 0 {
				out = append(out, id)
			} else if t.unk != NoToken {
				// llama.cpp throws here; we fall back to the unknown token
				out = append(out, t.unk)
			}
		}
	}
	sc.spmSyms, sc.spmHeap = syms, h
	return out
}

// A binary min-heap over a slice, ordered by less ("comes out first").

type ordered[T any] interface{ less(T) bool }

func heapPush[T ordered[T]](h []T, x T) []T {
	h = append(h, x)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop[T ordered[T]](h []T) (T, []T) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].less(h[l]) {
			m = r
		}
		if !h[m].less(h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return top, h
}
