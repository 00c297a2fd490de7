package testutil

import (
	"path/filepath"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
)

// RewriteGGUF copies the GGUF file src through gguf.Writer, letting edit
// change the metadata and tensors (it may be nil), and returns the path of
// the new file in a temporary directory of the test.
func RewriteGGUF(t testing.TB, src string, edit func(w *gguf.Writer)) string {
	t.Helper()
	f, err := gguf.Open(src)
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
		w.AddTensor(ti.Name, ti.Type, ti.Dims, append([]byte(nil), data...))
	}
	if edit != nil {
		edit(w)
	}
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}
