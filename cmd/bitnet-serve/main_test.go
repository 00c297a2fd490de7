//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv("BITNET_SERVE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{}, {"-m"}, {"-m", "x.gguf", "-np", "0"}, {"-m", "x.gguf", "-c", "1"}, {"-m", "x.gguf", "-t", "0"},
		{"-m", "x.gguf", "--port", "70000"}, {"-m", "x.gguf", "--cache-reuse", "sometimes"}, {"-m", "x.gguf", "extra"},
		{"-m", "x.gguf", "--no-such-flag"}, {"-m", "x.gguf", "-np", "8", "-b", "9"}, {"-m", "x.gguf", "--max-body", "10"},
	} {
		_, err := parse(args, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	o, err := parse([]string{"-m", "x.gguf", "--host", "0.0.0.0", "--port", "9", "-np", "3", "-c", "128", "-t", "2", "--api-key", "k"}, io.Discard)
	if err != nil || o.host != "0.0.0.0" || o.port != 9 || o.slots != 3 || o.ctx != 128 || o.threads != 2 || o.apiKey != "k" {
		t.Errorf("%+v %v", o, err)
	}
	if o, _ := parse([]string{"-m", "x.gguf"}, io.Discard); o.host != "127.0.0.1" {
		t.Errorf("default host %q, want loopback", o.host)
	}
	// A missing model file is an error before anything listens.
	err = run(context.Background(), []string{"-m", filepath.Join(t.TempDir(), "none.gguf"), "--port", "0"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "none.gguf") {
		t.Errorf("missing model: %v", err)
	}
}

// TestSIGTERMDrains runs the command, starts a long streamed answer, sends
// SIGTERM, and checks that the answer is completed, the process exits 0,
// and nothing listens afterwards.
func TestSIGTERMDrains(t *testing.T) {
	model := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	cmd := exec.Command(os.Args[0], "-m", model, "--port", "0", "-np", "2", "-c", "512", "-t", "1", "-cpuprofile", prof)
	cmd.Env = append(os.Environ(), "BITNET_SERVE_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var base string
	var log []string
	timeout := time.After(2 * time.Minute)
	for base == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited early: %q", log)
			}
			log = append(log, l)
			if _, addr, ok := strings.Cut(l, "listening on "); ok {
				base, _, _ = strings.Cut(addr, " ")
			}
		case <-timeout:
			t.Fatalf("no address: %q", log)
		}
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("listening on %q, want loopback", base)
	}
	for { // /health: 503 while loading, then 200
		resp, err := http.Get(base + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if resp.StatusCode != 503 {
			t.Fatalf("/health: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Post(base+"/v1/completions", "application/json",
		strings.NewReader(`{"prompt":"Once upon a time","max_tokens":300,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "data: ") {
		t.Fatalf("first event %q %v", l, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	events := strings.Split(strings.TrimSpace(string(rest)), "\n\n")
	if events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("stream ends with %q", events[len(events)-1])
	}
	var u struct {
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(events[len(events)-2], "data: ")), &u); err != nil || u.Usage.CompletionTokens != 300 {
		t.Errorf("usage event %q: %v", events[len(events)-2], err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
	for l := range lines {
		log = append(log, l)
	}
	if !strings.Contains(strings.Join(log, "\n"), "stopped") {
		t.Errorf("log %q", log)
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Error("still answering after exit")
	}
	// The CPU profile is complete (gzip-compressed protobuf) after a drain.
	if b, err := os.ReadFile(prof); err != nil || len(b) < 64 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("cpu profile: %d bytes, %v", len(b), err)
	}
}
