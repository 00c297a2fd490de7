package gguf_test

import (
	"bytes"
	"errors"
	"math/bits"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
)

// walkValue calls every accessor on a value and recurses into arrays; none
// may panic whatever the value holds.
func walkValue(v gguf.Value, depth int) {
	_, _ = v.Uint()
	_, _ = v.Int()
	_, _ = v.Float()
	_, _ = v.String()
	_, _ = v.Bool()
	_ = v.Type.String()
	if a, err := v.Array(); err == nil {
		walkArray(a, depth+1)
	}
}

func walkArray(a gguf.Array, depth int) {
	_ = a.Len()
	_ = a.Elem.String()
	if inner, ok := a.Values.([]gguf.Array); ok {
		for _, x := range inner {
			walkArray(x, depth+1)
		}
	}
}

// FuzzRead parses arbitrary bytes. Rejections must be format errors; an
// accepted file must be fully walkable, and writing it back out must give a
// file that parses to the same metadata and tensors.
func FuzzRead(f *testing.F) {
	f.Add(smallModel(f))
	f.Add(v2File(2))
	f.Add(encode(f, &gguf.Writer{KVs: allValuesKVs()}))
	w, _ := roundTripWriter(f)
	f.Add(encode(f, w))
	f.Add(twoF32(8, 0, 32, 64))
	f.Add(header(3, 0, 0).b)
	f.Add([]byte("GGUF"))

	f.Fuzz(func(t *testing.T, b []byte) {
		gf, err := gguf.Parse(b)
		if err != nil {
			if gf != nil {
				t.Fatal("Parse returned both a file and an error")
			}
			if !errors.Is(err, gguf.ErrFormat) {
				t.Fatalf("error %q does not wrap ErrFormat", err)
			}
			return
		}
		if gf.Alignment == 0 || gf.DataOffset%gf.Alignment != 0 {
			t.Fatalf("alignment %d, data offset %d", gf.Alignment, gf.DataOffset)
		}
		for _, kv := range gf.KVs {
			v, ok := gf.Get(kv.Key)
			if !ok || v.Type != kv.Value.Type {
				t.Fatalf("Get(%q) = %v, %v", kv.Key, v, ok)
			}
			walkValue(kv.Value, 0)
		}
		for i := range gf.Tensors {
			ti := &gf.Tensors[i]
			if byName, ok := gf.Tensor(ti.Name); !ok || byName != ti {
				t.Fatalf("Tensor(%q) lookup", ti.Name)
			}
			data, err := gf.TensorData(ti)
			if err != nil {
				t.Fatalf("TensorData(%q): %v", ti.Name, err)
			}
			if uint64(len(data)) != ti.Size {
				t.Fatalf("TensorData(%q): %d bytes, want %d", ti.Name, len(data), ti.Size)
			}
			if sz, err := gguf.TensorSize(ti.Type, ti.Dims); err != nil || sz != ti.Size {
				t.Fatalf("TensorSize(%q) = %d, %v; info says %d", ti.Name, sz, err, ti.Size)
			}
			if ti.Offset%gf.Alignment != 0 {
				t.Fatalf("tensor %q offset %d not aligned", ti.Name, ti.Offset)
			}
			if ti.Type.RawType() != ti.RawType {
				t.Fatalf("tensor %q: type %s is raw %d, file says %d", ti.Name, ti.Type, ti.Type.RawType(), ti.RawType)
			}
			if bs := uint64(ti.Type.BlockSize()); ti.Type < gguf.I2_S {
				// Plain block types: size = blocks × bytes per block, with
				// no wrap-around (2^62 f32 elements once sized to 0 bytes).
				hi, lo := bits.Mul64(ti.Elements()/bs, uint64(ti.Type.TypeSize()))
				if hi != 0 || lo != ti.Size {
					t.Fatalf("tensor %q: %d elements of %s in %d bytes", ti.Name, ti.Elements(), ti.Type, ti.Size)
				}
			}
			_ = ti.Type.String()
		}

		// Re-encode and re-parse.
		out := encode(t, rewrite(t, gf))
		g, err := gguf.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of the rewritten file: %v", err)
		}
		if d := diffFiles(gf, g); d != "" {
			t.Fatalf("rewrite changed the file: %s", d)
		}
		// A second rewrite is a fixed point.
		if out2 := encode(t, rewrite(t, g)); !bytes.Equal(out, out2) {
			t.Fatal("second rewrite differs from the first")
		}
	})
}
