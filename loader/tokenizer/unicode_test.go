package tokenizer

import (
	"testing"
	"unicode"
)

// The category table is Go's plus the 15.1 patch; a newer Go would assign
// code points that llama.cpp's 2024 table leaves undefined.
func TestUnicodeVersion(t *testing.T) {
	if unicode.Version != "15.0.0" {
		t.Errorf("Go's unicode tables are %s; the tokenizer's category table was checked against llama.cpp's (Unicode 15.1) with Go's 15.0.0: recheck the differences and adjust unicode151", unicode.Version)
	}
}

func TestCategories(t *testing.T) {
	for _, c := range []struct {
		cp   uint32
		want uint16
	}{
		{'a', uint16(cLetter)}, {'7', uint16(cNumber)}, {' ', uint16(cSep) | fSpace}, {'\n', uint16(cControl) | fSpace},
		{'!', uint16(cPunct)}, {'$', uint16(cSymbol)}, {'`', uint16(cSymbol)}, {0x7f, uint16(cControl)},
		{0xA0, uint16(cSep) | fSpace}, {0x85, uint16(cControl) | fSpace}, {0x3000, uint16(cSep) | fSpace},
		{0x0301, uint16(cMark)}, {0x0378, uint16(cUndef)}, {0x200B, uint16(cControl)}, {0xE000, uint16(cControl)},
		{0x00BD, uint16(cNumber)}, {0x2014, uint16(cPunct)}, {0x20AC, uint16(cSymbol)},
		{0x2FFC, uint16(cSymbol)}, {0x31EF, uint16(cSymbol)}, {0x2EBF0, uint16(cLetter)}, {0x2EE5D, uint16(cLetter)}, {0x2EE5E, uint16(cUndef)},
		{rawByte | 0xFF, uint16(cUndef)},
	} {
		if got := cptFlags(c.cp); got != c.want {
			t.Errorf("cptFlags(%#x) = %#x, want %#x", c.cp, got, c.want)
		}
	}
}

func TestDecodeCpt(t *testing.T) {
	for _, c := range []struct {
		s    string
		cp   uint32
		n    int
		back string
	}{
		{"a", 'a', 1, "a"},
		{"é", 0xE9, 2, "é"},
		{"\xc1\x81", 'A', 2, "A"},                   // overlong: accepted, written back short
		{"\xed\xa0\x80", 0xD800, 3, "\xed\xa0\x80"}, // surrogate: accepted as is
		{"\xf0\x9f\xa6\x99", 0x1F999, 4, "🦙"},
		{"\x80", rawByte | 0x80, 1, "\x80"},
		{"\xc3", rawByte | 0xC3, 1, "\xc3"},
		{"\xf4\x90\x80\x80", rawByte | 0xF4, 1, "\xf4"}, // beyond U+10FFFF
		{"\xff", rawByte | 0xFF, 1, "\xff"},
	} {
		cp, n := decodeCpt(c.s, 0)
		if cp != c.cp || n != c.n || string(appendCpt(nil, cp)) != c.back {
			t.Errorf("decodeCpt(%q) = %#x, %d -> %q; want %#x, %d -> %q", c.s, cp, n, appendCpt(nil, cp), c.cp, c.n, c.back)
		}
	}
}
