package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
)

// TestMain lets the tests run the real main (exit status, signals) in a
// child process: with BITNET_RUN_AS_MAIN=1 the test binary is bitnet-run.
func TestMain(m *testing.M) {
	if os.Getenv("BITNET_RUN_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// command returns bitnet-run (this test binary as main) with args.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BITNET_RUN_AS_MAIN=1")
	return cmd
}

// leftovers lists the temporaries of output files left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sparseFile makes a file of size bytes that takes no disk space.
func sparseFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "huge.txt")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("once upon a time "); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Skip("cannot make a sparse file here:", err)
	}
	return p
}

// TestSizeBounds gives every size flag a value the machine cannot back:
// each must be refused with a clear error before anything is allocated
// (before the bounds, these crashed the Go runtime with a fatal out of
// memory or a makeslice panic, -t 1000000 hung, and a 16 GiB -f file was
// read whole).
func TestSizeBounds(t *testing.T) {
	text := sparseFile(t, 16<<30)
	cases := []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{bundled, "-p", "x", "-c", "100000000"}, "-c 100000000", true},
		{[]string{bundled, "--perplexity", text, "-c", "100000000"}, "-c 100000000", true},
		{[]string{bundled, "--bench", "-p", "100000000"}, "-p", true},
		{[]string{bundled, "--bench", "-n", "100000000"}, "-n", true},
		{[]string{bundled, "--bench", "-p", "64", "-n", "0", "-t", "1000000"}, "-t", true},
		{[]string{bundled, "--bench", "-r", "1000000000"}, "-r", true},
		{[]string{bundled, "-p", "x", "-t", "1000000"}, "-t 1000000", true},
		{[]string{bundled, "-p", "x", "-b", "0"}, "-b 0", true},
		{[]string{bundled, "-f", text, "-n", "1"}, "more than the", false},
		{[]string{bundled, "--perplexity", text, "-c", "128"}, "more than the", false},
		{[]string{bundled, "--bench", "-p", "8192", "-n", "0", "-c", "4096"}, "does not fit the context", true},
		{[]string{bundled, "-p", "x", "--temp", "NaN"}, "--temp", true},
		{[]string{bundled, "-p", "x", "--top-p", "Inf"}, "--top-p", true},
	}
	for _, c := range cases {
		_, _, err := runCLI(t, c.args...)
		if err == nil {
			t.Errorf("%q: no error", c.args)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q does not contain %q", c.args, err, c.want)
		}
		if isUsage := errors.As(err, new(usageError)); isUsage != c.usage {
			t.Errorf("%q: usage error %v, want %v (%v)", c.args, isUsage, c.usage, err)
		}
	}
}

// TestRepeatLastNBeyondContext: a penalty window larger than the context
// is the context (it crashed the runtime allocating a 4 TB window).
func TestRepeatLastNBeyondContext(t *testing.T) {
	base := []string{bundled, "-p", "once upon a time", "-n", "8", "-s", "3", "--repeat-penalty", "1.3", "-c", "64", "--ids"}
	big, _, err := runCLI(t, append(base, "--repeat-last-n", "1000000000000")...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _, err := runCLI(t, append(base, "--repeat-last-n", "-1")...)
	if err != nil {
		t.Fatal(err)
	}
	if big != ctx {
		t.Errorf("--repeat-last-n 1e12 gave\n%s\n--repeat-last-n -1 (the context) gave\n%s", big, ctx)
	}
}

// TestMemoryBound: a context the machine's memory cannot hold is refused
// before the state is allocated.
func TestMemoryBound(t *testing.T) {
	defer func(f func() (uint64, bool)) { totalMemory = f }(totalMemory)
	totalMemory = func() (uint64, bool) { return 64 << 20, true }
	_, _, err := runCLI(t, bundled, "-p", "x", "-c", "1000000")
	if !errors.Is(err, errTooBig) {
		t.Fatalf("error %v, want %v", err, errTooBig)
	}
	// The same run fits a machine of 1 TiB.
	totalMemory = func() (uint64, bool) { return 1 << 40, true }
	if err := checkMemoryFor(t, "-c", "1000000"); err != nil {
		t.Fatal(err)
	}
}

// checkMemoryFor resolves and fits a configuration for the bundled model.
func checkMemoryFor(t *testing.T, args ...string) error {
	t.Helper()
	var o options
	fs := newFlags(&o)
	pos, err := parseArgs(fs, &o, append([]string{bundled, "-p", "x"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve(&o, pos)
	if err != nil {
		t.Fatal(err)
	}
	m, err := loader.Load(bundled)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return cfg.fit(m.Model, fileSize(bundled))
}

// TestStateBytes checks the memory estimate against the state the runtime
// makes: the KV cache part must be exact, the whole at least that.
func TestStateBytes(t *testing.T) {
	m, err := loader.Load(bundled)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pool := runtime.NewPool(2)
	defer pool.Close()
	st, err := runtime.NewState(m.Model, 256, 32, pool)
	if err != nil {
		t.Fatal(err)
	}
	noKV := stateBytes(&m.Config, stateShape{ctx: 0, batch: 32, threads: 2, logitRows: 1})
	all := stateBytes(&m.Config, stateShape{ctx: 256, batch: 32, threads: 2, logitRows: 1})
	kv := all - noKV - 4*2*256
	if int(kv) != st.KVBytes() {
		t.Errorf("estimated KV cache %v bytes, the state has %d", kv, st.KVBytes())
	}
}

// TestOneContextRule: -c is resolved by one rule for every mode (it had
// three: 4096 for generation, 512 for perplexity, the largest test for
// --bench); --bench honours -b and --head-int8 honours -t.
func TestOneContextRule(t *testing.T) {
	for _, c := range []struct{ flag, train, need, want int }{
		{0, 2048, 0, 2048}, {0, 100000, 0, defaultCtx}, {0, 0, 0, defaultCtx}, {77, 2048, 0, 77},
		{10000, 2048, 0, 10000}, {0, 256, 512, 512}, {0, 2048, 512, 2048}, {128, 2048, 512, 128},
	} {
		if got := contextSize(c.flag, c.train, c.need); got != c.want {
			t.Errorf("contextSize(%d, %d, %d) = %d, want %d", c.flag, c.train, c.need, got, c.want)
		}
	}
	m, err := loader.Load(bundled)
	if err != nil {
		t.Fatal(err)
	}
	want := contextSize(0, m.TrainCtx, 0)
	m.Close()
	text := testutil.Shared(t, "golden/ppl_text.txt", "the default context of --perplexity")
	_, stderr, err := runCLI(t, bundled, "--perplexity", text, "-t", "1")
	if err != nil && !strings.Contains(err.Error(), "need at least") {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "chunks of "+strconv.Itoa(want)) {
		t.Errorf("perplexity without -c does not use the default context %d:\n%s", want, stderr)
	}
	defer func(n int) { bandwidthBytes = n }(bandwidthBytes)
	bandwidthBytes = 1 << 20
	_, stderr, err = runCLI(t, bundled, "--bench", "-p", "16", "-n", "2", "-r", "1", "-t", "1", "-b", "8", "-c", "32")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "context: 32, batch: 8") {
		t.Errorf("--bench -b 8 -c 32:\n%s", stderr)
	}

	var o options
	pos, err := parseArgs(newFlags(&o), &o, []string{bundled, "-p", "x", "-t", "1", "--head-int8"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve(&o, pos)
	if err != nil {
		t.Fatal(err)
	}
	s, err := openSession(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if s.threadPool == nil || s.threadPool.Threads() != 1 {
		t.Errorf("--head-int8 -t 1 quantized the head on %v", s.threadPool)
	}
}
