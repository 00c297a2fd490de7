package main

import (
	"fmt"
	"io"
	"os"

	"github.com/bitnet-go/bitnet/loader/tokenizer"
)

// readBounded reads the file at path, refusing one of more than limit
// bytes without reading it whole (a regular file by its size, anything else
// after limit+1 bytes).
func readBounded(path string, limit int64, what, hint string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	defer f.Close()
	tooBig := func(size string) error {
		return fmt.Errorf("the %s %s is %s bytes, more than the %d bytes %s", what, path, size, limit, hint)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, tooBig(fmt.Sprint(fi.Size()))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, tooBig("over " + fmt.Sprint(limit))
	}
	return b, nil
}

// promptByteLimit is the most bytes of text that ctx tokens can cover. A
// token covers at most as many bytes of input as its own text has (SPM's
// "▁" and the byte-level BPE alphabet only lengthen the text; a byte token
// covers one byte, an unknown token one character of at most 4), so a longer
// prompt cannot fit the context and is refused before it is tokenized. (The
// one exception, whitespace that a special token with lstrip/rstrip
// swallows, would make a prompt larger than this limit: it is refused too.)
func promptByteLimit(tok *tokenizer.Tokenizer, ctx int) int64 {
	longest := 4
	for id := range tok.NumTokens() {
		longest = max(longest, len(tok.Token(int32(id))))
	}
	return int64(ctx) * int64(longest)
}
