// The OpenAI SDK and chromedp are large: the tag bitnet_fuzz leaves these
// tests out so that fuzzing (FuzzDecodeRequests) builds quickly.

//go:build !bitnet_fuzz

package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/chat"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/serve"
	"github.com/bitnet-go/bitnet/serve/httpapi"
)

var (
	modelOnce sync.Once
	model     *bitnet.Model
	modelErr  error
)

func bundled(t testing.TB) *bitnet.Model {
	t.Helper()
	modelOnce.Do(func() {
		model, modelErr = bitnet.Open(filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"), &bitnet.Options{Threads: 1, Context: 256})
	})
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return model
}

type testServer struct {
	url   string
	api   *httpapi.Server
	sched *serve.Scheduler
	m     *bitnet.Model
}

type opts struct {
	slots, ctx, queue int
	key               string
	maxBody           int64
}

// start serves the bundled model on 127.0.0.1 (httptest's loopback
// listener) until the test ends.
func start(t testing.TB, o opts) *testServer {
	t.Helper()
	m := bundled(t)
	if o.slots == 0 {
		o.slots = 2
	}
	if o.ctx == 0 {
		o.ctx = 256
	}
	sched, err := serve.New(m.Runtime(), serve.Config{Slots: o.slots, Ctx: o.ctx, Threads: 1, Queue: o.queue})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{APIKey: o.key, MaxBody: o.maxBody, ModelPath: "tinystories.gguf"})
	api.SetModel(m, sched)
	hs := httptest.NewUnstartedServer(api.Handler())
	hs.Config.ReadHeaderTimeout = 10 * time.Second
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		if err := sched.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return &testServer{url: hs.URL, api: api, sched: sched, m: m}
}

func (ts *testServer) client(extra ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(ts.url + "/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0)}, extra...)...)
}

func post(t testing.TB, url, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func get(t testing.TB, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestHealthWhileLoading(t *testing.T) {
	api := httpapi.New(httpapi.Config{})
	hs := httptest.NewServer(api.Handler())
	defer hs.Close()
	for _, path := range []string{"/health", "/v1/models", "/props"} {
		code, h, b := get(t, hs.URL+path)
		if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(string(b), "Loading model") {
			t.Errorf("%s while loading: %d %q %s", path, code, h.Get("Retry-After"), b)
		}
	}
	m := bundled(t)
	sched, err := serve.New(m.Runtime(), serve.Config{Slots: 1, Ctx: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Shutdown(context.Background())
	api.SetModel(m, sched)
	if code, _, b := get(t, hs.URL+"/health"); code != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Errorf("/health after loading: %d %s", code, b)
	}
}

// libChat is what the library's Session gives for the same chat.
func libChat(t *testing.T, m *bitnet.Model, msgs []chat.Message, smp bitnet.Sampling, n int) string {
	t.Helper()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Chat(context.Background(), msgs, &bitnet.GenerateOptions{MaxTokens: n, Sampling: &smp})
	if err != nil {
		t.Fatal(err)
	}
	return res.Text
}

func libComplete(t *testing.T, m *bitnet.Model, prompt string, smp bitnet.Sampling, n int) string {
	t.Helper()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Complete(context.Background(), prompt, &bitnet.GenerateOptions{MaxTokens: n, Sampling: &smp})
	if err != nil {
		t.Fatal(err)
	}
	return res.Text
}

func TestOpenAISDKChat(t *testing.T) {
	ts := start(t, opts{})
	c := ts.client()
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model: "tinystories",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You tell stories."),
			openai.UserMessage("Tell me about a cat."),
		},
		MaxTokens: openai.Int(24), Seed: openai.Int(7), Temperature: openai.Float(0.9),
	}
	res, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) != 1 || res.Object != "chat.completion" || res.ID == "" || res.Created == 0 || res.Model == "" {
		t.Fatalf("response %+v", res)
	}
	ch := res.Choices[0]
	smp := bitnet.DefaultSampling()
	smp.Temp, smp.Seed = 0.9, 7
	want := libChat(t, ts.m, []chat.Message{{Role: "system", Content: "You tell stories."}, {Role: "user", Content: "Tell me about a cat."}}, smp, 24)
	if ch.Message.Content != want || ch.Message.Role != "assistant" {
		t.Errorf("content %q, the library gives %q", ch.Message.Content, want)
	}
	if ch.FinishReason != "length" && ch.FinishReason != "stop" {
		t.Errorf("finish_reason %q", ch.FinishReason)
	}
	if res.Usage.CompletionTokens < 1 || res.Usage.CompletionTokens > 24 || res.Usage.PromptTokens < 5 ||
		res.Usage.TotalTokens != res.Usage.PromptTokens+res.Usage.CompletionTokens {
		t.Errorf("usage %+v", res.Usage)
	}

	// The same request streamed gives the same text, a role first, a
	// finish reason last and the usage when asked.
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := c.Chat.Completions.NewStreaming(ctx, params)
	var text, finish, role string
	var u openai.CompletionUsage
	chunks := 0
	for st.Next() {
		k := st.Current()
		chunks++
		if k.Object != "chat.completion.chunk" || k.ID == "" {
			t.Errorf("chunk %+v", k)
		}
		if len(k.Choices) > 0 {
			text += k.Choices[0].Delta.Content
			if k.Choices[0].Delta.Role != "" {
				role = k.Choices[0].Delta.Role
			}
			if k.Choices[0].FinishReason != "" {
				finish = k.Choices[0].FinishReason
			}
		}
		if k.Usage.TotalTokens > 0 {
			u = k.Usage
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if text != ch.Message.Content || finish != string(ch.FinishReason) || role != "assistant" || chunks < 3 {
		t.Errorf("streamed %q (finish %q, role %q, %d chunks), non-streamed %q (%q)", text, finish, role, chunks, ch.Message.Content, ch.FinishReason)
	}
	if u.CompletionTokens != res.Usage.CompletionTokens || u.PromptTokens != res.Usage.PromptTokens {
		t.Errorf("streamed usage %+v, non-streamed %+v", u, res.Usage)
	}

	models, err := c.Models.List(ctx)
	if err != nil || len(models.Data) != 1 || models.Data[0].ID != res.Model {
		t.Errorf("models %+v %v", models, err)
	}
}

func TestOpenAISDKCompletions(t *testing.T) {
	ts := start(t, opts{})
	c := ts.client()
	ctx := context.Background()
	params := openai.CompletionNewParams{
		Model:     "tinystories",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time, there was a little dog")},
		MaxTokens: openai.Int(20), Seed: openai.Int(3), Temperature: openai.Float(1.1),
		TopP: openai.Float(0.9), PresencePenalty: openai.Float(0.5), FrequencyPenalty: openai.Float(0.25),
	}
	res, err := c.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) != 1 || res.Object != "text_completion" {
		t.Fatalf("response %+v", res)
	}
	smp := bitnet.DefaultSampling()
	smp.Temp, smp.Seed, smp.TopP, smp.PresencePenalty, smp.FreqPenalty = 1.1, 3, 0.9, 0.5, 0.25
	want := libComplete(t, ts.m, "Once upon a time, there was a little dog", smp, 20)
	if res.Choices[0].Text != want {
		t.Errorf("text %q, the library gives %q", res.Choices[0].Text, want)
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := c.Completions.NewStreaming(ctx, params)
	var text, finish string
	var usage int64
	for st.Next() {
		k := st.Current()
		if len(k.Choices) > 0 {
			text += k.Choices[0].Text
			if k.Choices[0].FinishReason != "" {
				finish = string(k.Choices[0].FinishReason)
			}
		}
		usage += k.Usage.CompletionTokens
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if text != want || finish != string(res.Choices[0].FinishReason) || usage != res.Usage.CompletionTokens {
		t.Errorf("streamed %q (%s, %d tokens), non-streamed %q (%s, %d)", text, finish, usage, want, res.Choices[0].FinishReason, res.Usage.CompletionTokens)
	}

	// Token-id prompts are the same prompt.
	ids := ts.m.Tokenize("Once upon a time, there was a little dog", true, true)
	params.Prompt = openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: toInt64(ids)}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
	res2, err := c.Completions.New(ctx, params)
	if err != nil || res2.Choices[0].Text != want {
		t.Errorf("token prompt: %v %+v", err, res2)
	}
}

func toInt64(ids []int32) []int64 {
	out := make([]int64, len(ids))
	for i, v := range ids {
		out[i] = int64(v)
	}
	return out
}

func TestStopAndLogprobs(t *testing.T) {
	ts := start(t, opts{})
	c := ts.client()
	ctx := context.Background()
	base := openai.CompletionNewParams{Model: "m", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens: openai.Int(30), Temperature: openai.Float(0)}
	full, err := c.Completions.New(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	text := full.Choices[0].Text
	// A stop string from the middle of the greedy text cuts it there.
	stop := ""
	if words := strings.Fields(text); len(words) > 3 {
		stop = " " + words[3]
	}
	if stop == "" || !strings.Contains(text, stop) {
		t.Fatalf("greedy text %q too short for the test", text)
	}
	base.Stop = openai.CompletionNewParamsStopUnion{OfString: openai.String(stop)}
	for _, stream := range []bool{false, true} {
		var got, finish string
		if stream {
			st := c.Completions.NewStreaming(ctx, base)
			for st.Next() {
				if k := st.Current(); len(k.Choices) > 0 {
					got += k.Choices[0].Text
					if k.Choices[0].FinishReason != "" {
						finish = string(k.Choices[0].FinishReason)
					}
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
		} else {
			res, err := c.Completions.New(ctx, base)
			if err != nil {
				t.Fatal(err)
			}
			got, finish = res.Choices[0].Text, string(res.Choices[0].FinishReason)
		}
		if want := text[:strings.Index(text, stop)]; got != want || finish != "stop" {
			t.Errorf("stream=%v stop %q: %q (%s), want %q", stream, stop, got, finish, want)
		}
	}

	// Chat log-probabilities: greedy picks the most likely token.
	res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		MaxTokens: openai.Int(8), Temperature: openai.Float(0), Logprobs: openai.Bool(true), TopLogprobs: openai.Int(3)})
	if err != nil {
		t.Fatal(err)
	}
	lps := res.Choices[0].Logprobs.Content
	if len(lps) != int(res.Usage.CompletionTokens) || len(lps) == 0 {
		t.Fatalf("%d logprobs for %d tokens", len(lps), res.Usage.CompletionTokens)
	}
	var joined string
	for _, lp := range lps {
		joined += lp.Token
		if len(lp.TopLogprobs) != 3 || lp.TopLogprobs[0].Token != lp.Token || lp.TopLogprobs[0].Logprob != lp.Logprob ||
			lp.Logprob > 0 || lp.TopLogprobs[1].Logprob > lp.TopLogprobs[0].Logprob || lp.TopLogprobs[2].Logprob > lp.TopLogprobs[1].Logprob {
			t.Errorf("logprob %+v", lp)
		}
	}
	if joined != res.Choices[0].Message.Content {
		t.Errorf("logprob tokens spell %q, content %q", joined, res.Choices[0].Message.Content)
	}
}

type llamaCompletion struct {
	Content     string  `json:"content"`
	Tokens      []int32 `json:"tokens"`
	Stop        bool    `json:"stop"`
	StopType    string  `json:"stop_type"`
	Predicted   int     `json:"tokens_predicted"`
	Evaluated   int     `json:"tokens_evaluated"`
	Probs       []any   `json:"completion_probabilities"`
	GenSettings struct {
		Seed uint64 `json:"seed"`
	} `json:"generation_settings"`
}

func TestLlamaEndpoints(t *testing.T) {
	ts := start(t, opts{})
	m := ts.m
	// /completion, plain and streamed.
	code, _, b := post(t, ts.url+"/completion", `{"prompt":"Once upon a time","n_predict":12,"seed":5,"n_probs":2}`)
	var lc llamaCompletion
	if code != 200 || json.Unmarshal(b, &lc) != nil {
		t.Fatalf("/completion: %d %s", code, b)
	}
	if !lc.Stop || lc.Predicted != len(lc.Tokens) || lc.Evaluated != len(m.Tokenize("Once upon a time", true, true)) ||
		len(lc.Probs) != len(lc.Tokens) || lc.GenSettings.Seed != 5 || m.Detokenize(lc.Tokens) != lc.Content {
		t.Errorf("/completion: %s", b)
	}
	smp := bitnet.DefaultSampling()
	smp.Seed = 5
	if want := libComplete(t, m, "Once upon a time", smp, 12); lc.Content != want {
		t.Errorf("/completion %q, the library gives %q", lc.Content, want)
	}
	resp, err := http.Post(ts.url+"/completion", "application/json", strings.NewReader(`{"prompt":"Once upon a time","n_predict":12,"seed":5,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	var streamed string
	var last llamaCompletion
	events := sseEvents(t, resp.Body)
	resp.Body.Close()
	for _, e := range events {
		var k llamaCompletion
		if err := json.Unmarshal([]byte(e), &k); err != nil {
			t.Fatalf("event %q: %v", e, err)
		}
		streamed += k.Content
		last = k
	}
	if streamed != lc.Content || !last.Stop || last.Predicted != lc.Predicted || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("streamed %q (last %+v), plain %q", streamed, last, lc.Content)
	}

	// /tokenize and /detokenize.
	code, _, b = post(t, ts.url+"/tokenize", `{"content":"Hello world","add_special":true}`)
	var tk struct{ Tokens []int32 }
	if code != 200 || json.Unmarshal(b, &tk) != nil || !slices.Equal(tk.Tokens, m.Tokenize("Hello world", true, true)) {
		t.Errorf("/tokenize: %d %s", code, b)
	}
	code, _, b = post(t, ts.url+"/tokenize", `{"content":"Hello world","with_pieces":true}`)
	var tp struct {
		Tokens []struct {
			ID    int32
			Piece string
		}
	}
	if code != 200 || json.Unmarshal(b, &tp) != nil || len(tp.Tokens) == 0 {
		t.Errorf("/tokenize with pieces: %d %s", code, b)
	} else {
		var s string
		for _, p := range tp.Tokens {
			s += p.Piece
		}
		if strings.TrimSpace(s) != "Hello world" {
			t.Errorf("pieces spell %q", s)
		}
	}
	code, _, b = post(t, ts.url+"/detokenize", fmt.Sprintf(`{"tokens":%s}`, mustJSON(tk.Tokens)))
	if code != 200 || !strings.Contains(string(b), `"Hello world"`) {
		t.Errorf("/detokenize: %d %s", code, b)
	}

	// /apply-template renders with the model's template, or a named one.
	msgs := []chat.Message{{Role: "user", Content: "Hi"}}
	want, _ := m.ApplyChatTemplate(msgs, true)
	code, _, b = post(t, ts.url+"/apply-template", `{"messages":[{"role":"user","content":"Hi"}]}`)
	if code != 200 || !strings.Contains(string(b), mustJSON(want)) {
		t.Errorf("/apply-template: %d %s, want %q", code, b, want)
	}
	code, _, b = post(t, ts.url+"/apply-template", `{"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"chat_template":"llama3"}`)
	if code != 200 || !strings.Contains(string(b), `<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>`) {
		t.Errorf("/apply-template llama3: %d %s", code, b)
	}

	// /props, /slots, /metrics.
	code, _, b = get(t, ts.url+"/props")
	var props struct {
		TotalSlots int `json:"total_slots"`
		Defaults   struct {
			NCtx int `json:"n_ctx"`
		} `json:"default_generation_settings"`
		ChatTemplate string `json:"chat_template"`
	}
	if code != 200 || json.Unmarshal(b, &props) != nil || props.TotalSlots != 2 || props.Defaults.NCtx != 256 || props.ChatTemplate == "" {
		t.Errorf("/props: %d %s", code, b)
	}
	code, _, b = get(t, ts.url+"/slots")
	var slots []struct {
		ID           int  `json:"id"`
		IsProcessing bool `json:"is_processing"`
		NCtx         int  `json:"n_ctx"`
	}
	if code != 200 || json.Unmarshal(b, &slots) != nil || len(slots) != 2 || slots[1].ID != 1 || slots[0].NCtx != 256 || slots[0].IsProcessing {
		t.Errorf("/slots: %d %s", code, b)
	}
	code, h, b := get(t, ts.url+"/metrics")
	mt := parseMetrics(t, string(b))
	st := ts.sched.Stats()
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("/metrics: %d %s", code, h.Get("Content-Type"))
	}
	for name, want := range map[string]float64{
		"llamacpp:prompt_tokens_total": float64(st.PromptTokens), "llamacpp:tokens_predicted_total": float64(st.GenTokens),
		"llamacpp:n_decode_total": float64(st.Passes), "llamacpp:requests_processing": 0, "llamacpp:requests_deferred": 0,
	} {
		if got, ok := mt[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"prompt_seconds_total", "tokens_predicted_seconds_total", "n_tokens_max", "n_busy_slots_per_decode", "prompt_tokens_seconds", "predicted_tokens_seconds"} {
		if mt["llamacpp:"+name] <= 0 {
			t.Errorf("llamacpp:%s = %v", name, mt["llamacpp:"+name])
		}
	}
	if mt["llamacpp:tokens_predicted_total"] < 24 {
		t.Errorf("tokens_predicted_total %v after 24 tokens", mt["llamacpp:tokens_predicted_total"])
	}
}

// parseMetrics reads the Prometheus text format strictly: HELP and TYPE
// before each sample, a name and a float.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines)%3 != 0 {
		t.Fatalf("metrics: %d lines", len(lines))
	}
	for i := 0; i < len(lines); i += 3 {
		var name, typ string
		var v float64
		if _, err := fmt.Sscanf(lines[i+1], "# TYPE %s %s", &name, &typ); err != nil || (typ != "counter" && typ != "gauge") ||
			!strings.HasPrefix(lines[i], "# HELP "+name+" ") {
			t.Fatalf("metrics lines %q %q", lines[i], lines[i+1])
		}
		if _, err := fmt.Sscanf(lines[i+2], name+" %g", &v); err != nil {
			t.Fatalf("metric line %q: %v", lines[i+2], err)
		}
		out[name] = v
	}
	return out
}

func mustJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// sseEvents reads a server-sent event stream to its end.
func sseEvents(t testing.TB, r io.Reader) []string {
	t.Helper()
	var evs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("SSE line %q", line)
		}
		evs = append(evs, data)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestErrors(t *testing.T) {
	ts := start(t, opts{ctx: 64, maxBody: 4096, key: "sekret"})
	auth := []string{"Authorization", "Bearer sekret"}
	long := strings.Repeat("Once upon a time there was a dog. ", 20)
	cases := []struct {
		name, path, body string
		hdr              []string
		code             int
		msg              string
	}{
		{"no key", "/v1/completions", `{"prompt":"x"}`, nil, 401, "API key"},
		{"wrong key", "/v1/completions", `{"prompt":"x"}`, []string{"Authorization", "Bearer nope"}, 401, "API key"},
		{"malformed JSON", "/v1/chat/completions", `{"messages":[`, auth, 400, "malformed JSON"},
		{"not an object", "/v1/chat/completions", `[1,2]`, auth, 400, "JSON object"},
		{"empty body", "/v1/completions", ``, auth, 400, "empty request body"},
		{"trailing garbage", "/v1/completions", `{"prompt":"x"} {}`, auth, 400, "malformed JSON"},
		{"wrong type temperature", "/v1/completions", `{"prompt":"x","temperature":"hot"}`, auth, 400, `"temperature"`},
		{"wrong type max_tokens", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"max_tokens":"many"}`, auth, 400, `"max_tokens"`},
		{"wrong type stream", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"stream":"yes"}`, auth, 400, `"stream"`},
		{"wrong type messages", "/v1/chat/completions", `{"messages":"hi"}`, auth, 400, `"messages"`},
		{"wrong type content", "/v1/chat/completions", `{"messages":[{"role":"user","content":42}]}`, auth, 400, "content"},
		{"image content", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, auth, 400, "text"},
		{"wrong type prompt", "/v1/completions", `{"prompt":{"a":1}}`, auth, 400, `"prompt"`},
		{"wrong type stop", "/v1/completions", `{"prompt":"x","stop":5}`, auth, 400, `"stop"`},
		{"wrong type tokens", "/detokenize", `{"tokens":["a"]}`, auth, 400, `"tokens"`},
		{"missing messages", "/v1/chat/completions", `{}`, auth, 400, `"messages"`},
		{"missing prompt", "/v1/completions", `{}`, auth, 400, `"prompt"`},
		{"two prompts", "/v1/completions", `{"prompt":["a","b"]}`, auth, 400, "one prompt"},
		{"n = 2", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"n":2}`, auth, 400, `"n"`},
		{"temperature range", "/v1/completions", `{"prompt":"x","temperature":3}`, auth, 400, "temperature"},
		{"negative max_tokens", "/v1/completions", `{"prompt":"x","max_tokens":-1}`, auth, 400, "max_tokens"},
		{"top_logprobs range", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":50}`, auth, 400, "top_logprobs"},
		{"prompt too long", "/v1/completions", `{"prompt":"` + long + `"}`, auth, 400, "context"},
		{"chat too long", "/v1/chat/completions", `{"messages":[{"role":"user","content":"` + long + `"}]}`, auth, 400, "context"},
		{"llama prompt too long", "/completion", `{"prompt":"` + long + `"}`, auth, 400, "context"},
		{"max_tokens beyond context", "/v1/completions", `{"prompt":"Once","max_tokens":1000}`, auth, 400, "context"},
		{"max_completion_tokens beyond context", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"max_completion_tokens":64}`, auth, 400, "context"},
		{"token outside vocabulary", "/v1/completions", `{"prompt":[1,99999999]}`, auth, 400, "vocabulary"},
		{"detokenize outside vocabulary", "/detokenize", `{"tokens":[-5]}`, auth, 400, "vocabulary"},
		{"unknown template", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"chat_template":"no-such"}`, auth, 400, "unknown chat template"},
		{"unknown template apply", "/apply-template", `{"messages":[{"role":"user","content":"x"}],"chat_template":"{{ raise }}"}`, auth, 400, "unknown chat template"},
		{"oversized body", "/v1/completions", `{"prompt":"` + strings.Repeat("a", 5000) + `"}`, auth, 413, "larger than 4096"},
		{"unknown endpoint", "/v2/everything", `{}`, auth, 404, "no endpoint"},
	}
	for _, c := range cases {
		code, h, b := post(t, ts.url+c.path, c.body, c.hdr...)
		var e struct {
			Error struct {
				Code    int
				Message string
				Type    string
			}
		}
		if err := json.Unmarshal(b, &e); err != nil || code != c.code || e.Error.Code != c.code || !strings.Contains(e.Error.Message, c.msg) ||
			e.Error.Type == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s (want %d with %q)", c.name, code, b, c.code, c.msg)
		}
	}
	// /health needs no key; the rest does.
	if code, _, _ := get(t, ts.url+"/health"); code != 200 {
		t.Errorf("/health with a key set: %d", code)
	}
	if code, _, _ := get(t, ts.url+"/v1/models"); code != 200 {
		t.Errorf("/v1/models without the key: %d (public in llama-server)", code)
	}
	if code, _, _ := get(t, ts.url+"/props"); code != 401 {
		t.Errorf("/props without the key: %d", code)
	}
	// The server still works after all that.
	code, _, b := post(t, ts.url+"/v1/completions", `{"prompt":"Once","max_tokens":3}`, auth...)
	if code != 200 {
		t.Errorf("after the errors: %d %s", code, b)
	}
}

func TestCORS(t *testing.T) {
	ts := start(t, opts{key: "k"})
	req, _ := http.NewRequest(http.MethodOptions, ts.url+"/v1/chat/completions", nil)
	req.Header.Set("Origin", "http://example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
	_, h2, _ := get(t, ts.url+"/health")
	if h2.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS header on a response: %v", h2)
	}
}

// waitIdle waits until the scheduler has no request (a bounded wait for a
// state, not a timing check).
func waitIdle(t *testing.T, s *serve.Scheduler) serve.Stats {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := s.Stats()
		if st.Processing == 0 && st.Queued == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduler still busy: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openStream starts a streaming completion and reads its first event.
func openStream(t *testing.T, ctx context.Context, url string, n int) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions",
		strings.NewReader(fmt.Sprintf(`{"prompt":"Once upon a time","max_tokens":%d,"stream":true,"ignore_eos":true}`, n)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first event %q %v", line, err)
	}
	return resp, br
}

func TestDisconnectFreesSlotAndQueueFull(t *testing.T) {
	ts := start(t, opts{slots: 1, queue: -1, ctx: 2048})
	ctx, cancel := context.WithCancel(context.Background())
	resp, _ := openStream(t, ctx, ts.url, 2000)
	// The only slot is busy and there is no queue: 503 with Retry-After.
	code, h, b := post(t, ts.url+"/v1/completions", `{"prompt":"Hello","max_tokens":2}`)
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(string(b), "busy") {
		t.Errorf("full queue: %d %q %s", code, h.Get("Retry-After"), b)
	}
	// The client goes away: its generation stops and the slot is free.
	cancel()
	resp.Body.Close()
	st := waitIdle(t, ts.sched)
	if st.Aborted != 1 || st.GenTokens >= 2000 {
		t.Errorf("after the disconnect: %+v", st)
	}
	code, _, b = post(t, ts.url+"/v1/completions", `{"prompt":"Hello","max_tokens":2}`)
	if code != 200 {
		t.Errorf("after the disconnect: %d %s", code, b)
	}
}

// TestConcurrentClients streams 8 chats at once through 4 slots with the
// SDK: each gets what it gets alone, and nothing leaks.
func TestConcurrentClients(t *testing.T) {
	ts := start(t, opts{slots: 4, ctx: 256})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	c := ts.client(option.WithHTTPClient(&http.Client{Transport: tr}))
	type job struct {
		params openai.ChatCompletionNewParams
		want   string
	}
	var jobs []job
	topics := []string{"a cat", "a dog", "the sun", "a boat", "a tree", "a king", "a bird", "the sea"}
	for i, topic := range topics {
		p := openai.ChatCompletionNewParams{Model: "m",
			Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me about " + topic + ".")},
			MaxTokens: openai.Int(int64(10 + 4*i)), Seed: openai.Int(int64(1000 + i)), Temperature: openai.Float([]float64{0, 0.7, 1, 1.3}[i%4])}
		if i%3 == 2 {
			p.Stop = openai.ChatCompletionNewParamsStopUnion{OfString: openai.String(".")}
		}
		jobs = append(jobs, job{params: p})
	}
	stream := func(p openai.ChatCompletionNewParams) (string, error) {
		st := c.Chat.Completions.NewStreaming(context.Background(), p)
		var s string
		for st.Next() {
			if k := st.Current(); len(k.Choices) > 0 {
				s += k.Choices[0].Delta.Content
			}
		}
		return s, st.Err()
	}
	// Alone, one at a time.
	for i := range jobs {
		var err error
		if jobs[i].want, err = stream(jobs[i].params); err != nil {
			t.Fatal(err)
		}
	}
	for i := range jobs {
		if jobs[i].want == "" || i > 0 && jobs[i].want == jobs[i-1].want {
			t.Fatalf("client %d alone: %q (empty or the same as the one before)", i, jobs[i].want)
		}
	}
	waitIdle(t, ts.sched)
	tr.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond) // let the closed connections' goroutines end
	goruntime.GC()
	baseG := goruntime.NumGoroutine()
	var heap [3]uint64
	for round := range 3 {
		got := make([]string, len(jobs))
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		for i := range jobs {
			wg.Go(func() { got[i], errs[i] = stream(jobs[i].params) })
		}
		wg.Wait()
		for i := range jobs {
			if errs[i] != nil || got[i] != jobs[i].want {
				t.Errorf("round %d client %d: %q (%v), alone %q", round, i, got[i], errs[i], jobs[i].want)
			}
		}
		st := waitIdle(t, ts.sched)
		for _, sl := range ts.sched.Slots() {
			if sl.Busy {
				t.Errorf("slot %d still busy", sl.ID)
			}
		}
		if st.CachedTokens > st.CacheCapacity || st.Aborted != 0 {
			t.Errorf("stats %+v", st)
		}
		tr.CloseIdleConnections()
		// Goroutines: the server's per-connection ones end with the
		// connections; wait for them (bounded) rather than race them.
		deadline := time.Now().Add(30 * time.Second)
		for goruntime.NumGoroutine() > baseG+2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := goruntime.NumGoroutine(); n > baseG+2 {
			buf := make([]byte, 1<<20)
			t.Errorf("round %d: %d goroutines, %d before:\n%s", round, n, baseG, buf[:goruntime.Stack(buf, true)])
		}
		goruntime.GC()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		heap[round] = ms.HeapAlloc
	}
	// The KV caches are allocated once per slot: rounds do not add memory.
	if heap[2] > heap[0]+8<<20 {
		t.Errorf("heap grew from %d to %d bytes over rounds", heap[0], heap[2])
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if model != nil {
		model.Close()
	}
	os.Exit(code)
}
