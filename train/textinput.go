package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// ReadText reads a training or validation text and tokenizes it with
// TokenizeBytes. It also returns the file's record (size and SHA-256) for
// the run's manifest. The file must be a regular file small enough to
// tokenize in memory: its bytes, one string copy and up to one int32 token
// per byte must fit in this machine's memory.
func ReadText(tok Tokenizer, path, docSep string) ([]int32, FileRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, FileRecord{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, FileRecord{}, err
	}
	if !st.Mode().IsRegular() {
		return nil, FileRecord{}, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	size := st.Size()
	if mem := systemMemory(); mem > 0 && float64(size)*6 > float64(mem) {
		return nil, FileRecord{}, fmt.Errorf("%s: %d bytes of text need about %.1f GiB to tokenize in memory, more than this machine's %.1f GiB",
			path, size, float64(size)*6/(1<<30), float64(mem)/(1<<30))
	}
	if uint64(size) > uint64(MaxTextBytes) {
		return nil, FileRecord{}, fmt.Errorf("%s: %d bytes of text: at most %d", path, size, int64(MaxTextBytes))
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, FileRecord{}, fmt.Errorf("%s: %w", path, err)
	}
	sum := sha256.Sum256(b)
	rec := FileRecord{Path: absPath(path), Size: size, SHA256: hex.EncodeToString(sum[:])}
	return TokenizeBytes(tok, b, docSep), rec, nil
}

// MaxTextBytes bounds a text ReadText reads (1 TiB), whatever the memory.
const MaxTextBytes = 1<<40 - 1

// TokenizeBytes is the text reader of bitnet-train: arbitrary bytes in,
// token ids of the tokenizer's vocabulary out. Invalid UTF-8 is dropped
// (the tokenizer sees valid text only). Without docSep the text is one
// document; otherwise the bytes are cut at docSep (matched as bytes, so a
// separator that is not valid UTF-8 still cuts where it occurs) and each
// document, trimmed of white space, is tokenized and closed with EOS, as
// TokenizeText does.
func TokenizeBytes(tok Tokenizer, b []byte, docSep string) []int32 {
	if docSep == "" {
		return tok.Encode(validText(b), false, false)
	}
	var out []int32
	for _, doc := range bytes.Split(b, []byte(docSep)) {
		d := strings.TrimSpace(validText(doc))
		if d == "" {
			continue
		}
		out = append(out, tok.Encode(d, false, false)...)
		out = append(out, tok.EOS())
	}
	return out
}

func validText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(bytes.ToValidUTF8(b, nil))
}
