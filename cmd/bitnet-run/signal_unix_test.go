//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLogitsRefusesFIFO: --logits never replaces what is not a regular
// file (it renamed a temporary over PATH, so `--logits /dev/null` as root
// replaced /dev/null; a FIFO stands in for the device here).
func TestLogitsRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, bundled, "-p", "once upon a time", "-n", "2", "--logits", fifo)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("--logits FIFO: error %v", err)
	}
	if !errors.As(err, new(usageError)) {
		t.Errorf("--logits FIFO: %v is not a usage error", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", fi.Mode(), err)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporaries left: %v", l)
	}
}

// TestSignalLeavesNoTemporary interrupts a run while its --logits file is
// being written: it must end with status 130 (SIGINT) or 143 (SIGTERM),
// leave the existing file as it was and no temporary behind. The run is
// held at a known point: its stdout is a pipe nobody reads, so writing the
// long prompt back blocks after the logits temporary exists.
func TestSignalLeavesNoTemporary(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			logits := filepath.Join(dir, "logits.f32")
			os.WriteFile(logits, []byte("keep"), 0o644)
			prompt := filepath.Join(dir, "prompt.txt")
			// 128 KB, over a pipe's buffer, in about 4000 tokens.
			os.WriteFile(prompt, []byte("once upon a time"+strings.Repeat(" ", 128<<10)), 0o644)
			cmd := command(t, bundled, "-f", prompt, "-c", "8192", "-n", "4", "-t", "1", "--logits", logits)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdout.Close()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			for len(leftovers(t, dir)) == 0 {
				select {
				case err := <-exited:
					t.Fatalf("ended (%v) before its logits temporary appeared; stderr:\n%s", err, stderr.String())
				case <-time.After(10 * time.Millisecond):
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err = <-exited
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
				t.Errorf("after %v: %v (exit status %d), want exit status %d; stderr:\n%s", sig, err, cmd.ProcessState.ExitCode(), 128+int(sig), stderr.String())
			}
			if b, _ := os.ReadFile(logits); string(b) != "keep" {
				t.Errorf("the existing --logits file changed to %d bytes", len(b))
			}
			if l := leftovers(t, dir); len(l) != 0 {
				t.Errorf("temporaries left: %v", l)
			}
		})
	}
}

// TestExitStatus checks the conventions of main: 0 for -h, 2 for usage
// errors, 1 for other errors, and the messages on stderr.
func TestExitStatus(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"-h"}, 0, "usage: bitnet-run"},
		{[]string{"--no-such-flag"}, 2, "no-such-flag"},
		{[]string{bundled, "-t", "1000000", "-p", "x"}, 2, "-t 1000000"},
		{[]string{filepath.Join(t.TempDir(), "missing.gguf"), "-p", "x"}, 1, "missing.gguf"},
	} {
		cmd := command(t, c.args...)
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
