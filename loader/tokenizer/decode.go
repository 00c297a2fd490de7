package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// buildPieces renders every token as llama.cpp's token-to-piece cache
// holds it (llama_token_to_piece with special = true).
func (t *Tokenizer) buildPieces() {
	t.pieces = make([][]byte, len(t.tokens))
	var arena []byte
	for id, text := range t.tokens {
		start := len(arena)
		attr := t.attrs[id]
		switch {
		case attr&(AttrUnknown|AttrControl|AttrUserDefined) != 0:
			arena = append(arena, text...)
		case attr&AttrNormal != 0:
			if t.model == SPM {
				arena = append(arena, strings.ReplaceAll(text, "\u2581", " ")...)
			} else {
				arena = appendDecodedBPE(arena, text)
			}
		case attr&AttrByte != 0 && t.model == SPM:
			arena = append(arena, hexByte(text))
		}
		t.pieces[id] = arena[start:len(arena):len(arena)]
	}
}

// hexByte is llama_token_to_byte: strtol of text[3:5] in base 16 ("<0x0A>").
func hexByte(text string) byte {
	var v byte
	for i := 3; i < 5 && i < len(text); i++ {
		c := text[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return v
		}
		v = v<<4 | d
	}
	return v
}

// appendDecodedBPE maps the code points of a BPE token back to bytes
// (llama_decode_text), including llama.cpp's marker for a code point
// outside the byte map.
func appendDecodedBPE(dst []byte, text string) []byte {
	for i := 0; i < len(text); {
		cp, n := decodeCpt(text, i)
		i += n
		if cp&rawByte == 0 {
			if b, ok := runeToByte[rune(cp)]; ok {
				dst = append(dst, b)
				continue
			}
		}
		dst = append(dst, "[UNK_BYTE_0x"...)
		for _, c := range appendCpt(nil, cp) {
			dst = fmt.Appendf(dst, "%02x", c)
		}
		dst = append(dst, text...)
		dst = append(dst, ']')
	}
	return dst
}

// Piece returns the bytes of a token as llama_token_to_piece renders it
// without special tokens: SentencePiece "▁" is a space and "<0xNN>" a
// byte, BPE tokens map back through the GPT-2 byte table, and control and
// unknown tokens are empty. The slice must not be modified. Pieces can be
// parts of a UTF-8 character; see StreamDecoder.
func (t *Tokenizer) Piece(id int32) []byte {
	return t.PieceSpecial(id, false)
}

// PieceSpecial is Piece with llama.cpp's "special" flag: when set, control
// and unknown tokens render as their text ("<|eot_id|>").
func (t *Tokenizer) PieceSpecial(id int32, special bool) []byte {
	if id < 0 || int(id) >= len(t.tokens) {
		return nil
	}
	if !special && t.attrs[id]&(AttrUnknown|AttrControl) != 0 {
		return nil
	}
	return t.pieces[id]
}

// Decode is llama_detokenize(ids, remove_special = false, unparse_special
// = false): the pieces joined, the SentencePiece space prefix taken off the
// first token, and for BPE models llama.cpp's clean-up of spaces before
// punctuation and in contractions (" ," becomes ",", " 's" becomes "'s").
// Because of these two rules Decode of a whole sequence can differ from the
// concatenation of its pieces.
func (t *Tokenizer) Decode(ids []int32) string {
	return t.Detokenize(ids, false, false)
}

// Detokenize is llama_detokenize. removeSpecial drops a leading BOS and a
// trailing EOS where the vocabulary adds them; unparseSpecial renders
// control tokens as their text.
func (t *Tokenizer) Detokenize(ids []int32, removeSpecial, unparseSpecial bool) string {
	removeSpace := t.addSpacePrefix
	if removeSpecial && t.addBOS && len(ids) > 0 && ids[0] == t.bos {
		removeSpace = false
		ids = ids[1:]
	}
	if removeSpecial && t.addEOS && len(ids) > 0 && ids[len(ids)-1] == t.eos {
		ids = ids[:len(ids)-1]
	}
	var b []byte
	for _, id := range ids {
		p := t.PieceSpecial(id, unparseSpecial)
		if removeSpace && len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
		removeSpace = false // after the first token, even an empty one
		b = append(b, p...)
	}
	if t.cleanSpaces {
		b = cleanSpaces(b)
	}
	return string(b)
}

// cleanSpaces is the clean-up of llama_detokenize for BPE vocabularies, in
// its three passes.
func cleanSpaces(text []byte) []byte {
	// " ?", " !", " .", " ,": drop the space
	total := len(text)
	n := min(total, 1)
	for i := 1; i < total; i++ {
		x := text[i]
		if text[i-1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') {
			n--
		}
		text[n] = x
		n++
	}
	// " ' ": drop both spaces
	total = n
	n = min(total, 1)
	for i := 1; i < total; i++ {
		x := text[i]
		if x == '\'' && i+1 < total && text[i-1] == ' ' && text[i+1] == ' ' {
			n--
			i++
			text[i] = 0 // as llama.cpp, so the next character sees no space before it
		}
		text[n] = x
		n++
	}
	// " 's", " 'm", " 're", " 've": drop the space (not for 't, 'd, 'll)
	total = n
	n = min(total, 1)
	for i := 1; i < total; i++ {
		x := text[i]
		if text[i-1] == ' ' && x == '\'' && i+1 < total {
			x1 := text[i+1]
			if x1 == 's' || x1 == 'm' {
				n--
			} else if i+2 < total {
				x2 := text[i+2]
				if (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e') {
					n--
				}
			}
		}
		text[n] = x
		n++
	}
	return text[:n]
}

// StreamDecoder turns token ids into text one at a time without ever
// splitting a UTF-8 character: bytes of a character that is not complete
// yet (a byte-fallback token, or a BPE token holding part of one) are held
// back until the rest arrives. Bytes that cannot start or continue a valid
// character are passed on as they are. Pieces are those of Piece (or
// PieceSpecial when Special is set); no space prefix is removed and no
// clean-up is done, like llama.cpp's examples that print token by token.
type StreamDecoder struct {
	t       *Tokenizer
	Special bool // render control tokens as their text
	pending []byte
}

// NewStreamDecoder returns a decoder for this tokenizer's ids.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// Add takes the next token and returns the text that is complete now
// (possibly "").
func (d *StreamDecoder) Add(id int32) string {
	d.pending = append(d.pending, d.t.PieceSpecial(id, d.Special)...)
	cut := completePrefix(d.pending)
	if cut == 0 {
		return ""
	}
	s := string(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return s
}

// Flush returns what is held back (an incomplete character at the end of
// the stream) and resets the decoder.
func (d *StreamDecoder) Flush() string {
	s := string(d.pending)
	d.pending = d.pending[:0]
	return s
}

// completePrefix is the length of b without a trailing incomplete (but so
// far valid) UTF-8 sequence.
func completePrefix(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}
