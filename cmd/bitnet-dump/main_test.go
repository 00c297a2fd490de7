package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

var bundled = filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")

func TestMain(m *testing.M) {
	if os.Getenv("BITNET_DUMP_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func dump(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := run(args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestDump(t *testing.T) {
	out, _, err := dump(bundled)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version 3", "general.architecture (string) = bitnet-b1.58", "token_embd.weight", "tensors"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	short := strings.Count(out, " raw=")
	for _, args := range [][]string{{"-a", bundled}, {bundled, "-a"}} {
		all, _, err := dump(args...)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(all, " raw="); short != 16 || n <= short {
			t.Errorf("%q: %d tensors listed, %d without -a", args, n, short)
		}
	}
}

// TestUsage: -h is the flag package's help, not a file name (it was opened
// as one), and usage errors are usage errors.
func TestUsage(t *testing.T) {
	_, stderr, err := dump("-h")
	if err != nil || !strings.Contains(stderr, "usage: bitnet-dump") {
		t.Errorf("-h: %v, stderr %q", err, stderr)
	}
	for _, args := range [][]string{{}, {"-x", bundled}, {bundled, bundled}} {
		if _, _, err := dump(args...); !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// TestExitStatusAndStderr runs main: errors go to stderr (they went to
// stdout), with status 1, usage errors with status 2, -h with 0.
func TestExitStatusAndStderr(t *testing.T) {
	notGGUF := filepath.Join(t.TempDir(), "x.gguf")
	os.WriteFile(notGGUF, []byte("not a gguf file at all"), 0o644)
	for _, c := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"-h"}, 0, "usage: bitnet-dump"},
		{[]string{}, 2, "no file"},
		{[]string{"--bogus"}, 2, "bogus"},
		{[]string{notGGUF}, 1, "x.gguf"},
		{[]string{filepath.Join(t.TempDir(), "missing.gguf")}, 1, "missing.gguf"},
	} {
		cmd := exec.Command(os.Args[0], c.args...)
		cmd.Env = append(os.Environ(), "BITNET_DUMP_AS_MAIN=1")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		if got := cmd.ProcessState.ExitCode(); got != c.status {
			t.Errorf("%q: exit status %d, want %d", c.args, got, c.status)
		}
		if !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%q: stderr %q lacks %q", c.args, stderr.String(), c.stderr)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing", c.args, stdout.String())
		}
	}
}

func TestPrintable(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"llama", 80, "llama"},
		{"a b", 80, "a b"},
		{"\x1b[2Jboom", 80, `"\x1b[2Jboom"`},
		{"bad\xffutf8", 80, `"bad\xffutf8"`},
		{"héllo", 80, "héllo"},
		{"line\nbreak", 80, `"line\nbreak"`},
		{"abcdefghijklmn", 5, "abcde…"},
		{"ééééé", 2, "éé…"},
	} {
		if got := printable(c.in, c.n); got != c.want {
			t.Errorf("printable(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
