package gguf_test

// Helpers shared by the tests of package gguf: a byte builder for
// hand-assembled files, small assertion helpers (the standard library only:
// testify needs go.sum entries this module does not carry) and a deep
// comparison of metadata that compares floats by their bits (NaN == NaN).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
)

// raw assembles little-endian GGUF bytes by hand.
type raw struct{ b []byte }

func (r *raw) u8(v uint8) *raw   { r.b = append(r.b, v); return r }
func (r *raw) u32(v uint32) *raw { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.b = append(r.b, s...); return r }
func (r *raw) bytes(p []byte) *raw {
	r.b = append(r.b, p...)
	return r
}

// pad appends zeros up to a multiple of a.
func (r *raw) pad(a int) *raw {
	for len(r.b)%a != 0 {
		r.b = append(r.b, 0)
	}
	return r
}

// header starts a file: magic, version and the two counts (u64 in v2 and v3).
func header(version uint32, nTensors, nKV uint64) *raw {
	r := &raw{}
	r.b = append(r.b, "GGUF"...)
	return r.u32(version).u64(nTensors).u64(nKV)
}

// kvStr appends a string KV.
func (r *raw) kvStr(key, val string) *raw { return r.str(key).u32(uint32(gguf.TypeString)).str(val) }

// kvU32 appends a uint32 KV.
func (r *raw) kvU32(key string, val uint32) *raw {
	return r.str(key).u32(uint32(gguf.TypeUint32)).u32(val)
}

// tensor appends a tensor-info record.
func (r *raw) tensor(name string, typ uint32, offset uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(typ).u64(offset)
}

func must(t testing.TB, err error, context ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", fmt.Sprint(context...), err)
	}
}

func check(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func equal[T comparable](t testing.TB, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// formatErr asserts that err wraps gguf.ErrFormat and that its message
// contains every one of subs (case-sensitive).
func formatErr(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", subs)
	}
	if !errors.Is(err, gguf.ErrFormat) {
		t.Fatalf("error %q does not wrap gguf.ErrFormat", err)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not mention %q", err, s)
		}
	}
}

// errContains asserts a (not necessarily format) error mentioning subs.
func errContains(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not mention %q", err, s)
		}
	}
}

// diffAny compares two metadata Go values (scalars, typed slices, Array,
// []Array); floats compare by bits, and an empty slice equals a nil one.
// It returns "" when they are equal, else a description of the first
// difference.
func diffAny(path string, a, b any) string {
	switch x := a.(type) {
	case float32:
		y, ok := b.(float32)
		if !ok || math.Float32bits(x) != math.Float32bits(y) {
			return fmt.Sprintf("%s: %v (%T) != %v (%T)", path, a, a, b, b)
		}
		return ""
	case float64:
		y, ok := b.(float64)
		if !ok || math.Float64bits(x) != math.Float64bits(y) {
			return fmt.Sprintf("%s: %v (%T) != %v (%T)", path, a, a, b, b)
		}
		return ""
	case gguf.Array:
		y, ok := b.(gguf.Array)
		if !ok {
			return fmt.Sprintf("%s: array != %T", path, b)
		}
		if x.Elem != y.Elem {
			return fmt.Sprintf("%s: element type %s != %s", path, x.Elem, y.Elem)
		}
		if x.Len() != y.Len() {
			return fmt.Sprintf("%s: length %d != %d", path, x.Len(), y.Len())
		}
		if x.Len() == 0 {
			return ""
		}
		return diffAny(path, x.Values, y.Values)
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.IsValid() && va.Kind() == reflect.Slice {
		if !vb.IsValid() || vb.Type() != va.Type() {
			return fmt.Sprintf("%s: %T != %T", path, a, b)
		}
		if va.Len() != vb.Len() {
			return fmt.Sprintf("%s: length %d != %d", path, va.Len(), vb.Len())
		}
		if x, ok := a.([]byte); ok {
			if !bytes.Equal(x, b.([]byte)) {
				return fmt.Sprintf("%s: bytes differ", path)
			}
			return ""
		}
		for i := 0; i < va.Len(); i++ {
			if d := diffAny(fmt.Sprintf("%s[%d]", path, i), va.Index(i).Interface(), vb.Index(i).Interface()); d != "" {
				return d
			}
		}
		return ""
	}
	if a != b {
		return fmt.Sprintf("%s: %#v (%T) != %#v (%T)", path, a, a, b, b)
	}
	return ""
}

// diffKVs compares two metadata lists, in order.
func diffKVs(a, b []gguf.KV) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d KVs != %d KVs", len(a), len(b))
	}
	for i := range a {
		if a[i].Key != b[i].Key {
			return fmt.Sprintf("KV %d: key %q != %q", i, a[i].Key, b[i].Key)
		}
		if a[i].Value.Type != b[i].Value.Type {
			return fmt.Sprintf("KV %q: type %s != %s", a[i].Key, a[i].Value.Type, b[i].Value.Type)
		}
		if d := diffAny(a[i].Key, a[i].Value.V, b[i].Value.V); d != "" {
			return d
		}
	}
	return ""
}

// diffFiles compares metadata, tensor infos (but not offsets, which a
// rewrite may move) and tensor bytes of two parsed files.
func diffFiles(a, b *gguf.File) string {
	if d := diffKVs(a.KVs, b.KVs); d != "" {
		return d
	}
	if a.Alignment != b.Alignment || a.Dialect != b.Dialect {
		return fmt.Sprintf("alignment/dialect %d/%s != %d/%s", a.Alignment, a.Dialect, b.Alignment, b.Dialect)
	}
	if len(a.Tensors) != len(b.Tensors) {
		return fmt.Sprintf("%d tensors != %d tensors", len(a.Tensors), len(b.Tensors))
	}
	for i := range a.Tensors {
		p, q := &a.Tensors[i], &b.Tensors[i]
		if p.Name != q.Name || p.Type != q.Type || p.RawType != q.RawType || p.Size != q.Size || !reflect.DeepEqual(p.Dims, q.Dims) {
			return fmt.Sprintf("tensor %d: %+v != %+v", i, *p, *q)
		}
		da, err1 := a.TensorData(p)
		db, err2 := b.TensorData(q)
		if err1 != nil || err2 != nil {
			return fmt.Sprintf("tensor %q: TensorData: %v / %v", p.Name, err1, err2)
		}
		if !bytes.Equal(da, db) {
			return fmt.Sprintf("tensor %q: data differs", p.Name)
		}
	}
	return ""
}

// rewrite builds a Writer holding f's metadata and tensors.
func rewrite(t testing.TB, f *gguf.File) *gguf.Writer {
	t.Helper()
	w := &gguf.Writer{KVs: append([]gguf.KV(nil), f.KVs...)}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		data, err := f.TensorData(ti)
		must(t, err, "TensorData ", ti.Name)
		w.AddTensor(ti.Name, ti.Type, ti.Dims, data)
	}
	return w
}

func encode(t testing.TB, w *gguf.Writer) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	must(t, err, "WriteTo")
	equal(t, n, int64(buf.Len()), "WriteTo byte count")
	return buf.Bytes()
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// tensorBytes is the data size of a tensor, failing the test on error.
func tensorBytes(t testing.TB, typ gguf.Type, dims ...uint64) int {
	t.Helper()
	n, err := gguf.TensorSize(typ, dims)
	must(t, err, "TensorSize ", typ, dims)
	return int(n)
}

// smallModel is a small valid bitnet file with a few KVs of several types
// and tensors of several types, used by truncation tests and as a fuzz seed.
func smallModel(t testing.TB) []byte {
	t.Helper()
	w := &gguf.Writer{}
	w.Set("general.architecture", gguf.String("bitnet-b1.58"))
	w.Set("general.name", gguf.String("tiny"))
	w.Set("bitnet-b1.58.block_count", gguf.Uint32(1))
	w.Set("bitnet-b1.58.rope.freq_base", gguf.Float32(10000))
	w.Set("tokenizer.ggml.tokens", gguf.ArrayOf([]string{"<s>", "</s>", "a", ""}))
	w.Set("tokenizer.ggml.token_type", gguf.ArrayOf([]int32{3, 3, 1, 1}))
	w.Set("tokenizer.ggml.add_bos_token", gguf.Bool(true))
	w.Set("nested", gguf.ArrayOf([]gguf.Array{{Elem: gguf.TypeUint8, Values: []uint8{1, 2}}, {Elem: gguf.TypeString, Values: []string{"x"}}}))
	w.AddTensor("norm.weight", gguf.F32, []uint64{5}, randBytes(1, 20))
	w.AddTensor("blk.0.attn_q.weight", gguf.I2_S, []uint64{128, 2}, randBytes(2, tensorBytes(t, gguf.I2_S, 128, 2)))
	w.AddTensor("blk.0.ffn_up.weight", gguf.TQ2_0, []uint64{256}, randBytes(3, tensorBytes(t, gguf.TQ2_0, 256)))
	return encode(t, w)
}

// v2File hand-assembles a GGUF v2 file: the same layout as v3 (u64 counts
// and u64 string lengths; only v1 used u32 there).
func v2File(version uint32) []byte {
	r := header(version, 2, 3)
	r.kvStr("general.architecture", "llama")
	r.kvU32("llama.block_count", 7)
	r.str("tokenizer.ggml.scores").u32(uint32(gguf.TypeArray)).u32(uint32(gguf.TypeFloat32)).u64(2).u32(math.Float32bits(-1.5)).u32(math.Float32bits(2))
	r.tensor("a", uint32(gguf.F32), 0, 3)
	r.tensor("b", uint32(gguf.F16), 32, 2, 2)
	r.pad(32)
	r.bytes(randBytes(9, 12)).pad(32).bytes(randBytes(10, 8))
	return r.b
}
