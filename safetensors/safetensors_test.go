package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

func writeFile(t *testing.T, path string, w *Writer) {
	t.Helper()
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func f32le(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w := &Writer{Metadata: map[string]string{"format": "pt"}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.AddBytes("b.weight", F32, []int64{2, 2}, f32le(1, -2, 3.5, 0)))
	must(w.AddBytes("a.weight", BF16, []int64{3}, []byte{0x80, 0x3f, 0x00, 0xc0, 0x00, 0x00})) // 1, -2, 0
	must(w.AddBytes("c.packed", U8, []int64{2}, []byte{7, 9}))
	must(w.AddBytes("h", F16, []int64{2}, []byte{0x00, 0x3c, 0x01, 0x00})) // 1, smallest subnormal
	must(w.AddBytes("empty", F32, []int64{0, 4}, nil))
	if err := w.AddBytes("a.weight", F32, []int64{1}, f32le(1)); err == nil {
		t.Fatal("duplicate tensor accepted")
	}
	p := filepath.Join(dir, "model.safetensors")
	writeFile(t, p, w)

	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	var names []string
	for _, ti := range f.Tensors {
		names = append(names, ti.Name)
	}
	if got := strings.Join(names, ","); got != "a.weight,b.weight,c.packed,empty,h" {
		t.Errorf("names %s", got)
	}
	// Data order: F32 first (rank), then F16/BF16 by rank, U8 last.
	b, _ := f.Tensor("b.weight")
	a, _ := f.Tensor("a.weight")
	c, _ := f.Tensor("c.packed")
	if !(b.Begin < a.Begin && a.Begin < c.Begin) {
		t.Errorf("data order b %d a %d c %d", b.Begin, a.Begin, c.Begin)
	}
	got := make([]float32, 4)
	if _, err := b.ReadFloat32(got, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got[1] != -2 || got[2] != 3.5 {
		t.Errorf("F32 read %v", got)
	}
	if _, err := a.ReadFloat32(got[:2], 1, nil); err != nil || got[0] != -2 || got[1] != 0 {
		t.Errorf("BF16 read %v %v", got[:2], err)
	}
	h, _ := f.Tensor("h")
	if _, err := h.ReadFloat32(got[:2], 0, nil); err != nil || got[0] != 1 || got[1] != float32(math.Ldexp(1, -24)) {
		t.Errorf("F16 read %v %v", got[:2], err)
	}
	if _, err := a.ReadFloat32(got[:3], 1, nil); err == nil {
		t.Error("read past the tensor accepted")
	}
	if _, err := c.ReadFloat32(got[:1], 0, nil); err == nil {
		t.Error("U8 read as float accepted")
	}
	pb := make([]byte, 2)
	if _, err := c.ReadAt(pb, 0); err != nil || pb[0] != 7 || pb[1] != 9 {
		t.Errorf("U8 bytes %v %v", pb, err)
	}

	// Writing the same tensors again gives the same bytes.
	orig, _ := os.ReadFile(p)
	w2 := &Writer{Metadata: map[string]string{"format": "pt"}}
	for _, n := range []string{"h", "empty", "c.packed", "b.weight", "a.weight"} {
		ti, _ := f.Tensor(n)
		data := make([]byte, ti.Size())
		ti.ReadAt(data, 0)
		must(w2.AddBytes(n, ti.DType, ti.Shape, data))
	}
	var again bytes.Buffer
	if _, err := w2.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, again.Bytes()) {
		t.Error("rewriting the tensors in another order changed the file")
	}
}

func TestHalfToFloat32(t *testing.T) {
	// Every half value converts exactly (compare with float64 arithmetic).
	for h := 0; h < 1<<16; h++ {
		exp, man := (h>>10)&0x1f, h&0x3ff
		var want float64
		switch {
		case exp == 0x1f && man == 0:
			want = math.Inf(1)
		case exp == 0x1f:
			if f := HalfToFloat32(uint16(h)); f == f {
				t.Fatalf("%#04x: NaN converts to %v", h, f)
			}
			continue
		case exp == 0:
			want = math.Ldexp(float64(man), -24)
		default:
			want = math.Ldexp(float64(man|0x400), exp-25)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if got := HalfToFloat32(uint16(h)); float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Fatalf("%#04x: %v, want %v", h, got, want)
		}
	}
}

// rawFile builds a file from a header string and n data bytes.
func rawFile(header string, n int) []byte {
	b := make([]byte, 8+len(header)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	copy(b[8:], header)
	return b
}

func TestBadFiles(t *testing.T) {
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<62), "exceeds the limit"},
		{"header past end", binary.LittleEndian.AppendUint64(nil, 100), "past the end"},
		{"not object", rawFile(`[1]`, 0), "not a JSON object"},
		{"bad json", rawFile(`{"a":`, 0), "tensor \"a\""},
		{"unknown dtype", rawFile(`{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}`, 4), "unknown dtype"},
		{"no dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4), "no dtype"},
		{"no shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4), "no shape"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "bad dimension"},
		{"float dim", rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), "bad dimension"},
		{"overflow", rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4), "too large"},
		{"size mismatch", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 8), "needs 8"},
		{"past data", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "runs past"},
		{"reversed", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4), "bad data_offsets"},
		{"three offsets", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 8), "[begin, end]"},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
		{"duplicate", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "duplicate"},
		{"unknown field", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4), "unknown field"},
		{"bad metadata", rawFile(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
		{"trailing", rawFile(`{} {}`, 0), "after the header"},
		{"empty name", rawFile(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), "empty name"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		os.WriteFile(p, c.file, 0o644)
		f, err := Open(p)
		if err == nil {
			f.Close()
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
	// Padding spaces after the object are fine, as is an empty file header.
	p := filepath.Join(dir, "ok")
	os.WriteFile(p, rawFile(`{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}   `, 1), 0o644)
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if ti, _ := f.Tensor("a"); ti.Elements() != 1 {
		t.Errorf("scalar has %d elements", ti.Elements())
	}
	f.Close()
	if _, err := Open(dir); err == nil {
		t.Error("a directory opened as a file")
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	w1 := &Writer{}
	w1.AddBytes("z.weight", F32, []int64{1}, f32le(1))
	w1.AddBytes("b.weight", F32, []int64{1}, f32le(2))
	writeFile(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), w1)
	w2 := &Writer{}
	w2.AddBytes("a.weight", F32, []int64{1}, f32le(3))
	writeFile(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), w2)
	index := func(m string) {
		os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"metadata":{"total_size":12},"weight_map":{`+m+`}}`), 0o644)
	}
	index(`"a.weight":"model-00002-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors","z.weight":"model-00001-of-00002.safetensors"`)
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range c.Tensors {
		names = append(names, ti.Name)
	}
	if got := strings.Join(names, ","); got != "b.weight,z.weight,a.weight" {
		t.Errorf("order %s (want shard order, names sorted per shard)", got)
	}
	a, _ := c.Tensor("a.weight")
	v := make([]float32, 1)
	if _, err := a.ReadFloat32(v, 0, nil); err != nil || v[0] != 3 {
		t.Errorf("a.weight = %v, %v", v, err)
	}
	if c.Size() != 12 {
		t.Errorf("size %d", c.Size())
	}
	c.Close()

	bad := []struct{ m, want string }{
		{`"a.weight":"model-00002-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors"`, "does not list"},
		{`"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors","z.weight":"model-00001-of-00002.safetensors"`, "does not hold"},
		{`"a.weight":"../x.safetensors"`, "not a file name"},
		{`"a.weight":"missing.safetensors"`, "missing"},
	}
	for _, b := range bad {
		index(b.m)
		if c, err := OpenDir(dir); err == nil {
			c.Close()
			t.Errorf("%s: accepted", b.m)
		} else if !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: error %q, want %q", b.m, err, b.want)
		}
	}
	os.Remove(filepath.Join(dir, IndexFile))
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "2 *.safetensors") {
		t.Errorf("two shards without an index: %v", err)
	}
	if _, err := OpenDir(t.TempDir()); err == nil {
		t.Error("empty directory accepted")
	}
}

// The fixtures' checkpoints read as their READMEs describe them.
func TestFixtures(t *testing.T) {
	c, err := OpenDir(testutil.Shared(t, "golden/llama-s/hf", "the packed llama checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, ok := c.Tensor("model.layers.0.self_attn.q_proj.weight")
	if !ok || q.DType != U8 || q.Shape[0] != 64 || q.Shape[1] != 256 {
		t.Fatalf("packed q_proj: %+v", q)
	}
	s, ok := c.Tensor("model.layers.0.self_attn.q_proj.weight_scale")
	if !ok || s.DType != BF16 || s.Elements() != 1 {
		t.Fatalf("weight_scale: %+v", s)
	}
	c2, err := OpenDir(testutil.Shared(t, "hf/bitnet-2b4t-bf16/hf", "the BF16 checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, ti := range c2.Tensors {
		if ti.DType != BF16 {
			t.Errorf("%s is %s, want BF16", ti.Name, ti.DType)
		}
	}
}
