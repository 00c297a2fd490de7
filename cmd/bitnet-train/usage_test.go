package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/train"
)

// TestMain lets the tests run this command in a child process (for
// signals): with BITNET_TRAIN_AS_MAIN=1 the test binary is bitnet-train.
func TestMain(m *testing.M) {
	if os.Getenv("BITNET_TRAIN_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// exitOf runs the command in process and returns its exit status and
// stderr.
func exitOf(args ...string) (int, string) {
	var stderr bytes.Buffer
	err := run(context.Background(), args, io.Discard, &stderr)
	code := exitCode(err, nil, &stderr)
	return code, stderr.String()
}

// Every misuse of a flag exits with status 2 and a message naming it
// before anything is allocated or written; -ctx 1 used to loop forever and
// -t 1000000 or huge shapes to allocate without bound.
func TestUsageErrorsExit2(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	base := []string{"-train", "x.txt", "-vocab", "v.gguf", "-out", out}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-ctx", "1"}, "-ctx 1"},
		{[]string{"-ctx", "100000000"}, "-ctx"},
		{[]string{"-dim", "-5"}, "-dim -5"},
		{[]string{"-dim", "100000000"}, "-dim"},
		{[]string{"-layers", "0"}, "-layers 0"},
		{[]string{"-heads", "3"}, "not a multiple of 3 heads"},
		{[]string{"-ffn", "-1"}, "-ffn"},
		{[]string{"-batch", "0"}, "-batch 0"},
		{[]string{"-batch", "1000000000"}, "-batch"},
		{[]string{"-micro", "-2"}, "-micro"},
		{[]string{"-stats-every", "-1"}, "-stats-every -1"},
		{[]string{"-t", "1000000"}, "-t 1000000"},
		{[]string{"-t", "0"}, "-t 0"},
		{[]string{"-tokens", "-1"}, "-tokens -1"},
		{[]string{"-tokens", "10"}, "-tokens 10"},
		{[]string{"-steps", "-3"}, "-steps -3"},
		{[]string{"-steps", "2000000000000"}, "-steps"},
		{[]string{"-lr", "NaN"}, "learning rate"},
		{[]string{"-lr", "-1"}, "learning rate"},
		{[]string{"-beta2", "1"}, "betas"},
		{[]string{"-norm-eps", "0"}, "norm eps"},
		{[]string{"-rope-theta", "+Inf"}, "rope base"},
		{[]string{"-sampling", "shuffled"}, "sampling"},
		{[]string{"-formats", "f32,q4_0"}, "q4_0"},
		{[]string{"-val-windows", "-1"}, "-val-windows"},
		{[]string{"-log-every", "-1"}, "-log-every"},
		{[]string{"-temp", "NaN"}, "-temp"},
		{[]string{"-samples", "-1"}, "-samples"},
		{[]string{"-no-such-flag"}, "no-such-flag"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, c := range cases {
		code, msg := exitOf(append(append([]string{}, base...), c.args...)...)
		if code != 2 || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and a message with %q", c.args, code, msg, c.want)
		}
	}
	for _, args := range [][]string{
		{"-train", "x.txt"}, // no -out
		{"-out", out},       // no -train/-vocab
		{"-out", out, "-resume", "-allow-changes", "-train", "x"}, // fine flags, but see below
	} {
		code, msg := exitOf(args...)
		if args[len(args)-1] == "x" {
			// -resume of a directory without a checkpoint: not a usage error.
			if code != 1 || !strings.Contains(msg, "no checkpoint") {
				t.Errorf("%v: exit %d, %q", args, code, msg)
			}
			continue
		}
		if code != 2 {
			t.Errorf("%v: exit %d, %q; want 2", args, code, msg)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused command line created the run directory")
	}
	if code, _ := exitOf("-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// tinyRun writes a small text and returns the arguments of a fast run with
// the repository's bundled vocabulary.
func tinyRun(t *testing.T, dir string, extra ...string) []string {
	t.Helper()
	words := strings.Fields("the a little dog cat girl boy ran saw big happy park ball tree sun friend played and said to")
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < 30000 {
		for w := 0; w < 8; w++ {
			b.WriteString(words[r.IntN(len(words))] + " ")
		}
		b.WriteString(".\n")
	}
	text := filepath.Join(dir, "train.txt")
	if err := os.WriteFile(text, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	vocab := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	args := []string{"-train", text, "-vocab", vocab, "-out", filepath.Join(dir, "run"), "-dim", "32", "-layers", "1",
		"-heads", "2", "-kv-heads", "1", "-ffn", "64", "-ctx", "16", "-batch", "2", "-micro", "2", "-warmup", "1",
		"-log-every", "1", "-val-every", "1000", "-val-windows", "2", "-ckpt-every", "2", "-formats", "f32", "-samples", "0", "-t", "1"}
	return append(args, extra...)
}

// -resume used to ignore changed settings; now each is refused with exit
// status 2 and its flag named, unless -allow-changes lets an optimizer
// setting change.
func TestResumeChangedFlags(t *testing.T) {
	dir := t.TempDir()
	args := tinyRun(t, dir, "-steps", "4")
	out := filepath.Join(dir, "run")
	if code, msg := exitOf(args...); code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(other, []byte(strings.Repeat("something else entirely\n", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-dim", "64"}, "-dim 64 differs from the run's 32"},
		{[]string{"-layers", "2"}, "-layers 2 differs"},
		{[]string{"-heads", "4"}, "-heads 4 differs"},
		{[]string{"-ffn", "128"}, "-ffn 128 differs"},
		{[]string{"-ctx", "32"}, "-ctx 32 differs"},
		{[]string{"-batch", "1", "-micro", "1"}, "-batch 1 differs"},
		{[]string{"-lr", "0.001"}, "-lr 0.001 differs from the run's 0.0015: pass -allow-changes"},
		{[]string{"-tokens", "64"}, "-steps 2 differs from the run's 4"},
		{[]string{"-seed", "7"}, "-seed 7 differs"},
		{[]string{"-train", other}, "-train " + other},
	} {
		code, msg := exitOf(append([]string{"-out", out, "-resume"}, c.flags...)...)
		if code != 2 || !strings.Contains(msg, c.want) {
			t.Errorf("-resume %v: exit %d, %q; want 2 and %q", c.flags, code, msg, c.want)
		}
	}
	// The same settings resume; -allow-changes extends the run.
	if code, msg := exitOf("-out", out, "-resume", "-dim", "32", "-train", args[1]); code != 0 {
		t.Fatalf("resume with the same settings: exit %d: %s", code, msg)
	}
	if code, msg := exitOf("-out", out, "-resume", "-allow-changes", "-steps", "6", "-lr", "0.001"); code != 0 {
		t.Fatalf("resume -allow-changes: exit %d: %s", code, msg)
	}
	h, err := train.ReadCheckpointHeader(filepath.Join(out, train.CheckpointFile))
	if err != nil || h.Step != 6 || h.Options.Schedule.Peak != 0.001 {
		t.Fatalf("after -allow-changes: step %d, lr %g, %v", h.Step, h.Options.Schedule.Peak, err)
	}
}

func TestExitCodes(t *testing.T) {
	stopped := &interrupted{steps: 7, out: "runs/x", err: context.Canceled}
	for _, c := range []struct {
		err  error
		sig  os.Signal
		code int
		msg  string
	}{
		{nil, nil, 0, ""},
		{fmt.Errorf("x: %w", flag.ErrHelp), nil, 0, ""},
		{usagef("-dim -1: bad"), nil, 2, "-dim -1: bad"},
		{errors.New("disk full"), nil, 1, "disk full"},
		{stopped, os.Interrupt, 130, "interrupted (SIGINT): stopped after step 7; the checkpoint in runs/x holds it (continue with: bitnet-train -out runs/x -resume)"},
		{stopped, syscall.SIGTERM, 143, "terminated (SIGTERM): stopped after step 7"},
		{&interrupted{out: "runs/x", err: context.Canceled}, os.Interrupt, 130, "stopped before the first step (nothing to resume)"},
		{errors.New("open x: no such file"), os.Interrupt, 130, "no such file"},
	} {
		var b strings.Builder
		if code := exitCode(c.err, c.sig, &b); code != c.code || !strings.Contains(b.String(), c.msg) || strings.Contains(b.String(), "context canceled") {
			t.Errorf("%v after %v: exit %d, %q; want %d, %q", c.err, c.sig, code, b.String(), c.code, c.msg)
		}
	}
}
