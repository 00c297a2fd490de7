package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/serve"
	"github.com/bitnet-go/bitnet/serve/httpapi"
)

// TestRunAgainstServer drives an in-process server (the bundled model, 2
// slots) with 3 clients: every request completes with its tokens counted
// and a time to first token; the queue and slots are empty afterwards.
func TestRunAgainstServer(t *testing.T) {
	m, err := bitnet.Open(filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"), &bitnet.Options{Threads: 1, Context: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sched, err := serve.New(m.Runtime(), serve.Config{Slots: 2, Ctx: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Shutdown(context.Background())
	api := httpapi.New(httpapi.Config{APIKey: "k"})
	api.SetModel(m, sched)
	hs := httptest.NewServer(api.Handler())
	defer hs.Close()

	rep, err := Run(context.Background(), Config{URL: hs.URL, APIKey: "k", Clients: 3, Duration: 200 * time.Millisecond, MaxTokens: 8, PromptTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 0 || rep.Requests < 3 || rep.Tokens != 8*rep.Requests || len(rep.TTFT) != rep.Requests || rep.TokensPerSecond() <= 0 {
		t.Errorf("report %+v", rep)
	}
	st := sched.Stats()
	if st.Requests != int64(rep.Requests) || st.GenTokens != int64(rep.Tokens) || st.Processing != 0 {
		t.Errorf("server saw %+v; the report says %d requests, %d tokens", st, rep.Requests, rep.Tokens)
	}
	var out bytes.Buffer
	rep.Write(&out)
	for _, s := range []string{"clients 3", "aggregate", "p50", "p99", "errors 0"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}

	// A wrong key: every request is an error, reported.
	rep, err = Run(context.Background(), Config{URL: hs.URL, APIKey: "bad", Clients: 1, Duration: 50 * time.Millisecond, MaxTokens: 4, PromptTokens: 4})
	if err != nil || rep.Errors == 0 || rep.Requests != 0 || !strings.Contains(rep.FirstErr, "401") {
		t.Errorf("wrong key: %+v %v", rep, err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-k", "0"}, {"-d", "0s"}, {"-n", "0"}, {"x"}, {"-bogus"}} {
		var ue usageError
		if err := run(args, io.Discard, io.Discard); !errors.As(err, &ue) {
			t.Errorf("%q: %v", args, err)
		}
	}
}
