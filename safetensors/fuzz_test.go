package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseHeader feeds arbitrary headers to the parser: it must return a
// header or an error, never panic, and whatever it accepts must satisfy the
// invariants the rest of the package relies on.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`), int64(8))
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"s":{"dtype":"U8","shape":[],"data_offsets":[12,13]}}  `), int64(13))
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`), int64(8))
	f.Add([]byte(`{"a":{"dtype":"I64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, dataSize int64) {
		h, err := ParseHeader(b, dataSize)
		if err != nil {
			return
		}
		for i, ti := range h.Tensors {
			if ti.Begin < 0 || ti.End < ti.Begin || ti.End > dataSize {
				t.Fatalf("tensor %q accepted with range [%d, %d) of %d", ti.Name, ti.Begin, ti.End, dataSize)
			}
			if ti.Elements()*int64(ti.DType.Size()) != ti.Size() {
				t.Fatalf("tensor %q: size %d for %s %v", ti.Name, ti.Size(), ti.DType, ti.Shape)
			}
			for _, tj := range h.Tensors[:i] {
				if tj.Name == ti.Name {
					t.Fatalf("duplicate %q accepted", ti.Name)
				}
				if ti.Size() > 0 && tj.Size() > 0 && ti.Begin < tj.End && tj.Begin < ti.End {
					t.Fatalf("overlap %q %q accepted", ti.Name, tj.Name)
				}
			}
		}
	})
}

// FuzzOpen runs whole files (length prefix included) through Open and
// reads every accepted tensor.
func FuzzOpen(f *testing.F) {
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<40))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.safetensors")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sf, err := Open(p)
		if err != nil {
			return
		}
		defer sf.Close()
		for _, ti := range sf.Tensors {
			tt, _ := sf.Tensor(ti.Name)
			buf := make([]byte, tt.Size())
			if _, err := tt.ReadAt(buf, 0); err != nil {
				t.Fatalf("accepted tensor %q unreadable: %v", ti.Name, err)
			}
		}
	})
}
