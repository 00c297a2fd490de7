package main

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
)

// TestSmallSynth writes a small random model with the bundled model's
// vocabulary and runs it.
func TestSmallSynth(t *testing.T) {
	vocab := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	out := filepath.Join(t.TempDir(), "synth.gguf")
	var stderr bytes.Buffer
	if err := run([]string{"-o", out, "-vocab", vocab, "-dim", "256", "-layers", "2", "-heads", "4", "-kv-heads", "2", "-ffn", "512"}, &stderr); err != nil {
		t.Fatal(err)
	}
	m, err := loader.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Arch != "bitnet-b1.58" || m.Config.Layers != 2 || m.Dim != 256 || m.FFN != 512 || m.KVHeads != 2 || m.Vocab != 4096 {
		t.Fatalf("config %+v", m.Config)
	}
	p := runtime.NewPool(1)
	defer p.Close()
	s, _ := runtime.NewState(m.Model, 16, 16, p)
	logits, err := s.Forward([]int32{4080, 263, 346}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range logits {
		if v != v {
			t.Fatal("NaN logit")
		}
	}
	if err := run([]string{"-o", out, "-dim", "100"}, &stderr); err == nil {
		t.Error("dim 100 (not a multiple of 128): no error")
	}
}

// TestSynthFormats writes small models in every -type and -head and checks
// that they load with the expected tensor types and architecture and give
// finite logits.
func TestSynthFormats(t *testing.T) {
	vocab := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	for _, typ := range []string{"i2_s", "tq1_0", "tq2_0"} {
		for _, head := range []string{"f16", "q6_k", "q8_0"} {
			t.Run(typ+"/"+head, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "synth.gguf")
				var stderr bytes.Buffer
				if err := run([]string{"-o", out, "-vocab", vocab, "-dim", "256", "-layers", "1", "-heads", "4", "-kv-heads", "2", "-ffn", "512", "-type", typ, "-head", head}, &stderr); err != nil {
					t.Fatal(err)
				}
				m, err := loader.Load(out)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				wantArch := "bitnet-b1.58"
				if typ != "i2_s" {
					wantArch = "bitnet"
				}
				if m.Arch != wantArch {
					t.Errorf("arch %q, want %q", m.Arch, wantArch)
				}
				if got := m.Layers[0].Wup.Format.String(); got != typ {
					t.Errorf("ffn_up is %s, want %s", got, typ)
				}
				if got := m.Output.Format.String(); !strings.EqualFold(got, head) {
					t.Errorf("output head is %s, want %s", got, head)
				}
				p := runtime.NewPool(1)
				defer p.Close()
				s, _ := runtime.NewState(m.Model, 8, 8, p)
				logits, err := s.Forward([]int32{4080, 263}, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range logits {
					if v != v || math.IsInf(float64(v), 0) {
						t.Fatalf("logit %v", v)
					}
				}
			})
		}
	}
	for _, bad := range [][]string{{"-type", "q4_0"}, {"-head", "bf16"}, {"-type", "tq2_0", "-dim", "384", "-heads", "3", "-kv-heads", "3"}, {"-head", "q6_k", "-dim", "384", "-heads", "3", "-kv-heads", "3"}} {
		var stderr bytes.Buffer
		args := append([]string{"-o", filepath.Join(t.TempDir(), "x.gguf"), "-vocab", vocab, "-layers", "1"}, bad...)
		if err := run(args, &stderr); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
