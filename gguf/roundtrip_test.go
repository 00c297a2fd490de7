package gguf_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
)

// allValuesKVs covers every metadata value type, arrays of every element
// type (including empty ones) and arrays of arrays, three levels deep and at
// the deepest nesting the reader accepts.
func allValuesKVs() []gguf.KV {
	deep := gguf.Array{Elem: gguf.TypeInt16, Values: []int16{-7}}
	for i := 1; i < 8; i++ { // 8 levels of arrays in all
		deep = gguf.Array{Elem: gguf.TypeArray, Values: []gguf.Array{deep}}
	}
	v := func(t gguf.ValueType, x any) gguf.Value { return gguf.Value{Type: t, V: x} }
	return []gguf.KV{
		{"general.architecture", gguf.String("bitnet-b1.58")},
		{"general.alignment", gguf.Uint32(64)},
		{"u8", v(gguf.TypeUint8, uint8(255))},
		{"i8", v(gguf.TypeInt8, int8(-128))},
		{"u16", v(gguf.TypeUint16, uint16(65535))},
		{"i16", v(gguf.TypeInt16, int16(-32768))},
		{"u32", gguf.Uint32(math.MaxUint32)},
		{"i32", gguf.Int32(math.MinInt32)},
		{"f32", gguf.Float32(-1.25e-5)},
		{"f32.nan", gguf.Float32(float32(math.NaN()))},
		{"f32.negzero", gguf.Float32(float32(math.Copysign(0, -1)))},
		{"f32.inf", gguf.Float32(float32(math.Inf(1)))},
		{"bool.true", gguf.Bool(true)},
		{"bool.false", gguf.Bool(false)},
		{"str", gguf.String("héllo, wörld ✓")},
		{"str.empty", gguf.String("")},
		{"str.nul", gguf.String("a\x00b\xff")},
		{"u64", gguf.Uint64(math.MaxUint64)},
		{"i64", v(gguf.TypeInt64, int64(math.MinInt64))},
		{"f64", v(gguf.TypeFloat64, math.Pi)},
		{"f64.nan", v(gguf.TypeFloat64, math.Float64frombits(0x7ff8000000000bad))},
		{"arr.u8", gguf.ArrayOf([]uint8{0, 1, 255})},
		{"arr.i8", gguf.ArrayOf([]int8{-128, 0, 127})},
		{"arr.u16", gguf.ArrayOf([]uint16{0, 65535})},
		{"arr.i16", gguf.ArrayOf([]int16{-32768, 32767})},
		{"arr.u32", gguf.ArrayOf([]uint32{1, math.MaxUint32})},
		{"arr.i32", gguf.ArrayOf([]int32{math.MinInt32, -1, 0, math.MaxInt32})},
		{"arr.f32", gguf.ArrayOf([]float32{0, -0.5, float32(math.Inf(-1)), float32(math.NaN())})},
		{"arr.bool", gguf.ArrayOf([]bool{true, false, true})},
		{"arr.str", gguf.ArrayOf([]string{"", "a", "Ġthe", "\x00"})},
		{"arr.u64", gguf.ArrayOf([]uint64{0, math.MaxUint64})},
		{"arr.i64", gguf.ArrayOf([]int64{math.MinInt64, math.MaxInt64})},
		{"arr.f64", gguf.ArrayOf([]float64{math.SmallestNonzeroFloat64, -1e300})},
		{"arr.empty.u8", gguf.ArrayOf([]uint8{})},
		{"arr.empty.str", gguf.ArrayOf([]string{})},
		{"arr.empty.arr", gguf.ArrayOf([]gguf.Array{})},
		{"arr.arr", gguf.ArrayOf([]gguf.Array{
			{Elem: gguf.TypeUint8, Values: []uint8{1, 2, 3}},
			{Elem: gguf.TypeInt8, Values: []int8{-1}},
			{Elem: gguf.TypeUint16, Values: []uint16{9}},
			{Elem: gguf.TypeInt16, Values: []int16{-9}},
			{Elem: gguf.TypeUint32, Values: []uint32{7, 8}},
			{Elem: gguf.TypeInt32, Values: []int32{-7}},
			{Elem: gguf.TypeFloat32, Values: []float32{1.5}},
			{Elem: gguf.TypeBool, Values: []bool{false}},
			{Elem: gguf.TypeString, Values: []string{"x", ""}},
			{Elem: gguf.TypeUint64, Values: []uint64{1 << 63}},
			{Elem: gguf.TypeInt64, Values: []int64{-1 << 62}},
			{Elem: gguf.TypeFloat64, Values: []float64{2.5}},
			{Elem: gguf.TypeString, Values: []string{}},
			{Elem: gguf.TypeArray, Values: []gguf.Array{{Elem: gguf.TypeString, Values: []string{"deep"}}, {Elem: gguf.TypeArray, Values: []gguf.Array{}}}},
		})},
		{"arr.deep8", gguf.Value{Type: gguf.TypeArray, V: deep}},
	}
}

type testTensor struct {
	name string
	typ  gguf.Type
	dims []uint64
}

// roundTripTensors covers the types asked for, sizes that are not multiples
// of the alignment (so padding is exercised) and an empty tensor.
var roundTripTensors = []testTensor{
	{"f32.odd", gguf.F32, []uint64{7}},
	{"f16", gguf.F16, []uint64{3, 5}},
	{"bf16", gguf.BF16, []uint64{4, 2, 3}},
	{"empty", gguf.F32, []uint64{0, 4}},
	{"q8_0", gguf.Q8_0, []uint64{64, 3}},
	{"q6_k", gguf.Q6_K, []uint64{256, 3}},
	{"tq1_0", gguf.TQ1_0, []uint64{256, 2}},
	{"tq2_0", gguf.TQ2_0, []uint64{512, 1, 1, 1}},
	{"blk.0.attn_q.weight", gguf.I2_S, []uint64{128, 4}},
	{"tl1", gguf.TL1, []uint64{128, 2}},
	{"i8_s", gguf.I8_S, []uint64{32}},
	{"tl2", gguf.TL2, []uint64{256, 2}},
	{"last.f32", gguf.F32, []uint64{1}},
}

func roundTripWriter(t testing.TB) (*gguf.Writer, map[string][]byte) {
	w := &gguf.Writer{KVs: allValuesKVs()}
	data := map[string][]byte{}
	for i, tt := range roundTripTensors {
		b := randBytes(uint64(100+i), tensorBytes(t, tt.typ, tt.dims...))
		data[tt.name] = b
		w.AddTensor(tt.name, tt.typ, tt.dims, b)
	}
	return w, data
}

func checkRoundTrip(t *testing.T, f *gguf.File, data map[string][]byte) {
	t.Helper()
	equal(t, f.Version, uint32(3), "version")
	equal(t, f.Alignment, uint64(64), "alignment")
	equal(t, f.Dialect, gguf.DialectFork, "dialect")
	equal(t, f.DataOffset%64, uint64(0), "data offset alignment")
	if d := diffKVs(allValuesKVs(), f.KVs); d != "" {
		t.Fatal(d)
	}
	for _, kv := range allValuesKVs() {
		got, ok := f.Get(kv.Key)
		check(t, ok, "Get(%q) missing", kv.Key)
		if d := diffAny(kv.Key, kv.Value.V, got.V); d != "" {
			t.Fatal(d)
		}
	}
	_, ok := f.Get("no.such.key")
	check(t, !ok, "Get of a missing key succeeded")

	equal(t, len(f.Tensors), len(roundTripTensors), "tensor count")
	var prevEnd uint64
	for i, want := range roundTripTensors {
		ti := &f.Tensors[i]
		equal(t, ti.Name, want.name, "tensor name")
		equal(t, ti.Type, want.typ, want.name+" type")
		equal(t, ti.RawType, want.typ.RawType(), want.name+" raw type")
		check(t, len(ti.Dims) == len(want.dims), "%s dims %v, want %v", want.name, ti.Dims, want.dims)
		for j := range want.dims {
			equal(t, ti.Dims[j], want.dims[j], want.name+" dim")
		}
		equal(t, ti.Size, uint64(len(data[want.name])), want.name+" size")
		equal(t, ti.Offset%64, uint64(0), want.name+" offset alignment")
		check(t, ti.Offset >= prevEnd, "%s at %d overlaps the previous tensor ending at %d", want.name, ti.Offset, prevEnd)
		prevEnd = ti.Offset + ti.Size
		got, err := f.TensorData(ti)
		must(t, err, "TensorData ", want.name)
		check(t, bytes.Equal(got, data[want.name]), "%s: tensor bytes differ", want.name)
		equal(t, cap(got), len(got), want.name+" TensorData capacity") // appends must not scribble over the next tensor
		byName, ok := f.Tensor(want.name)
		check(t, ok && byName == ti, "Tensor(%q) lookup", want.name)
	}
	_, ok = f.Tensor("no.such.tensor")
	check(t, !ok, "Tensor of a missing name succeeded")
	// I2_S sits at on-disk id 36 and has n/4 + 32 bytes.
	q, _ := f.Tensor("blk.0.attn_q.weight")
	equal(t, q.RawType, uint32(36), "I2_S raw id")
	equal(t, q.Size, uint64(128*4/4+32), "I2_S size")
	equal(t, q.Elements(), uint64(512), "I2_S elements")
	tl2, _ := f.Tensor("tl2")
	equal(t, tl2.RawType, uint32(39), "TL2 raw id")
}

func TestRoundTrip(t *testing.T) {
	w, data := roundTripWriter(t)
	path := filepath.Join(t.TempDir(), "model.gguf")
	must(t, w.WriteFile(path), "WriteFile")
	onDisk, err := os.ReadFile(path)
	must(t, err)
	check(t, bytes.Equal(onDisk, encode(t, w)), "WriteFile and WriteTo produce different bytes")
	// WriteFile leaves no temporary file behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	must(t, err)
	equal(t, len(entries), 1, "files in the output directory")

	t.Run("Open", func(t *testing.T) {
		f, err := gguf.Open(path)
		must(t, err, "Open")
		defer f.Close()
		if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
			check(t, f.Mapped, "Open did not mmap the file")
		}
		checkRoundTrip(t, f, data)
		must(t, f.Close(), "Close")
		_, err = f.TensorData(&f.Tensors[0])
		errContains(t, err, "no data")
		must(t, f.Close(), "second Close")
	})
	t.Run("NoMmap", func(t *testing.T) {
		f, err := gguf.OpenWith(path, gguf.OpenOptions{NoMmap: true})
		must(t, err, "OpenWith NoMmap")
		check(t, !f.Mapped, "NoMmap mapped the file")
		checkRoundTrip(t, f, data)
		must(t, f.Close(), "Close")
		_, err = f.TensorData(&f.Tensors[0])
		errContains(t, err, "no data")
		must(t, f.Close(), "second Close")
	})
	t.Run("Parse", func(t *testing.T) {
		f, err := gguf.Parse(onDisk)
		must(t, err, "Parse")
		check(t, !f.Mapped, "Parse claims a mapping")
		checkRoundTrip(t, f, data)
		// A second write of the parsed file is byte-identical.
		check(t, bytes.Equal(encode(t, rewrite(t, f)), onDisk), "rewrite is not byte-identical")
	})
	t.Run("Decode", func(t *testing.T) {
		f, err := gguf.Decode(bytes.NewReader(onDisk), int64(len(onDisk)))
		must(t, err, "Decode")
		_, err = f.TensorData(&f.Tensors[0])
		errContains(t, err, "no data")
	})
}

// TestWriteDataStreaming writes tensors through WriteData.
func TestWriteDataStreaming(t *testing.T) {
	data := randBytes(5, 4*100)
	w := &gguf.Writer{}
	w.Set("general.architecture", gguf.String("llama"))
	w.Tensors = append(w.Tensors, gguf.WriterTensor{Name: "s", Type: gguf.F32, Dims: []uint64{100},
		WriteData: func(out ioWriter) error { _, err := out.Write(data); return err }})
	f, err := gguf.Parse(encode(t, w))
	must(t, err)
	got, err := f.TensorData(&f.Tensors[0])
	must(t, err)
	check(t, bytes.Equal(got, data), "streamed tensor bytes differ")

	w.Tensors[0].WriteData = func(out ioWriter) error { _, err := out.Write(data[:10]); return err }
	_, err = w.WriteTo(&bytes.Buffer{})
	errContains(t, err, `"s"`, "wrote 10 bytes, want 400")
}

type ioWriter = io.Writer

// TestVersion2 reads hand-assembled v2 files. v2 changed v1's u32 counts and
// string lengths to u64, so v2 and v3 share one layout (formats.md §1.1:
// "GGUF v1 used u32 counts here"; llama.cpp's v2 reader is its v3 reader).
func TestVersion2(t *testing.T) {
	for _, version := range []uint32{2, 3} {
		b := v2File(version)
		f, err := gguf.Parse(b)
		must(t, err, "version ", version)
		equal(t, f.Version, version, "version")
		equal(t, f.Dialect, gguf.DialectUpstream, "dialect")
		arch, err := f.GetString("general.architecture")
		must(t, err)
		equal(t, arch, "llama", "arch")
		n, err := f.GetUint("llama.block_count")
		must(t, err)
		equal(t, n, uint64(7), "block_count")
		scores, err := gguf.GetArray[float32](f, "tokenizer.ggml.scores")
		must(t, err)
		check(t, len(scores) == 2 && scores[0] == -1.5 && scores[1] == 2, "scores %v", scores)
		equal(t, len(f.Tensors), 2, "tensors")
		equal(t, f.DataOffset%32, uint64(0), "data offset")
		a, _ := f.Tensor("a")
		da, err := f.TensorData(a)
		must(t, err)
		check(t, bytes.Equal(da, randBytes(9, 12)), "tensor a bytes")
		bt, _ := f.Tensor("b")
		equal(t, bt.Offset, uint64(32), "b offset")
		db, err := f.TensorData(bt)
		must(t, err)
		check(t, bytes.Equal(db, randBytes(10, 8)), "tensor b bytes")

		// Re-encoding (as v3) keeps everything but the version.
		g, err := gguf.Parse(encode(t, rewrite(t, f)))
		must(t, err)
		equal(t, g.Version, uint32(3), "rewritten version")
		if d := diffFiles(f, g); d != "" {
			t.Fatal(d)
		}
	}
	// The v2 and v3 files differ only in the version field.
	b2, b3 := v2File(2), v2File(3)
	equal(t, len(b2), len(b3), "v2/v3 sizes")
	check(t, bytes.Equal(b2[8:], b3[8:]), "v2 and v3 layouts differ")
}

func TestTypedGetters(t *testing.T) {
	f, err := gguf.Parse(encode(t, &gguf.Writer{KVs: allValuesKVs()}))
	must(t, err)
	s, err := f.GetString("str")
	must(t, err)
	equal(t, s, "héllo, wörld ✓", "GetString")
	u, err := f.GetUint("u16")
	must(t, err)
	equal(t, u, uint64(65535), "GetUint u16")
	u, err = f.GetUint("u64")
	must(t, err)
	equal(t, u, uint64(math.MaxUint64), "GetUint u64")
	_, err = f.GetUint("i8")
	errContains(t, err, `"i8"`, "negative")
	x, err := f.GetFloat("f32")
	must(t, err)
	equal(t, x, float64(float32(-1.25e-5)), "GetFloat f32")
	x, err = f.GetFloat("i32")
	must(t, err)
	equal(t, x, float64(math.MinInt32), "GetFloat i32")
	x, err = f.GetFloat("u64")
	must(t, err)
	equal(t, x, float64(math.MaxUint64), "GetFloat of a u64 above MaxInt64")
	b, err := f.GetBool("bool.true")
	must(t, err)
	check(t, b, "GetBool")
	strs, err := gguf.GetArray[string](f, "arr.str")
	must(t, err)
	equal(t, len(strs), 4, "GetArray len")
	_, err = gguf.GetArray[int32](f, "arr.str")
	errContains(t, err, `"arr.str"`, "array of string")
	_, err = f.GetString("u8")
	errContains(t, err, `"u8"`, "not a string")
	_, err = f.GetBool("str")
	errContains(t, err, `"str"`, "not a bool")
	_, err = f.GetFloat("str")
	errContains(t, err, `"str"`, "not a number")
	_, err = f.GetString("missing.key")
	errContains(t, err, `"missing.key"`, "missing")
	_, err = gguf.GetArray[string](f, "str")
	errContains(t, err, `"str"`, "not an array")
	i, err := (gguf.Value{Type: gguf.TypeUint64, V: uint64(math.MaxUint64)}).Int()
	errContains(t, err, "overflows")
	equal(t, i, int64(0), "Int on overflow")
}

// TestDialects checks the id 36–39 clash rule (dialect.go): ids 36–38 are
// the fork's whatever the architecture, an id 39 is decided by the size of its
// data slot, ids ≥ 40 are upstream's, and only without evidence does the
// architecture name decide.
func TestDialects(t *testing.T) {
	// One tensor of 256 values (one row) whose data slot is slot bytes.
	file := func(arch string, raw uint32, slot int) []byte {
		r := header(3, 1, 1).kvStr("general.architecture", arch)
		r.tensor("w", raw, 0, 256, 1).pad(32)
		return r.bytes(make([]byte, slot)).b
	}
	for _, c := range []struct {
		arch    string
		raw     uint32
		slot    int
		typ     gguf.Type
		size    uint64
		dialect gguf.Dialect
	}{
		{"bitnet-25", 36, 96, gguf.I2_S, 256/4 + 32, gguf.DialectFork},
		// The fork writes llama files with I2_S (HF1BitLLM, Falcon3, Falcon-E).
		{"llama", 36, 96, gguf.I2_S, 256/4 + 32, gguf.DialectFork},
		{"llama", 38, 96, gguf.TL1, 256/4 + 32, gguf.DialectFork},
		{"", 37, 256 + 32, gguf.I8_S, 256 + 32, gguf.DialectFork},
		// 39: TL2 takes 96 bytes for one 256-row, MXFP4 136.
		{"llama", 39, 96, gguf.TL2, 96, gguf.DialectFork},
		{"bitnet", 39, 96, gguf.TL2, 96, gguf.DialectFork},
		{"bitnet-b1.58", 39, 136, gguf.MXFP4, 136, gguf.DialectUpstream},
		{"llama", 39, 136, gguf.MXFP4, 136, gguf.DialectUpstream},
		// Padding after the last tensor up to the alignment (ggml's writer
		// pads, ours does not) does not matter: 136 bytes pad to 160.
		{"llama", 39, 160, gguf.MXFP4, 136, gguf.DialectUpstream},
		{"bitnet-b1.58", 39, 150, gguf.MXFP4, 136, gguf.DialectUpstream},
		// A slot that fits neither is no evidence: the name decides.
		{"llama", 39, 500, gguf.MXFP4, 136, gguf.DialectUpstream},
		{"bitnet-b1.58", 39, 500, gguf.TL2, 96, gguf.DialectFork},
		// Without clashing ids the dialect is a label from the name.
		{"bitnet-b1.58", 0, 1024, gguf.F32, 1024, gguf.DialectFork},
		{"bitnet", 0, 1024, gguf.F32, 1024, gguf.DialectUpstream},
		{"llama", 0, 1024, gguf.F32, 1024, gguf.DialectUpstream},
	} {
		f, err := gguf.Parse(file(c.arch, c.raw, c.slot))
		must(t, err, c.arch, " id ", c.raw, " slot ", c.slot)
		name := fmt.Sprintf("%s id %d slot %d", c.arch, c.raw, c.slot)
		equal(t, f.Tensors[0].Type, c.typ, name+": type")
		equal(t, f.Tensors[0].Size, c.size, name+": size")
		equal(t, f.Dialect, c.dialect, name+": dialect")
	}
	// A slot too small for the fork's type is caught by the extents check.
	_, err := gguf.Parse(file("llama", 36, 64))
	formatErr(t, err, `"w"`, "past the end")
	// 127 bytes round up to 128, which fits neither TL2 (96) nor MXFP4
	// (136): the name decides, and the MXFP4 tensor does not fit the file.
	_, err = gguf.Parse(file("llama", 39, 127))
	formatErr(t, err, `"w"`, "past the end")

	// Fork and upstream evidence in one file.
	mixed := func(raw2 uint32, dims2 uint64, size2 int) []byte {
		r := header(3, 2, 1).kvStr("general.architecture", "llama")
		r.tensor("q", 36, 0, 256, 1)
		r.tensor("m", raw2, 96, dims2, 1).pad(32)
		return r.bytes(make([]byte, 96+size2)).b
	}
	_, err = gguf.Parse(mixed(39, 256, 136))
	formatErr(t, err, `"q"`, `"m"`, "mixes", "MXFP4")
	_, err = gguf.Parse(mixed(41, 128, 18))
	formatErr(t, err, `"q"`, `"m"`, "mixes", "id 41")

	for _, id := range []uint32{1036, 1039} {
		// This package's internal ids for the fork types are not on-disk ids.
		_, err = gguf.Parse(file("bitnet-b1.58", id, 96))
		formatErr(t, err, `"w"`, "unknown type id")
	}

	// The writer decides with the same rule, so every file it writes reads
	// back with the same types; it refuses fork and upstream types together.
	for _, c := range []struct {
		arch    string
		typ     gguf.Type
		dims    []uint64
		dialect gguf.Dialect
	}{
		{"llama", gguf.I2_S, []uint64{128}, gguf.DialectFork},
		{"bitnet-b1.58", gguf.MXFP4, []uint64{32}, gguf.DialectUpstream},
		{"", gguf.TL2, []uint64{256, 2}, gguf.DialectFork},
	} {
		w := &gguf.Writer{}
		if c.arch != "" {
			w.Set("general.architecture", gguf.String(c.arch))
		}
		w.AddTensor("x", c.typ, c.dims, make([]byte, tensorBytes(t, c.typ, c.dims...)))
		f, err := gguf.Parse(encode(t, w))
		must(t, err, c.typ)
		equal(t, f.Tensors[0].Type, c.typ, c.typ.String()+" written and read")
		equal(t, f.Dialect, c.dialect, c.typ.String()+" dialect")
	}
	w := &gguf.Writer{}
	w.AddTensor("q", gguf.I2_S, []uint64{128}, make([]byte, 64))
	w.AddTensor("m", gguf.MXFP4, []uint64{256}, make([]byte, 136))
	_, err = w.WriteTo(&bytes.Buffer{})
	errContains(t, err, `"q"`, `"m"`, "mixes")

	for raw := uint32(0); raw < 2000; raw++ {
		for _, d := range []gguf.Dialect{gguf.DialectUpstream, gguf.DialectFork} {
			if typ, ok := gguf.ResolveType(raw, d); ok {
				equal(t, typ.RawType(), raw, "RawType(ResolveType)")
				check(t, typ.Known() && typ.BlockSize() > 0 && typ.TypeSize() > 0, "resolved type %v has no traits", typ)
			}
		}
	}
}

func TestTensorSize(t *testing.T) {
	for _, c := range []struct {
		typ  gguf.Type
		dims []uint64
		want uint64
	}{
		{gguf.I2_S, []uint64{2560, 2560}, 1638432}, // formats.md §2.3
		{gguf.I2_S, []uint64{2560}, 672},
		{gguf.TL1, []uint64{256, 768}, 256*768/4 + 32},
		{gguf.TQ1_0, []uint64{256, 256}, 13824},
		{gguf.TQ2_0, []uint64{256, 256}, 16896},
		{gguf.Q6_K, []uint64{256, 32000}, 6720000},
		{gguf.F16, []uint64{256, 4096}, 2097152},
		{gguf.F32, []uint64{0, 1 << 62}, 0},
		{gguf.F32, []uint64{1 << 62, 0}, 0},
		{gguf.I8_S, []uint64{10}, 42},
	} {
		got, err := gguf.TensorSize(c.typ, c.dims)
		must(t, err, c.typ, c.dims)
		equal(t, got, c.want, c.typ.String()+" size")
	}
	for _, c := range []struct {
		typ  gguf.Type
		dims []uint64
		msg  string
	}{
		{gguf.F32, []uint64{1 << 62}, "too large"}, // 2^64 bytes used to wrap to 0
		{gguf.F64, []uint64{1 << 31, 1 << 31}, "too large"},
		{gguf.F32, []uint64{1 << 32, 1 << 32}, "too large"},
		{gguf.Q8_0, []uint64{33}, "block size"},
		{gguf.I2_S, []uint64{6}, "multiple of 4"},
		{gguf.TL2, []uint64{128, 2}, "shorter than 256"},
		{gguf.Type(77), []uint64{1}, "unknown tensor type"},
	} {
		_, err := gguf.TensorSize(c.typ, c.dims)
		errContains(t, err, c.msg)
	}
	equal(t, gguf.I2_S.String(), "i2_s", "I2_S name")
	equal(t, gguf.Type(77).String(), "type(77)", "unknown type name")
	equal(t, gguf.TypeArray.String(), "array", "value type name")
	equal(t, gguf.ValueType(99).String(), "valuetype(99)", "unknown value type name")
}

// TestWriterRejects checks that the writer refuses what the reader would
// reject or read back differently, naming the problem.
func TestWriterRejects(t *testing.T) {
	base := func() *gguf.Writer {
		w := &gguf.Writer{}
		w.Set("general.architecture", gguf.String("llama"))
		return w
	}
	cases := []struct {
		name string
		edit func(w *gguf.Writer)
		msg  []string
	}{
		{"value type mismatch", func(w *gguf.Writer) { w.Set("k", gguf.Value{Type: gguf.TypeUint32, V: uint8(1)}) }, []string{`"k"`, "uint32 holds Go uint8"}},
		{"array elem mismatch", func(w *gguf.Writer) {
			w.Set("k", gguf.Value{Type: gguf.TypeArray, V: gguf.Array{Elem: gguf.TypeUint32, Values: []uint8{1}}})
		}, []string{`"k"`, "element type uint32 holds Go []uint8"}},
		{"array type without Array", func(w *gguf.Writer) { w.Set("k", gguf.Value{Type: gguf.TypeArray, V: []string{"a"}}) }, []string{`"k"`, "array holds Go []string"}},
		{"unsupported Go type", func(w *gguf.Writer) { w.Set("k", gguf.Value{Type: gguf.TypeString, V: 3}) }, []string{`"k"`, "string holds Go int"}},
		{"too deep", func(w *gguf.Writer) {
			a := gguf.Array{Elem: gguf.TypeUint8, Values: []uint8{1}}
			for i := 0; i < 8; i++ {
				a = gguf.Array{Elem: gguf.TypeArray, Values: []gguf.Array{a}}
			}
			w.Set("k", gguf.Value{Type: gguf.TypeArray, V: a})
		}, []string{`"k"`, "nested deeper than 8"}},
		{"alignment not a power of two", func(w *gguf.Writer) { w.Set("general.alignment", gguf.Uint32(48)) }, []string{"general.alignment 48"}},
		{"alignment wrong type", func(w *gguf.Writer) { w.Set("general.alignment", gguf.Uint64(64)) }, []string{"general.alignment", "uint64"}},
		{"duplicate key", func(w *gguf.Writer) { w.KVs = append(w.KVs, w.KVs[0]) }, []string{"duplicate metadata key", "general.architecture"}},
		{"long key", func(w *gguf.Writer) { w.Set(string(make([]byte, 65536)), gguf.Bool(true)) }, []string{"key of 65536 bytes"}},
		{"duplicate tensor", func(w *gguf.Writer) {
			w.AddTensor("t", gguf.F32, []uint64{1}, make([]byte, 4))
			w.AddTensor("t", gguf.F32, []uint64{1}, make([]byte, 4))
		}, []string{`duplicate tensor name "t"`}},
		{"long tensor name", func(w *gguf.Writer) {
			w.AddTensor(string(bytes.Repeat([]byte("n"), 64)), gguf.F32, []uint64{1}, make([]byte, 4))
		}, []string{"too long", "64 bytes"}},
		{"no dims", func(w *gguf.Writer) { w.AddTensor("t", gguf.F32, nil, nil) }, []string{`"t"`, "0 dimensions"}},
		{"five dims", func(w *gguf.Writer) { w.AddTensor("t", gguf.F32, []uint64{1, 1, 1, 1, 1}, make([]byte, 4)) }, []string{`"t"`, "5 dimensions"}},
		{"data size", func(w *gguf.Writer) { w.AddTensor("t", gguf.F32, []uint64{2}, make([]byte, 4)) }, []string{`"t"`, "4 data bytes", "needs 8"}},
		{"bad block", func(w *gguf.Writer) { w.AddTensor("t", gguf.Q8_0, []uint64{31}, nil) }, []string{`"t"`, "block size"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := base()
			c.edit(w)
			var buf bytes.Buffer
			_, err := w.WriteTo(&buf)
			errContains(t, err, c.msg...)
			err = w.WriteFile(filepath.Join(t.TempDir(), "x.gguf"))
			errContains(t, err, c.msg...)
		})
	}
	// A failed WriteFile leaves neither the target nor a temporary file.
	dir := t.TempDir()
	w := base()
	w.AddTensor("t", gguf.F32, []uint64{2}, nil)
	check(t, w.WriteFile(filepath.Join(dir, "x.gguf")) != nil, "WriteFile succeeded")
	entries, err := os.ReadDir(dir)
	must(t, err)
	equal(t, len(entries), 0, "files left behind")

	// ArrayOf panics on a slice type a GGUF array cannot hold.
	func() {
		defer func() { check(t, recover() != nil, "ArrayOf([]int) did not panic") }()
		gguf.ArrayOf([]int{1})
	}()
	// A nil Values is an empty array.
	f, err := gguf.Parse(encode(t, &gguf.Writer{KVs: []gguf.KV{{"e", gguf.Value{Type: gguf.TypeArray, V: gguf.Array{Elem: gguf.TypeString}}}}}))
	must(t, err)
	a, err := gguf.GetArray[string](f, "e")
	must(t, err)
	equal(t, len(a), 0, "empty array")
}

// TestSet replaces existing keys in place.
func TestSet(t *testing.T) {
	w := &gguf.Writer{}
	w.Set("a", gguf.Uint32(1))
	w.Set("b", gguf.Uint32(2))
	w.Set("a", gguf.String("x"))
	equal(t, len(w.KVs), 2, "KVs")
	equal(t, w.KVs[0].Key, "a", "first key")
	equal(t, w.KVs[0].Value.V.(string), "x", "replaced value")
}
