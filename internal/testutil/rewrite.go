package testutil

import (
	"bytes"
	"fmt"
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

// OpenGGUF opens a GGUF file for the rest of the test.
func OpenGGUF(t testing.TB, p string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TensorDiff names the first tensor of want that got lacks or holds with
// another type or other bytes ("" when none does).
func TensorDiff(want, got *gguf.File) string {
	for i := range want.Tensors {
		wt := &want.Tensors[i]
		gt, ok := got.Tensor(wt.Name)
		if !ok {
			return wt.Name + ": missing"
		}
		wb, errW := want.TensorData(wt)
		gb, errG := got.TensorData(gt)
		if errW != nil || errG != nil {
			return fmt.Sprintf("%s: %v %v", wt.Name, errW, errG)
		}
		if gt.Type != wt.Type || !bytes.Equal(wb, gb) {
			return fmt.Sprintf("%s: %s, %d bytes; want %s, %d bytes", wt.Name, gt.Type, len(gb), wt.Type, len(wb))
		}
	}
	return ""
}
