// Command bitnet-load drives a running bitnet-serve (or any OpenAI-style
// server) with K concurrent streaming clients for a bounded time and
// reports aggregate generated tokens per second, time to first token
// (p50/p99) and errors.
//
//	bitnet-serve -m model.gguf -np 4 -t 2 &
//	bitnet-load -url http://127.0.0.1:8080 -k 4 -d 60s -n 64 -p 128
//
// Each client sends streamed /v1/completions requests back to back (-p
// prompt tokens, a different prompt per request so no cache is reused,
// -n generated tokens with ignore_eos) until -d has passed; requests in
// flight then finish. Time to first token runs from sending the request to
// the first streamed text.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bitnet-load: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

// Config is one load run.
type Config struct {
	URL          string
	APIKey       string
	Clients      int
	Duration     time.Duration
	MaxTokens    int
	PromptTokens int // approximate: words of a generated prompt
	Seed         int64
}

// Report is what a run measured.
type Report struct {
	Clients   int
	Wall      time.Duration // from the first request to the end of the last
	Requests  int           // completed requests
	Errors    int
	FirstErr  string
	Tokens    int // generated tokens of the completed requests
	TTFT      []time.Duration
	DecodeTPS []float64 // per request: (tokens-1) / (end - first token)
}

func (r *Report) TokensPerSecond() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Tokens) / r.Wall.Seconds()
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "clients %d  wall %.1f s  requests %d  errors %d\n", r.Clients, r.Wall.Seconds(), r.Requests, r.Errors)
	fmt.Fprintf(w, "generated tokens %d  aggregate %.2f tokens/s  per-request decode median %.2f tokens/s\n",
		r.Tokens, r.TokensPerSecond(), median(r.DecodeTPS))
	fmt.Fprintf(w, "time to first token  p50 %.0f ms  p99 %.0f ms\n",
		float64(percentile(r.TTFT, 0.5).Microseconds())/1e3, float64(percentile(r.TTFT, 0.99).Microseconds())/1e3)
	if r.FirstErr != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstErr)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bitnet-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "server base `URL`")
	fs.StringVar(&c.APIKey, "api-key", "", "API `key` (Authorization: Bearer)")
	fs.IntVar(&c.Clients, "k", 1, "concurrent streaming clients")
	fs.DurationVar(&c.Duration, "d", 30*time.Second, "how long clients start new requests")
	fs.IntVar(&c.MaxTokens, "n", 64, "tokens generated per request")
	fs.IntVar(&c.PromptTokens, "p", 128, "prompt length in words (about one token each)")
	fs.Int64Var(&c.Seed, "seed", 1, "sampling seed of the first request (then +1 per request)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case c.Clients < 1 || c.Clients > 1024:
		return usageError{fmt.Errorf("-k %d: must be 1 to 1024", c.Clients)}
	case c.Duration <= 0 || c.Duration > 24*time.Hour:
		return usageError{fmt.Errorf("-d %v: must be positive and at most a day", c.Duration)}
	case c.MaxTokens < 1 || c.PromptTokens < 1:
		return usageError{errors.New("-n and -p must be at least 1")}
	}
	rep, err := Run(context.Background(), c)
	if err != nil {
		return err
	}
	rep.Write(stdout)
	return nil
}

// words are the vocabulary of generated prompts.
var words = strings.Fields("the a little girl boy dog cat sun tree house went saw big happy played with ran to park friend " +
	"and said one day there was once upon time her his mom ball red blue wanted look found box")

func prompt(n, salt int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Story %d:", salt)
	x := uint32(salt*2654435761 + 1)
	for range n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteString(" ")
		b.WriteString(words[x%uint32(len(words))])
	}
	return b.String()
}

// Run drives the server and measures.
func Run(ctx context.Context, c Config) (*Report, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.Clients, DisableCompression: true}}
	defer client.CloseIdleConnections()
	url := strings.TrimSuffix(c.URL, "/") + "/v1/completions"
	rep := &Report{Clients: c.Clients}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	stopAt := start.Add(c.Duration)
	next := 0
	for range c.Clients {
		wg.Go(func() {
			for time.Now().Before(stopAt) && ctx.Err() == nil {
				mu.Lock()
				n := next
				next++
				mu.Unlock()
				body, _ := json.Marshal(map[string]any{
					"prompt": prompt(c.PromptTokens, n), "max_tokens": c.MaxTokens, "stream": true, "ignore_eos": true,
					"stream_options": map[string]any{"include_usage": true}, "seed": c.Seed + int64(n),
				})
				r := one(ctx, client, url, c.APIKey, body)
				mu.Lock()
				if r.err != nil {
					rep.Errors++
					if rep.FirstErr == "" {
						rep.FirstErr = r.err.Error()
					}
				} else {
					rep.Requests++
					rep.Tokens += r.tokens
					rep.TTFT = append(rep.TTFT, r.ttft)
					if r.tokens > 1 && r.decode > 0 {
						rep.DecodeTPS = append(rep.DecodeTPS, float64(r.tokens-1)/r.decode.Seconds())
					}
				}
				mu.Unlock()
				if r.err != nil {
					time.Sleep(100 * time.Millisecond) // a failing server is not hammered
				}
			}
		})
	}
	wg.Wait()
	rep.Wall = time.Since(start)
	return rep, nil
}

type result struct {
	tokens int
	ttft   time.Duration
	decode time.Duration
	err    error
}

// one sends a streamed completion and reads it to the end.
func one(ctx context.Context, client *http.Client, url, key string, body []byte) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return result{err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))}
	}
	var r result
	var first time.Time
	done := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var ev struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return result{err: fmt.Errorf("bad event %q: %v", data, err)}
		}
		if ev.Error != nil {
			return result{err: errors.New(ev.Error.Message)}
		}
		if first.IsZero() && len(ev.Choices) > 0 && ev.Choices[0].Text != "" {
			first = time.Now()
			r.ttft = first.Sub(t0)
		}
		if ev.Usage != nil {
			r.tokens = ev.Usage.CompletionTokens
		}
	}
	if err := sc.Err(); err != nil {
		return result{err: err}
	}
	if !done {
		return result{err: errors.New("the stream ended without [DONE]")}
	}
	if first.IsZero() {
		return result{err: errors.New("no text streamed")}
	}
	r.decode = time.Since(first)
	return r
}
