package tokenizer

import (
	"sync"
	"unicode"
)

// Code point classes, as llama.cpp's unicode tables define them. Every code
// point below 0x110000 has exactly one category bit; whitespace is an extra
// bit on top of it.
const (
	cUndef   uint8 = 1 << iota // Cn: unassigned
	cNumber                    // \p{N}
	cLetter                    // \p{L}
	cSep                       // \p{Z}
	cMark                      // \p{M}
	cPunct                     // \p{P}
	cSymbol                    // \p{S}
	cControl                   // \p{C} without Cn: Cc, Cf, Co, Cs
)

// fSpace marks White_Space code points in the flags of a decoded text; it
// lives above the eight category bits.
const fSpace uint16 = 1 << 8

// rawByte marks a byte that llama.cpp's UTF-8 decoder rejects (it throws and
// the tokenizer aborts). We keep such a byte as a pseudo code point of its
// own, classed as unassigned, and write it back unchanged.
const rawByte uint32 = 0x80000000

var (
	catOnce  sync.Once
	catTable []uint8 // category bit of every code point below 0x110000
)

// Unicode 15.1 additions. llama.cpp's table (scripts/gen-unicode-data.py,
// run in 2024) knows them; Go's unicode package is at 15.0.0. Apart from
// these the two agree on the category of every code point (checked against
// the fork's unicode-data.cpp); TestUnicodeVersion flags a Go upgrade,
// whose newer assignments llama.cpp would still see as unassigned.
var unicode151 = []struct {
	lo, hi rune
	cat    uint8
}{
	{0x2FFC, 0x2FFF, cSymbol},   // ideographic description characters
	{0x31EF, 0x31EF, cSymbol},   // CJK stroke HXG
	{0x2EBF0, 0x2EE5D, cLetter}, // CJK Unified Ideographs Extension I
}

func buildCategories() {
	t := make([]uint8, unicode.MaxRune+1)
	for i := range t {
		t[i] = cUndef
	}
	set := func(tab *unicode.RangeTable, c uint8) {
		for _, r := range tab.R16 {
			for x := uint32(r.Lo); x <= uint32(r.Hi); x += uint32(r.Stride) {
				t[x] = c
			}
		}
		for _, r := range tab.R32 {
			for x := r.Lo; x <= r.Hi; x += r.Stride {
				t[x] = c
			}
		}
	}
	set(unicode.N, cNumber)
	set(unicode.L, cLetter)
	set(unicode.Z, cSep)
	set(unicode.M, cMark)
	set(unicode.P, cPunct)
	set(unicode.S, cSymbol)
	// unicode.C would include unassigned code points; llama.cpp keeps
	// those apart as "undefined".
	set(unicode.Cc, cControl)
	set(unicode.Cf, cControl)
	set(unicode.Co, cControl)
	set(unicode.Cs, cControl)
	for _, p := range unicode151 {
		for x := p.lo; x <= p.hi; x++ {
			t[x] = p.cat
		}
	}
	catTable = t
}

// asciiFlags holds the flags of code points below 0x80, so that the common
// case needs no table build.
var asciiFlags = func() (f [128]uint16) {
	for c := 0; c < 128; c++ {
		r := rune(c)
		var v uint16
		switch {
		case '0' <= r && r <= '9':
			v = uint16(cNumber)
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			v = uint16(cLetter)
		case r == ' ':
			v = uint16(cSep)
		case r < 0x20 || r == 0x7f:
			v = uint16(cControl)
		case unicode.IsPunct(r):
			v = uint16(cPunct)
		default:
			v = uint16(cSymbol)
		}
		if unicode.Is(unicode.White_Space, r) {
			v |= fSpace
		}
		f[c] = v
	}
	return f
}()

// cptFlags returns the category bit of cp plus fSpace for whitespace.
func cptFlags(cp uint32) uint16 {
	if cp < 0x80 {
		return asciiFlags[cp]
	}
	if cp&rawByte != 0 || cp > unicode.MaxRune {
		return uint16(cUndef)
	}
	catOnce.Do(buildCategories)
	f := uint16(catTable[cp])
	if cp <= 0x3000 && unicode.Is(unicode.White_Space, rune(cp)) {
		f |= fSpace
	}
	return f
}

// utf8Len is the sequence length implied by a lead byte, by its top four
// bits, exactly as llama.cpp's unicode_len_utf8 (continuation bytes count
// as 1, 0xF8-0xFF as 4). The SentencePiece tokenizer splits with it.
func utf8Len(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}

// decodeCpt decodes one code point at s[i:] the way llama.cpp's
// unicode_cpt_from_utf8 does: it checks only the lead byte and that the
// continuation bytes are 10xxxxxx, so overlong forms and surrogates pass.
// Where llama.cpp would throw, the byte becomes a rawByte pseudo code point.
func decodeCpt(s string, i int) (cp uint32, n int) {
	b0 := s[i]
	switch {
	case b0 < 0x80:
		return uint32(b0), 1
	case b0&0x40 == 0:
		// stray continuation byte
	case b0&0x20 == 0:
		if i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			return uint32(b0&0x1F)<<6 | uint32(s[i+1]&0x3F), 2
		}
	case b0&0x10 == 0:
		if i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
			return uint32(b0&0x0F)<<12 | uint32(s[i+1]&0x3F)<<6 | uint32(s[i+2]&0x3F), 3
		}
	case b0&0x08 == 0:
		if i+3 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 && s[i+3]&0xC0 == 0x80 {
			cp := uint32(b0&0x07)<<18 | uint32(s[i+1]&0x3F)<<12 | uint32(s[i+2]&0x3F)<<6 | uint32(s[i+3]&0x3F)
			if cp <= unicode.MaxRune { // llama.cpp cannot encode larger ones back
				return cp, 4
			}
		}
	}
	return rawByte | uint32(b0), 1
}

// appendCpt appends the UTF-8 encoding of cp as llama.cpp's
// unicode_cpt_to_utf8 writes it (surrogates included); a rawByte pseudo
// code point is written back as its byte.
func appendCpt(b []byte, cp uint32) []byte {
	switch {
	case cp&rawByte != 0:
		return append(b, byte(cp))
	case cp < 0x80:
		return append(b, byte(cp))
	case cp < 0x800:
		return append(b, 0xC0|byte(cp>>6), 0x80|byte(cp&0x3F))
	case cp < 0x10000:
		return append(b, 0xE0|byte(cp>>12), 0x80|byte(cp>>6&0x3F), 0x80|byte(cp&0x3F))
	}
	return append(b, 0xF0|byte(cp>>18), 0x80|byte(cp>>12&0x3F), 0x80|byte(cp>>6&0x3F), 0x80|byte(cp&0x3F))
}

func cptLen(cp uint32) int {
	switch {
	case cp&rawByte != 0, cp < 0x80:
		return 1
	case cp < 0x800:
		return 2
	case cp < 0x10000:
		return 3
	}
	return 4
}

// GPT-2's reversible byte <-> code point mapping: printable Latin-1 bytes
// map to themselves, the other 68 bytes to U+0100 and up, in byte order.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = 256 + n
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteEncode appends the GPT-2 mapped form of raw bytes.
func byteEncode(dst []byte, raw string) []byte {
	for i := 0; i < len(raw); i++ {
		dst = appendCpt(dst, uint32(byteToRune[raw[i]]))
	}
	return dst
}
