package main

import (
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/layout"
)

// Issue 10: a tokenizer error used to read "m.gguf: tokenizer: tokenizer: …".
func TestTokenizerErrorPrefixOnce(t *testing.T) {
	p := testutil.RewriteGGUF(t, bundled, func(w *gguf.Writer) {
		w.Set(layout.KeyTokenizerPre, gguf.String("no-such-pre"))
	})
	_, _, err := runCLI(t, p, "-p", "hi", "-n", "1")
	if err == nil {
		t.Fatal("no error for an unknown pre-tokenizer")
	}
	if msg := err.Error(); strings.Count(msg, "tokenizer: ") != 1 || !strings.Contains(msg, `"no-such-pre"`) || !strings.Contains(msg, "m.gguf") {
		t.Errorf("error %q: want the file, one \"tokenizer: \" and the pre-tokenizer name", msg)
	}
}
