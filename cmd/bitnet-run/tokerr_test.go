package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
)

// Issue 10: a tokenizer error used to read "m.gguf: tokenizer: tokenizer: …".
func TestTokenizerErrorPrefixOnce(t *testing.T) {
	f, err := gguf.Open(bundled)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &gguf.Writer{KVs: append([]gguf.KV(nil), f.KVs...)}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		data, err := f.TensorData(ti)
		if err != nil {
			t.Fatal(err)
		}
		w.AddTensor(ti.Name, ti.Type, ti.Dims, data)
	}
	w.Set("tokenizer.ggml.pre", gguf.String("no-such-pre"))
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, p, "-p", "hi", "-n", "1")
	if err == nil {
		t.Fatal("no error for an unknown pre-tokenizer")
	}
	if msg := err.Error(); strings.Count(msg, "tokenizer: ") != 1 || !strings.Contains(msg, `"no-such-pre"`) || !strings.Contains(msg, "m.gguf") {
		t.Errorf("error %q: want the file, one \"tokenizer: \" and the pre-tokenizer name", msg)
	}
}
