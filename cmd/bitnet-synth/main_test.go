package main

import (
	"bytes"
	"path/filepath"
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
