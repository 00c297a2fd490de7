package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/runtime"
)

func TestMatrixStatsFloat(t *testing.T) {
	// mean|W| = 7.1/6; W/mean|W| = -1.69 -0.85 0 0.08 0.85 2.54.
	w := []float32{-2, -1, 0, 0.1, 1, 3}
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	m, err := runtime.NewMatrix(runtime.F32, 1, len(w), b)
	if err != nil {
		t.Fatal(err)
	}
	s := matrixStats("x", m, uint64(len(b)))
	if s.Hist != [5]int64{1, 1, 2, 1, 1} || s.Neg != 2.0/6 || s.Zero != 2.0/6 || s.Pos != 2.0/6 || s.bitsPerParam() != 32 || s.Ternary {
		t.Errorf("%+v", s)
	}
}

func TestStatsBundled(t *testing.T) {
	path := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := printStats(&out, f); err != nil {
		t.Fatal(err)
	}
	o := out.String()
	// 4 layers × 7 I2_S matrices at 2 bits a weight plus the 32-byte scale block.
	if strings.Count(o, " i2_s ") != 28 || !strings.Contains(o, "BitLinear: 3145728 parameters, 2.00") || !strings.Contains(o, "no-bias check: ok") {
		t.Errorf("stats:\n%s", o)
	}
	// The flag, before or after the file.
	for _, args := range [][]string{{"--stats", path}, {path, "-stats"}} {
		var stdout, stderr bytes.Buffer
		if err := run(args, &stdout, &stderr); err != nil || stdout.String() != o {
			t.Errorf("%q: err %v, output differs from printStats:\n%s", args, err, stdout.String())
		}
	}
}

// The loader refuses bias tensors; --stats still reports the failed check.
func TestStatsBias(t *testing.T) {
	w := &gguf.Writer{}
	w.Set("general.architecture", gguf.String("bitnet-b1.58"))
	w.AddTensor("blk.0.attn_q.weight", gguf.F32, []uint64{4, 2}, make([]byte, 32))
	w.AddTensor("blk.0.attn_q.bias", gguf.F32, []uint64{2}, make([]byte, 8))
	path := filepath.Join(t.TempDir(), "bias.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	err = printStats(&out, f)
	if err == nil || !strings.Contains(out.String(), "no-bias check: FAILED") || !strings.Contains(out.String(), "blk.0.attn_q.bias") {
		t.Errorf("err %v, output:\n%s", err, out.String())
	}
}
