package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
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

// Every misuse exits with status 2 and a message naming the flag; negative
// sizes used to panic and odd head dimensions or huge contexts made files
// the loader rejects.
func TestUsageErrorsExit2(t *testing.T) {
	vocab := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	dir := t.TempDir()
	out := filepath.Join(dir, "m.gguf")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-dim", "-128"}, "-dim -128"},
		{[]string{"-dim", "0"}, "-dim 0"},
		{[]string{"-dim", "200"}, "multiples of 128"},
		{[]string{"-ffn", "-256"}, "-ffn -256"},
		{[]string{"-layers", "-1"}, "-layers -1"},
		{[]string{"-layers", "100000000"}, "-layers"},
		{[]string{"-heads", "0"}, "-heads 0"},
		{[]string{"-heads", "-4"}, "-heads -4"},
		{[]string{"-heads", "128"}, "even head dimensions"}, // head dim 1 (dim 128)
		{[]string{"-heads", "3"}, "even head dimensions"},
		{[]string{"-kv-heads", "0"}, "-kv-heads 0"},
		{[]string{"-kv-heads", "3"}, "not a multiple of -kv-heads 3"},
		{[]string{"-ctx", "-1"}, "-ctx -1"},
		{[]string{"-ctx", "0"}, "-ctx 0"},
		{[]string{"-ctx", "100000000"}, "-ctx 100000000"},
		{[]string{"-arch", "llama"}, "-arch"},
		{[]string{"-nope"}, "nope"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, c := range cases {
		args := append([]string{"-o", out, "-vocab", vocab, "-dim", "128", "-ffn", "256", "-layers", "1", "-heads", "4", "-kv-heads", "2"}, c.args...)
		var stderr bytes.Buffer
		err := run(args, &stderr)
		code := exitCode(err, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
	var stderr bytes.Buffer
	if code := exitCode(run([]string{"-vocab", vocab}, &stderr), &stderr); code != 2 {
		t.Errorf("no -o: exit %d", code)
	}
	if code := exitCode(run([]string{"-o", "/dev/null", "-vocab", vocab, "-dim", "128", "-ffn", "128", "-layers", "1", "-heads", "2", "-kv-heads", "1"}, &stderr), &stderr); code != 2 {
		t.Errorf("-o /dev/null: exit %d (a device must not be replaced)", code)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused command line wrote the output")
	}
}

// Whatever bitnet-synth accepts, the loader loads with the shape asked for
// (random flag values around the valid ones, valid and not).
func TestAcceptedLoads(t *testing.T) {
	vocab := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	// Each flag takes a valid value three times in four, else a doubtful one.
	pick := func(good, bad []int) int {
		if r.IntN(4) == 0 {
			return bad[r.IntN(len(bad))]
		}
		return good[r.IntN(len(good))]
	}
	archs := []string{"bitnet-b1.58", "bitnet-25", "bitnet"}
	accepted := 0
	for i := 0; i < 60; i++ {
		dim := pick([]int{128, 256, 384}, []int{-128, 0, 64, 200})
		ffn := pick([]int{128, 256, 512}, []int{-128, 0, 100})
		heads := pick([]int{1, 2, 4, 8}, []int{-2, 0, 3, 6, 64, 128, 1000})
		kv := pick([]int{1, 2}, []int{0, -1, 3, 4, 8})
		layers := pick([]int{1, 2}, []int{-1, 0})
		ctx := pick([]int{1, 16, 4096, 1 << 24}, []int{-5, 0, 1<<24 + 1})
		arch := archs[r.IntN(len(archs))]
		out := filepath.Join(dir, fmt.Sprintf("m%d.gguf", i))
		args := []string{"-o", out, "-vocab", vocab, "-arch", arch, "-dim", fmt.Sprint(dim), "-ffn", fmt.Sprint(ffn),
			"-heads", fmt.Sprint(heads), "-kv-heads", fmt.Sprint(kv), "-layers", fmt.Sprint(layers), "-ctx", fmt.Sprint(ctx)}
		var stderr bytes.Buffer
		err := run(args, &stderr)
		if code := exitCode(err, &stderr); code != 0 {
			if code != 2 {
				t.Errorf("%v: exit %d: %s", args, code, stderr.String())
			}
			continue
		}
		accepted++
		m, err := loader.Load(out)
		if err != nil {
			t.Errorf("%v: accepted, but the loader says: %v", args, err)
			continue
		}
		c := m.Config
		if c.Arch != arch || c.Dim != dim || c.FFN != ffn || c.Heads != heads || c.KVHeads != kv || c.Layers != layers || c.TrainCtx != ctx {
			t.Errorf("%v: loaded %+v", args, c)
		}
		p := runtime.NewPool(1)
		s, err := runtime.NewState(m.Model, 8, 8, p)
		if err == nil {
			_, err = s.Forward([]int32{1, 2, 3}, false)
		}
		if err != nil {
			t.Errorf("%v: forward: %v", args, err)
		}
		p.Close()
		m.Close()
		os.Remove(out)
	}
	if accepted < 10 {
		t.Fatalf("only %d of 60 random command lines accepted: the test checks too little", accepted)
	}
	t.Logf("%d of 60 accepted and loaded", accepted)
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
