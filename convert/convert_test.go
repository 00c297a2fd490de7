package convert

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
)

// golden returns the path of a reference file under ../shared/testdata,
// gunzipped once per test binary when it is stored as .gz.
func golden(t *testing.T, rel string) string {
	t.Helper()
	p := testutil.Shared(t, rel, "the reference converter's output")
	if !strings.HasSuffix(p, ".gz") {
		return p
	}
	return testutil.Gunzip(t, p)
}

func TestMain(m *testing.M) { os.Exit(testutil.RunMain(m)) }

func convertTo(t *testing.T, dir, typ string, o Options) string {
	t.Helper()
	o.Type = typ
	out := filepath.Join(t.TempDir(), typ+".gguf")
	if err := Convert(dir, out, o); err != nil {
		t.Fatal(err)
	}
	return out
}

func open(t *testing.T, p string) *gguf.File {
	t.Helper()
	return testutil.OpenGGUF(t, p)
}

// compareKVs reports every key (in order) whose name or value differs,
// except the keys in skip.
func compareKVs(t *testing.T, ours, ref []gguf.KV, skip map[string]bool) {
	t.Helper()
	if len(ours) != len(ref) {
		t.Errorf("%d metadata keys, reference %d", len(ours), len(ref))
	}
	for i := 0; i < min(len(ours), len(ref)); i++ {
		if ours[i].Key != ref[i].Key {
			t.Errorf("key %d: %s, reference %s", i, ours[i].Key, ref[i].Key)
			continue
		}
		if skip[ours[i].Key] {
			continue
		}
		if !reflect.DeepEqual(ours[i].Value, ref[i].Value) {
			t.Errorf("%s: %.200v, reference %.200v", ours[i].Key, ours[i].Value, ref[i].Value)
		}
	}
}

// compareTensors checks names, order, types, shapes and bytes; for I2_S
// tensors the 28 padding bytes of the tail are excluded (llama-quantize
// leaves its buffer's old contents there) and ours must be zero.
func compareTensors(t *testing.T, of *gguf.File, rt []rawTensor, refData func(rawTensor) []byte) {
	t.Helper()
	if len(of.Tensors) != len(rt) {
		t.Fatalf("%d tensors, reference %d", len(of.Tensors), len(rt))
	}
	for i := range rt {
		a, r := &of.Tensors[i], rt[i]
		if a.Name != r.name || a.RawType != r.typ || !reflect.DeepEqual(a.Dims, r.dims) {
			t.Errorf("tensor %d: %s %v type %d, reference %s %v type %d", i, a.Name, a.Dims, a.RawType, r.name, r.dims, r.typ)
			continue
		}
		da, _ := of.TensorData(a)
		db := refData(r)
		if a.Type == gguf.I2_S {
			n := int(a.Elements())
			if !bytes.Equal(da[:n/4+4], db[:n/4+4]) {
				t.Errorf("%s: I2_S codes or scale differ from the reference", a.Name)
			}
			if !bytes.Equal(da[n/4+4:], make([]byte, 28)) {
				t.Errorf("%s: I2_S tail padding is not zero", a.Name)
			}
			continue
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s: %s data differs from the reference", a.Name, a.Type)
		}
	}
}

type rawTensor struct {
	name   string
	dims   []uint64
	typ    uint32
	offset uint64
}

// rawTensors lists a GGUF's tensors without resolving their types (the
// gguf package reads a fork-made `llama` file's I2_S as upstream's id 36
// until the dialect is decided from more than the architecture name).
// It returns the tensors and the absolute offset of the data section.
func rawTensors(t *testing.T, b []byte) ([]rawTensor, uint64) {
	t.Helper()
	off := 0
	need := func(n int) {
		if off+n > len(b) {
			t.Fatalf("reference GGUF truncated at %d", off)
		}
	}
	u32 := func() uint32 { need(4); v := binary.LittleEndian.Uint32(b[off:]); off += 4; return v }
	u64 := func() uint64 { need(8); v := binary.LittleEndian.Uint64(b[off:]); off += 8; return v }
	str := func() string { n := int(u64()); need(n); s := string(b[off : off+n]); off += n; return s }
	sizes := map[uint32]int{0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
	var value func(vt uint32)
	value = func(vt uint32) {
		switch vt {
		case 8:
			str()
		case 9:
			et, n := u32(), int(u64())
			for i := 0; i < n; i++ {
				value(et)
			}
		default:
			s, ok := sizes[vt]
			if !ok {
				t.Fatalf("value type %d", vt)
			}
			need(s)
			off += s
		}
	}
	need(8)
	off = 8 // magic, version
	nt, nkv := int(u64()), int(u64())
	for i := 0; i < nkv; i++ {
		str()
		value(u32())
	}
	ts := make([]rawTensor, nt)
	for i := range ts {
		ts[i].name = str()
		nd := int(u32())
		for j := 0; j < nd; j++ {
			ts[i].dims = append(ts[i].dims, u64())
		}
		ts[i].typ = u32()
		ts[i].offset = u64()
	}
	data := uint64(off+31) / 32 * 32
	return ts, data
}

func refTensors(t *testing.T, path string) ([]rawTensor, func(rawTensor) []byte) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, data := rawTensors(t, b)
	return ts, func(r rawTensor) []byte {
		// The size follows from the next tensor or the end of the file;
		// callers compare the prefix they need.
		end := uint64(len(b))
		for _, o := range ts {
			if o.offset > r.offset && data+o.offset < end {
				end = data + o.offset
			}
		}
		return b[data+r.offset : end]
	}
}

// compareFile converts and compares with a reference file: every metadata
// key but those in skip, every tensor.
func compareFile(t *testing.T, dir, typ, ref string, o Options, skip map[string]bool) *gguf.File {
	t.Helper()
	ours := open(t, convertTo(t, dir, typ, o))
	rt, data := refTensors(t, ref)
	// Trim each reference tensor to our tensor's size (alignment padding).
	sized := func(r rawTensor) []byte {
		d := data(r)
		if ti, ok := ours.Tensor(r.name); ok && uint64(len(d)) >= ti.Size {
			return d[:ti.Size]
		}
		return d
	}
	compareTensors(t, ours, rt, sized)
	compareKVs(t, ours.KVs, open(t, ref).KVs, skip)
	return ours
}

const hfRoot = "hf/"

func TestBitNet2B4T(t *testing.T) {
	dir := testutil.Shared(t, hfRoot+"bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	t.Run("f32", func(t *testing.T) {
		ref := golden(t, hfRoot+"bitnet-2b4t-bf16/ggml-model-f32-bitnet.gguf.gz")
		out := convertTo(t, dir, "f32", Options{})
		a, _ := os.ReadFile(out)
		b, _ := os.ReadFile(ref)
		if !bytes.Equal(a, b) {
			t.Error("f32 output is not byte-identical to the reference")
			compareFile(t, dir, "f32", ref, Options{}, nil)
		}
	})
	t.Run("i2_s", func(t *testing.T) {
		compareFile(t, dir, "i2_s", golden(t, hfRoot+"bitnet-2b4t-bf16/ggml-model-i2s-bitnet.gguf.gz"), Options{}, nil)
	})
}

func TestBitNet1bitLLM(t *testing.T) {
	dir := testutil.Shared(t, hfRoot+"bitnet-1bitllm/hf", "the 1bitLLM checkpoint")
	t.Run("f32", func(t *testing.T) {
		ref := golden(t, hfRoot+"bitnet-1bitllm/ggml-model-f32.gguf.gz")
		a, _ := os.ReadFile(convertTo(t, dir, "f32", Options{}))
		b, _ := os.ReadFile(ref)
		if !bytes.Equal(a, b) {
			t.Error("f32 output is not byte-identical to the reference")
			compareFile(t, dir, "f32", ref, Options{}, nil)
		}
	})
	t.Run("i2_s", func(t *testing.T) {
		compareFile(t, dir, "i2_s", golden(t, hfRoot+"bitnet-1bitllm/ggml-model-i2_s.gguf.gz"), Options{}, nil)
	})
}

// The llama family: tensors identical; the token texts differ exactly by
// the reference's "<|begin_of_text|>" prefix on every added token.
func TestLlamaPacked(t *testing.T) {
	dir := testutil.Shared(t, "golden/llama-s/hf", "the packed-ternary llama checkpoint")
	ref := golden(t, "golden/llama-s/ggml-model-f32.gguf.gz")
	ours := compareFile(t, dir, "f32", ref, Options{}, map[string]bool{layout.KeyTokens: true})
	rf := open(t, ref)
	checkBOSPrefixBug(t, ours, rf)

	// I2_S: the tensors as the converter streams them, then the written file.
	w, closeFn, err := Plan(dir, Options{Type: "i2_s"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	refI2S := testutil.Shared(t, "golden/llama-s/ggml-model-i2_s.gguf", "the reference I2_S file")
	rt, data := refTensors(t, refI2S)
	if len(rt) != len(w.Tensors) {
		t.Fatalf("%d tensors, reference %d", len(w.Tensors), len(rt))
	}
	for i, wt := range w.Tensors {
		r := rt[i]
		if wt.Name != r.name || wt.Type.RawType() != r.typ || !reflect.DeepEqual(wt.Dims, r.dims) {
			t.Errorf("tensor %d: %s %v %s, reference %s %v type %d", i, wt.Name, wt.Dims, wt.Type, r.name, r.dims, r.typ)
			continue
		}
		var buf bytes.Buffer
		if err := wt.WriteData(&buf); err != nil {
			t.Fatal(err)
		}
		got, want := buf.Bytes(), data(r)
		n := len(got)
		if wt.Type == gguf.I2_S {
			n -= 28 // compare codes and scale
		}
		if !bytes.Equal(got[:n], want[:n]) {
			t.Errorf("%s (%s): bytes differ from the reference", wt.Name, wt.Type)
		}
	}
	// The metadata the writer would write: the reference's, but for the
	// tokens (the gguf package reads the reference's metadata once its
	// tensor table is cut off).
	b, _ := os.ReadFile(refI2S)
	_, dataOff := rawTensors(t, b)
	hdr := append([]byte(nil), b[:dataOff]...)
	binary.LittleEndian.PutUint64(hdr[8:], 0)
	rf, derr := gguf.Decode(bytes.NewReader(hdr), int64(len(hdr)))
	if derr != nil {
		t.Fatal(derr)
	}
	refMeta := rf.KVs
	compareKVs(t, w.KVs, refMeta, map[string]bool{layout.KeyTokens: true})

	// Writing the file: the gguf writer decides the dialect from the tensor
	// types (docs/FORMATS.md), so an I2_S `llama` file is written as the fork's.
	out := filepath.Join(t.TempDir(), "x.gguf")
	if err := Convert(dir, out, Options{Type: "i2_s"}); err != nil {
		t.Fatalf("llama I2_S write: %v", err)
	}
	of := open(t, out)
	compareTensors(t, of, rt, func(r rawTensor) []byte {
		ti, _ := of.Tensor(r.name)
		return data(r)[:ti.Size]
	})
	compareKVs(t, of.KVs, refMeta, map[string]bool{layout.KeyTokens: true})
}

func checkBOSPrefixBug(t *testing.T, ours, ref *gguf.File) {
	t.Helper()
	a, err := gguf.GetArray[string](ours, layout.KeyTokens)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := gguf.GetArray[string](ref, layout.KeyTokens)
	types, _ := gguf.GetArray[int32](ours, layout.KeyTokenTypes)
	diff := 0
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		diff++
		if types[i] != layout.TokenControl || b[i] != "<|begin_of_text|>"+a[i] {
			t.Errorf("token %d: %q, reference %q (type %d): not the BOS-prefix difference", i, a[i], b[i], types[i])
		}
	}
	if diff != 16 {
		t.Errorf("%d tokens differ, want the 16 added tokens", diff)
	}
}

// Our GGUFs tokenize llama.cpp's test texts exactly as the reference
// GGUFs do.
func TestTokenizerVectors(t *testing.T) {
	cases := []struct{ dir, typ, ref, vectors string }{
		{hfRoot + "bitnet-2b4t-bf16/hf", "i2_s", hfRoot + "bitnet-2b4t-bf16/ggml-model-i2s-bitnet.gguf.gz", "tokenizers/ggml-vocab-bitnet-2b4t-nopre.gguf.inp"},
		{hfRoot + "bitnet-1bitllm/hf", "i2_s", hfRoot + "bitnet-1bitllm/ggml-model-i2_s.gguf.gz", "tokenizers/ggml-vocab-llama-spm.gguf.inp"},
		{"golden/llama-s/hf", "f32", "golden/llama-s/ggml-model-f32.gguf.gz", "tokenizers/ggml-vocab-llama-bpe.gguf.inp"},
	}
	for _, c := range cases {
		t.Run(strings.Split(c.dir, "/")[1], func(t *testing.T) {
			dir := testutil.Shared(t, c.dir, "a converter input")
			inp, err := os.ReadFile(testutil.Shared(t, c.vectors, "tokenizer test texts"))
			if err != nil {
				t.Fatal(err)
			}
			texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
			ours, err := tokenizer.FromGGUF(open(t, convertTo(t, dir, c.typ, Options{})), tokenizer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := tokenizer.FromGGUF(open(t, golden(t, c.ref)), tokenizer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range texts {
				if s == "" {
					continue
				}
				n++
				a, b := ours.Encode(s, true, false), theirs.Encode(s, true, false)
				if !reflect.DeepEqual(a, b) {
					t.Errorf("%q: %v, reference %v", s, a, b)
				}
			}
			if n < 30 {
				t.Errorf("only %d test texts", n)
			}
		})
	}
}
