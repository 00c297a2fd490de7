package gguf_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
)

const (
	tF32  = uint32(gguf.F32)
	vU8   = uint32(gguf.TypeUint8)
	vStr  = uint32(gguf.TypeString)
	vArr  = uint32(gguf.TypeArray)
	vBool = uint32(gguf.TypeBool)
)

// twoF32 is a valid file with two 8-element F32 tensors, edited by the
// cases below.
func twoF32(align uint32, offA, offB uint64, dataBytes int) []byte {
	r := header(3, 2, 1)
	r.kvU32("general.alignment", align)
	r.tensor("a", tF32, offA, 8).tensor("b", tF32, offB, 8).pad(int(align))
	return r.bytes(make([]byte, dataBytes)).b
}

func TestBadInput(t *testing.T) {
	nested := func(depth int) []byte {
		r := header(3, 0, 1).str("n").u32(vArr)
		for i := 1; i < depth; i++ {
			r.u32(vArr).u64(1)
		}
		return r.u32(vU8).u64(0).b
	}
	hugeName := strings.Repeat("x", 64)
	cases := []struct {
		name string
		b    []byte
		msg  []string
	}{
		{"empty file", nil, []string{"too short", "0 bytes"}},
		{"three bytes", []byte("GGU"), []string{"too short"}},
		{"wrong magic", append([]byte("GGUG"), header(3, 0, 0).b[4:]...), []string{"bad magic", `"GGUG"`}},
		{"lowercase magic", append([]byte("gguf"), header(3, 0, 0).b[4:]...), []string{"bad magic"}},
		{"version 0", header(0, 0, 0).b, []string{"unsupported GGUF version 0"}},
		{"version 1", header(1, 0, 0).b, []string{"unsupported GGUF version 1"}},
		{"version 4", header(4, 0, 0).b, []string{"unsupported GGUF version 4"}},
		{"byte-swapped version 3", header(0x03000000, 0, 0).b, []string{"byte-swapped", "big-endian"}},
		{"byte-swapped version 2", header(0x02000000, 0, 0).b, []string{"byte-swapped"}},
		{"tensor count 2^60", header(3, 1<<60, 0).b, []string{"tensor count 1152921504606846976"}},
		{"KV count 2^60", header(3, 0, 1<<60).b, []string{"metadata count 1152921504606846976"}},
		{"tensor count 2^64-1", header(3, ^uint64(0), 0).b, []string{"tensor count"}},
		{"key length 2^62", header(3, 0, 1).u64(1 << 62).bytes(make([]byte, 16)).b, []string{"key of 4611686018427387904 bytes"}},
		{"key length 2^64-1", header(3, 0, 1).u64(^uint64(0)).bytes(make([]byte, 16)).b, []string{"key of 18446744073709551615 bytes"}},
		{"string value length 2^62", header(3, 0, 1).str("s").u32(vStr).u64(1 << 62).b, []string{`"s"`, "string of 4611686018427387904 bytes"}},
		{"key too long", header(3, 0, 1).str(strings.Repeat("k", 65536)).u32(vBool).u8(1).b, []string{"metadata key", "of 65536 bytes (max 65535)"}},
		{"u8 array count 2^62", header(3, 0, 1).str("a").u32(vArr).u32(vU8).u64(1 << 62).b, []string{`"a"`, "array element count 4611686018427387904"}},
		{"string array count 2^62", header(3, 0, 1).str("a").u32(vArr).u32(vStr).u64(1 << 62).b, []string{`"a"`, "array element count"}},
		{"array array count 2^62", header(3, 0, 1).str("a").u32(vArr).u32(vArr).u64(1 << 62).b, []string{`"a"`, "array element count"}},
		{"u64 array count 2^61", header(3, 0, 1).str("a").u32(vArr).u32(uint32(gguf.TypeUint64)).u64(1 << 61).bytes(make([]byte, 64)).b, []string{"array element count"}},
		{"string in array 2^62", header(3, 0, 1).str("a").u32(vArr).u32(vStr).u64(1).u64(1 << 62).b, []string{"string of 4611686018427387904 bytes"}},
		{"nested arrays 100 deep", nested(100), []string{`"n"`, "nested deeper than 8"}},
		{"nested arrays 9 deep", nested(9), []string{"nested deeper than 8"}},
		{"bool value 2", header(3, 0, 1).str("b").u32(vBool).u8(2).b, []string{`"b"`, "bool value 2"}},
		{"bool array value 255", header(3, 0, 1).str("b").u32(vArr).u32(vBool).u64(2).u8(1).u8(255).b, []string{`"b"`, "bool value 255"}},
		{"unknown value type", header(3, 0, 1).str("v").u32(13).u32(0).b, []string{`"v"`, "unknown metadata value type 13"}},
		{"unknown value type 2^32-1", header(3, 0, 1).str("v").u32(^uint32(0)).u64(0).b, []string{"unknown metadata value type 4294967295"}},
		{"unknown array element type", header(3, 0, 1).str("v").u32(vArr).u32(42).u64(0).b, []string{`"v"`, "unknown array element type 42"}},
		{"duplicate key", header(3, 0, 2).kvU32("k.k", 1).kvStr("k.k", "x").b, []string{`duplicate metadata key "k.k"`}},
		{"unknown tensor type", header(3, 1, 0).tensor("blk.3.ffn_up.weight", 99, 0, 8).pad(32).bytes(make([]byte, 64)).b, []string{`"blk.3.ffn_up.weight"`, "unknown type id 99"}},
		{"removed tensor type 31", header(3, 1, 0).tensor("w", 31, 0, 8).pad(32).bytes(make([]byte, 64)).b, []string{`"w"`, "unknown type id 31"}},
		{"n_dims 0", header(3, 1, 0).str("t").u32(0).u32(tF32).u64(0).pad(32).b, []string{`"t"`, "0 dimensions"}},
		{"n_dims 5", header(3, 1, 0).tensor("t", tF32, 0, 1, 1, 1, 1, 1).pad(32).bytes(make([]byte, 4)).b, []string{`"t"`, "5 dimensions"}},
		{"n_dims 2^32-1", header(3, 1, 0).str("t").u32(^uint32(0)).bytes(make([]byte, 64)).b, []string{`"t"`, "4294967295 dimensions"}},
		{"tensor name 64 bytes", header(3, 1, 0).tensor(hugeName, tF32, 0, 1).pad(32).bytes(make([]byte, 4)).b, []string{"name", "is 64 bytes (max 63)"}},
		{"tensor name 2^62", header(3, 1, 0).u64(1 << 62).bytes(make([]byte, 64)).b, []string{"tensor name of 4611686018427387904 bytes"}},
		{"duplicate tensor names", header(3, 2, 0).tensor("w", tF32, 0, 8).tensor("w", tF32, 32, 8).pad(32).bytes(make([]byte, 64)).b, []string{`duplicate tensor name "w"`}},
		{"offset not aligned", twoF32(32, 0, 40, 72), []string{`"b"`, "offset 40 is not a multiple of the alignment 32"}},
		{"offset not aligned to 64", twoF32(64, 32, 64, 96), []string{`"a"`, "offset 32 is not a multiple of the alignment 64"}},
		{"data beyond EOF", twoF32(32, 0, 32, 63), []string{`"b"`, "runs past the end of the file"}},
		{"offset beyond EOF", twoF32(32, 0, 1<<40, 64), []string{`"b"`, "runs past the end"}},
		{"offset 2^64-32", twoF32(32, 0, ^uint64(31), 64), []string{`"b"`, "runs past the end"}},
		{"data section past EOF", header(3, 1, 0).tensor("t", tF32, 0, 0).b, []string{"data section starts at", "past the end"}},
		{"overlapping tensors", twoF32(32, 0, 0, 64), []string{`"a"`, `"b"`, "overlap"}},
		{"overlap reversed order", twoF32(8, 8, 0, 64), []string{`"a"`, `"b"`, "overlap"}},
		{"alignment of type u64", header(3, 0, 1).str("general.alignment").u32(uint32(gguf.TypeUint64)).u64(32).b, []string{"general.alignment 32 (uint64)"}},
		{"alignment of type string", header(3, 0, 1).kvStr("general.alignment", "32").b, []string{"general.alignment", "(string)"}},
		{"alignment 48", twoF32(48, 0, 48, 96), []string{"general.alignment 48 (uint32) is not a power of two"}},
		{"alignment 0", header(3, 0, 1).kvU32("general.alignment", 0).b, []string{"general.alignment 0"}},
		{"alignment 4", header(3, 0, 1).kvU32("general.alignment", 4).b, []string{"general.alignment 4"}},
		{"row not a whole block", header(3, 1, 0).tensor("q", uint32(gguf.Q8_0), 0, 33).pad(32).bytes(make([]byte, 64)).b, []string{`"q"`, "block size 32"}},
		{"2^64 bytes of f32", header(3, 1, 0).tensor("big", tF32, 0, 1<<62).pad(32).b, []string{`"big"`, "too large"}},
		{"dims product overflows", header(3, 1, 0).tensor("big", tF32, 0, 1<<32, 1<<32, 1<<32).pad(32).b, []string{`"big"`, "too large"}},
		{"I2_S not a multiple of 4", header(3, 1, 1).kvStr("general.architecture", "bitnet").tensor("i", 36, 0, 6).pad(32).bytes(make([]byte, 64)).b, []string{`"i"`, "multiple of 4"}},
		{"truncated KV value", header(3, 0, 1).str("x").u32(uint32(gguf.TypeUint64)).u32(0).b, []string{`"x"`, "truncated file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := gguf.Parse(c.b)
			formatErr(t, err, c.msg...)
			check(t, f == nil, "Parse returned a file with an error")
			t.Log(err)
			// Decode from a reader gives the same error.
			_, err2 := gguf.Decode(bytes.NewReader(c.b), int64(len(c.b)))
			check(t, err2 != nil && err2.Error() == err.Error(), "Decode error %v differs from Parse error %v", err2, err)
		})
	}

	// Open reports the same errors, prefixed by the path.
	dir := t.TempDir()
	for _, c := range cases[:12] {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".gguf")
		must(t, os.WriteFile(p, c.b, 0o644))
		f, err := gguf.Open(p)
		check(t, f == nil, "Open returned a file with an error")
		formatErr(t, err, append([]string{p}, c.msg...)...)
	}
	_, err := gguf.Open(filepath.Join(dir, "missing.gguf"))
	check(t, errors.Is(err, os.ErrNotExist), "Open of a missing file: %v", err)
	_, err = gguf.Open(dir)
	errContains(t, err, "not a regular file")
}

// TestBadInputPositiveControls checks that the limits are not off by one:
// these files are at the limits and valid.
func TestBadInputPositiveControls(t *testing.T) {
	name63 := strings.Repeat("x", 63)
	for _, b := range [][]byte{
		header(3, 1, 0).tensor(name63, tF32, 0, 1).pad(32).bytes(make([]byte, 4)).b,
		header(3, 1, 0).tensor("t", tF32, 0, 1, 1, 1, 1).pad(32).bytes(make([]byte, 4)).b,
		twoF32(32, 32, 0, 64), // tensors out of offset order
		twoF32(8, 0, 32, 64),  // alignment 8, gap between tensors
		twoF32(32, 0, 32, 64),
		twoF32(32, 0, 32, 100), // trailing bytes after the last tensor
		header(3, 0, 1).kvU32("general.alignment", 1<<31).b,
		header(3, 0, 0).b, // no tensors: the data section may be absent
		header(3, 2, 0).tensor("e1", tF32, 0, 0).tensor("e2", tF32, 0, 0, 9).pad(32).b, // empty tensors share offsets
	} {
		_, err := gguf.Parse(b)
		must(t, err)
	}
	// An empty tensor at the offset of a non-empty one is not an overlap,
	// whichever order they are listed in.
	for _, order := range [][2]string{{"e", "f"}, {"f", "e"}} {
		r := header(3, 2, 0)
		for _, n := range order {
			if n == "e" {
				r.tensor("e", tF32, 0, 0)
			} else {
				r.tensor("f", tF32, 0, 8)
			}
		}
		_, err := gguf.Parse(r.pad(32).bytes(make([]byte, 32)).b)
		must(t, err, order)
	}
}

// TestTruncated parses every proper prefix of a small valid file: each must
// fail with a format error that says the file is short.
func TestTruncated(t *testing.T) {
	for _, full := range [][]byte{smallModel(t), v2File(2)} {
		_, err := gguf.Parse(full)
		must(t, err, "the full file")
		for n := 0; n < len(full); n++ {
			f, err := gguf.Parse(full[:n:n])
			if f != nil || err == nil {
				t.Fatalf("prefix of %d/%d bytes parsed", n, len(full))
			}
			formatErr(t, err)
			msg := err.Error()
			if !strings.Contains(msg, "truncated") && !strings.Contains(msg, "past the end") &&
				!strings.Contains(msg, "cannot fit") && !strings.Contains(msg, "longer than") &&
				!strings.Contains(msg, "too short") {
				t.Fatalf("prefix of %d bytes: error %q does not say the file is short", n, msg)
			}
		}
	}
}

// TestHugeCountsAllocateLittle checks that forged counts and lengths are
// rejected before anything of their size is allocated.
func TestHugeCountsAllocateLittle(t *testing.T) {
	pad := make([]byte, 1<<10) // a little real data after the forged count
	cases := map[string][]byte{
		"tensor count 2^60":    header(3, 1<<60, 0).bytes(pad).b,
		"KV count 2^60":        header(3, 0, 1<<60).bytes(pad).b,
		"string 2^62":          header(3, 0, 1).str("s").u32(vStr).u64(1 << 62).bytes(pad).b,
		"array 2^62":           header(3, 0, 1).str("a").u32(vArr).u32(uint32(gguf.TypeFloat64)).u64(1 << 62).bytes(pad).b,
		"string array 2^62":    header(3, 0, 1).str("a").u32(vArr).u32(vStr).u64(1 << 62).bytes(pad).b,
		"array of arrays 2^62": header(3, 0, 1).str("a").u32(vArr).u32(vArr).u64(1 << 62).bytes(pad).b,
		"KV count = size/13":   header(3, 0, uint64(len(pad)+24)/13).bytes(pad).b,
		"tensors = size/32":    header(3, uint64(len(pad)+24)/32, 0).bytes(pad).b,
		"big file, tiny data":  header(3, 0, 1).str("a").u32(vArr).u32(vU8).u64(1 << 40).bytes(pad).b,
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := 0; i < 10; i++ {
				_, err := gguf.Parse(b)
				formatErr(t, err)
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / 10
			check(t, perRun < 1<<20, "Parse of %d bytes allocated %d bytes per run", len(b), perRun)
		})
	}
	allocs := testing.AllocsPerRun(20, func() { gguf.Parse(cases["tensor count 2^60"]) })
	check(t, allocs < 20, "%v allocations per Parse of a forged tensor count", allocs)
	allocs = testing.AllocsPerRun(20, func() { gguf.Parse(cases["string 2^62"]) })
	check(t, allocs < 40, "%v allocations per Parse of a forged string length", allocs)

	// Open goes through the same checks.
	p := filepath.Join(t.TempDir(), "huge.gguf")
	must(t, os.WriteFile(p, cases["string 2^62"], 0o644))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := gguf.Open(p)
	runtime.ReadMemStats(&after)
	formatErr(t, err, "string of 4611686018427387904 bytes")
	check(t, after.TotalAlloc-before.TotalAlloc < 1<<20, "Open allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
}
