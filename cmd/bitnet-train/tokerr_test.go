package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
)

// Issue 10: a tokenizer error used to read "v.gguf: tokenizer: tokenizer: …".
func TestTokenizerErrorPrefixOnce(t *testing.T) {
	dir := t.TempDir()
	w := &gguf.Writer{}
	w.Set("tokenizer.ggml.model", gguf.String("gpt2"))
	w.Set("tokenizer.ggml.pre", gguf.String("no-such-pre"))
	w.Set("tokenizer.ggml.tokens", gguf.ArrayOf([]string{"a", "b", "ab"}))
	w.Set("tokenizer.ggml.merges", gguf.ArrayOf([]string{"a b"}))
	vocab := filepath.Join(dir, "v.gguf")
	if err := w.WriteFile(vocab); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "train.txt")
	if err := os.WriteFile(text, []byte("ab ab ab\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-train", text, "-vocab", vocab, "-out", filepath.Join(dir, "out")}, &stdout, &stderr)
	if err == nil {
		t.Fatal("no error for an unknown pre-tokenizer")
	}
	if msg := err.Error(); strings.Count(msg, "tokenizer: ") != 1 || !strings.Contains(msg, `"no-such-pre"`) || !strings.Contains(msg, "v.gguf") {
		t.Errorf("error %q: want the file, one \"tokenizer: \" and the pre-tokenizer name", msg)
	}
}
