//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bitnet-go/bitnet/train"
)

// startChild runs bitnet-train with args in a child process and waits
// until it has logged n metrics lines.
func startChild(t *testing.T, out string, n int, args []string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BITNET_TRAIN_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ms, _ := train.ReadMetrics(filepath.Join(out, train.MetricsFile))
		if len(ms) >= n {
			return cmd, &stderr
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child made no progress:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exitStatus(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode()
}

// SIGINT used to end the run with "context canceled" and status 1; now it
// stops after the step with a checkpoint, says how to resume, and exits
// with 130 (SIGTERM: 143), leaving no temporaries.
func TestSignalStopsCleanly(t *testing.T) {
	for _, c := range []struct {
		sig    syscall.Signal
		status int
		name   string
	}{{syscall.SIGINT, 130, "SIGINT"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "run")
			cmd, stderr := startChild(t, out, 2, tinyRun(t, dir, "-steps", "1000000"))
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			if got := exitStatus(t, cmd); got != c.status {
				t.Fatalf("exit status %d, want %d\n%s", got, c.status, stderr)
			}
			msg := stderr.String()
			if strings.Contains(msg, "context canceled") || !strings.Contains(msg, c.name+"): stopped after step") ||
				!strings.Contains(msg, "-resume") {
				t.Errorf("stderr:\n%s", msg)
			}
			h, err := train.ReadCheckpointHeader(filepath.Join(out, train.CheckpointFile))
			if err != nil || h.Step < 2 {
				t.Fatalf("checkpoint: step %d, %v", h.Step, err)
			}
			if left, _ := filepath.Glob(filepath.Join(out, ".*.tmp*")); len(left) > 0 {
				t.Errorf("temporaries left: %v", left)
			}
		})
	}
}

// A second SIGINT quits at once with status 130, removing temporaries.
func TestSecondSignalQuits(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	cmd, stderr := startChild(t, out, 2, tinyRun(t, dir, "-steps", "1000000", "-ckpt-every", "1"))
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Process.Signal(syscall.SIGINT)
	if got := exitStatus(t, cmd); got != 130 {
		t.Fatalf("exit status %d, want 130\n%s", got, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".*.tmp*")); len(left) > 0 {
		t.Errorf("temporaries left: %v", left)
	}
	if _, err := train.ReadCheckpointHeader(filepath.Join(out, train.CheckpointFile)); err != nil {
		t.Errorf("checkpoint: %v", err)
	}
}
