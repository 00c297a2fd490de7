package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// byteTokenizer is a stand-in tokenizer for tests: one token per byte,
// BOS 256, EOS 257.
type byteTokenizer struct{}

func (byteTokenizer) Encode(text string, addSpecial, _ bool) []int32 {
	var out []int32
	if addSpecial {
		out = append(out, 256)
	}
	for i := 0; i < len(text); i++ {
		out = append(out, int32(text[i]))
	}
	return out
}
func (byteTokenizer) BOS() int32 { return 256 }
func (byteTokenizer) EOS() int32 { return 257 }
func (byteTokenizer) Piece(id int32) []byte {
	if id < 256 {
		return []byte{byte(id)}
	}
	return nil
}

// writeCorpus writes a small synthetic corpus of short "stories".
func writeCorpus(t *testing.T, dir string) (train, valid string) {
	t.Helper()
	words := strings.Fields("the a little dog cat girl boy ran saw big happy park ball tree sun friend played and said to")
	gen := func(seed uint64, n int) string {
		r := rand.New(rand.NewPCG(seed, 1))
		var b strings.Builder
		for b.Len() < n {
			for s := 0; s < 3+r.IntN(4); s++ {
				for w := 0; w < 4+r.IntN(6); w++ {
					if w > 0 {
						b.WriteByte(' ')
					}
					b.WriteString(words[r.IntN(len(words))])
				}
				b.WriteString(". ")
			}
			b.WriteString("\n\n")
		}
		return b.String()
	}
	train, valid = filepath.Join(dir, "train.txt"), filepath.Join(dir, "valid.txt")
	if err := os.WriteFile(train, []byte(gen(1, 60000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(valid, []byte(gen(2, 8000)), 0o644); err != nil {
		t.Fatal(err)
	}
	return train, valid
}

func resumeRunConfig(out, train, valid string) RunConfig {
	c := Config{Vocab: 258, Dim: 32, Layers: 2, Heads: 2, KVHeads: 1, FFN: 64, Ctx: 32, NormEps: 1e-5, RopeBase: 10000}
	o := DefaultOptions(24)
	o.Batch, o.Micro, o.Schedule.Warmup, o.Schedule.Peak = 4, 2, 4, 5e-3
	return RunConfig{
		OutDir: out, Model: c, Options: o, TrainText: train, ValidText: valid, Tokenizer: byteTokenizer{},
		LogEvery: 1, ValEvery: 8, ValWindows: 4, CkptEvery: 5, Formats: []Format{FormatF32},
	}
}

// TestResumeChild is the process TestResumeAfterSIGKILL kills; it only runs
// when that test starts it.
func TestResumeChild(t *testing.T) {
	out := os.Getenv("BITNET_TRAIN_RESUME_CHILD")
	if out == "" {
		t.Skip("helper process of TestResumeAfterSIGKILL")
	}
	rc := resumeRunConfig(out, os.Getenv("BITNET_TRAIN_TEXT"), os.Getenv("BITNET_TRAIN_VALID"))
	rc.StepDelay = 40 * time.Millisecond
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
}

// TestResumeAfterSIGKILL trains one run uninterrupted, and another that is
// killed with SIGKILL mid-run (in a child process, some steps after a
// checkpoint) and resumed: the resumed run must follow the uninterrupted
// run's trajectory exactly — the same per-step losses, gradient norms,
// learning rates and validation losses — and export the same model.
func TestResumeAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	train, valid := writeCorpus(t, dir)

	full := filepath.Join(dir, "full")
	if _, err := Run(context.Background(), resumeRunConfig(full, train, valid)); err != nil {
		t.Fatal(err)
	}

	killed := filepath.Join(dir, "killed")
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BITNET_TRAIN_RESUME_CHILD="+killed, "BITNET_TRAIN_TEXT="+train, "BITNET_TRAIN_VALID="+valid)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it is past the step-10 checkpoint, between checkpoints.
	deadline := time.Now().Add(60 * time.Second)
	var logged int
	for {
		ms, _ := ReadMetrics(filepath.Join(killed, MetricsFile))
		logged = len(ms)
		if logged >= 13 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("child made no progress (%d metrics lines)", logged)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", err)
	}
	h, err := ReadCheckpointHeader(filepath.Join(killed, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after logging %d steps; checkpoint at step %d", logged, h.Step)
	if h.Step >= 24 || h.Step < 10 {
		t.Fatalf("checkpoint at step %d: the kill did not land mid-run", h.Step)
	}

	rc := resumeRunConfig(killed, train, valid)
	rc.Resume = true
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	want, err := ReadMetrics(filepath.Join(full, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadMetrics(filepath.Join(killed, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("resumed run logged %d lines, uninterrupted %d", len(got), len(want))
	}
	key := func(m Metrics) string {
		s := fmt.Sprintf("step %d tokens %d loss %v lr %v gnorm %v w %v/%v/%v", m.Step, m.Tokens, m.TrainLoss, m.LR, m.GradNorm, m.WNeg, m.WZero, m.WPos)
		if m.ValLoss != nil {
			s += fmt.Sprintf(" val %v", *m.ValLoss)
		}
		return s
	}
	for i := range want {
		if key(got[i]) != key(want[i]) {
			t.Errorf("line %d:\n resumed       %s\n uninterrupted %s", i, key(got[i]), key(want[i]))
		}
	}
	// The weight statistics (steps 8, 16 and 24) too.
	wantW, err := ReadWeightStats(filepath.Join(full, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	gotW, err := ReadWeightStats(filepath.Join(killed, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(wantW) != 3 || !reflect.DeepEqual(gotW, wantW) {
		t.Errorf("weight statistics: resumed run %d records, uninterrupted %d; equal: %v", len(gotW), len(wantW), reflect.DeepEqual(gotW, wantW))
	}
	a, _ := os.ReadFile(filepath.Join(full, ExportName(FormatF32)))
	b, _ := os.ReadFile(filepath.Join(killed, ExportName(FormatF32)))
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("exports differ (%d vs %d bytes)", len(a), len(b))
	}
}
