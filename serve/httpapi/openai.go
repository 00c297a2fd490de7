package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/chat"
)

// writeTimeout bounds writing one event.
const writeTimeout = 2 * time.Minute

// sse writes server-sent events, flushing each one.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newSSE(w http.ResponseWriter) *sse { return &sse{w: w, rc: http.NewResponseController(w)} }

func (e *sse) start() {
	if !e.started {
		h := e.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		e.w.WriteHeader(http.StatusOK)
		e.started = true
	}
}

func (e *sse) raw(data string) error {
	e.start()
	// A client that stops reading is dropped rather than held forever.
	e.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", data); err != nil {
		return err
	}
	return e.rc.Flush()
}

func (e *sse) send(v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	return e.raw(string(b))
}

// fail ends a stream with an error event, or answers with the error if
// nothing was sent yet.
func (e *sse) fail(err error) {
	if !e.started {
		writeAPIError(e.w, err)
		return
	}
	ae, ok := err.(*apiError)
	if !ok {
		ae = &apiError{http.StatusInternalServerError, "server_error", err.Error()}
	}
	e.send(errorBody(ae.status, ae.typ, ae.msg))
}

type usage struct {
	PromptTokens        int            `json:"prompt_tokens"`
	CompletionTokens    int            `json:"completion_tokens"`
	TotalTokens         int            `json:"total_tokens"`
	PromptTokensDetails map[string]int `json:"prompt_tokens_details,omitempty"`
}

func usageOf(r genResult) *usage {
	return &usage{PromptTokens: r.promptTokens, CompletionTokens: len(r.tokens), TotalTokens: r.promptTokens + len(r.tokens),
		PromptTokensDetails: map[string]int{"cached_tokens": r.cachedTokens}}
}

// chat log-probabilities (OpenAI's "logprobs": {"content": [...]}).
type chatLogprob struct {
	Token       string        `json:"token"`
	Logprob     float32       `json:"logprob"`
	Bytes       []int         `json:"bytes"`
	TopLogprobs []chatLogprob `json:"top_logprobs"`
}

func (s *Server) tokenLogprob(m *bitnet.Model, id int32, lp float32, top []bitnet.TokenLogprob) chatLogprob {
	text := m.TokenText(id)
	c := chatLogprob{Token: text, Logprob: lp, Bytes: bytesOf(text), TopLogprobs: []chatLogprob{}}
	for _, t := range top {
		tt := m.TokenText(t.ID)
		c.TopLogprobs = append(c.TopLogprobs, chatLogprob{Token: tt, Logprob: t.Logprob, Bytes: bytesOf(tt)})
	}
	return c
}

func bytesOf(s string) []int {
	b := make([]int, len(s))
	for i := range len(s) {
		b[i] = int(s[i])
	}
	return b
}

func (s *Server) newID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, s.created, s.reqID.Add(1))
}

// chatParams decodes a chat request into generation parameters.
func (s *Server) chatParams(m *bitnet.Model, req *chatRequest) (genParams, error) {
	var p genParams
	msgs, err := req.messages()
	if err != nil {
		return p, err
	}
	if p.smp, p.stop, err = req.params(); err != nil {
		return p, err
	}
	if p.maxTokens, err = maxTokens("max_tokens", req.MaxTokens, req.MaxCompletionTokens); err != nil {
		return p, err
	}
	p.ignoreEOS = req.IgnoreEOS
	if req.Logprobs != nil {
		p.logprobs = *req.Logprobs
	}
	if req.TopLogprobs != nil {
		if *req.TopLogprobs < 0 || *req.TopLogprobs > 20 {
			return p, badRequest("\"top_logprobs\" is %d: must be between 0 and 20", *req.TopLogprobs)
		}
		if !p.logprobs && *req.TopLogprobs > 0 {
			return p, badRequest("\"top_logprobs\" needs \"logprobs\": true")
		}
		p.topLogprobs = *req.TopLogprobs
	}
	if !isNull(req.ResponseFormat) {
		var rf struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(req.ResponseFormat, &rf) != nil || rf.Type != "text" {
			return p, badRequest("\"response_format\": only {\"type\": \"text\"} is supported")
		}
	}
	tmpl, err := s.template(m, req.ChatTemplate)
	if err != nil {
		return p, err
	}
	if p.prompt, _, err = m.ChatPrompt(tmpl, msgs); err != nil {
		return p, badRequest("applying the chat template: %v", err)
	}
	if tmpl != nil {
		p.eot = eotTokens(m, tmpl)
	}
	return p, nil
}

// template resolves a per-request chat template: a built-in name only
// (Jinja source from requests is not rendered). nil: the model's.
func (s *Server) template(m *bitnet.Model, name string) (*chat.Template, error) {
	if name == "" {
		return nil, nil
	}
	t, err := chat.Builtin(name)
	if err != nil {
		return nil, badRequest("\"chat_template\": %v", err)
	}
	return t, nil
}

// eotTokens are the control tokens that end a turn in tmpl's format.
func eotTokens(m *bitnet.Model, tmpl *chat.Template) map[int32]bool {
	eot := map[int32]bool{}
	tk := m.Tokenizer()
	for _, s := range tmpl.EndOfTurn() {
		if id, ok := tk.TokenID(s); ok && tk.IsControl(id) {
			eot[id] = true
		}
	}
	return eot
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := s.readJSON(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	m, _ := s.get()
	p, err := s.chatParams(m, &req)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	g, err := s.submit(r.Context(), p)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	id, created, model := s.newID("chatcmpl"), time.Now().Unix(), s.cfg.Alias
	if !req.Stream {
		var lps []chatLogprob
		res, err := g.run(func(ev tokenEvent) error {
			if ev.hasLP {
				lps = append(lps, s.tokenLogprob(m, ev.id, ev.lp, ev.top))
			}
			return nil
		})
		if err != nil {
			if r.Context().Err() == nil {
				writeAPIError(w, err)
			}
			return
		}
		choice := map[string]any{"index": 0, "finish_reason": res.finish,
			"message": map[string]any{"role": "assistant", "content": res.text}, "logprobs": nil}
		if p.logprobs {
			choice["logprobs"] = map[string]any{"content": nonNil(lps)}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []any{choice}, "usage": usageOf(res), "timings": timings(res),
		})
		return
	}
	ev := newSSE(w)
	chunk := func(delta map[string]any, finish any, lp any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}}}
	}
	if err := ev.send(chunk(map[string]any{"role": "assistant", "content": ""}, nil, nil)); err != nil {
		g.run(nil)
		return
	}
	res, err := g.run(func(e tokenEvent) error {
		if e.text == "" && !e.hasLP {
			return nil
		}
		var lp any
		if e.hasLP && e.id >= 0 {
			lp = map[string]any{"content": []chatLogprob{s.tokenLogprob(m, e.id, e.lp, e.top)}}
		}
		return ev.send(chunk(map[string]any{"content": e.text}, nil, lp))
	})
	if err != nil {
		if r.Context().Err() == nil {
			ev.fail(err)
		}
		return
	}
	final := chunk(map[string]any{}, res.finish, nil)
	final["timings"] = timings(res)
	if ev.send(final) != nil {
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		if ev.send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{}, "usage": usageOf(res)}) != nil {
			return
		}
	}
	ev.raw("[DONE]")
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// timings are llama-server's per-request timings.
func timings(r genResult) map[string]any {
	pms, gms := float64(r.promptTime.Microseconds())/1e3, float64(r.genTime.Microseconds())/1e3
	t := map[string]any{"prompt_n": r.promptTokens - r.cachedTokens, "prompt_ms": pms, "predicted_n": len(r.tokens),
		"predicted_ms": gms, "cache_n": r.cachedTokens}
	if pms > 0 {
		t["prompt_per_second"] = float64(r.promptTokens-r.cachedTokens) / pms * 1e3
	}
	if gms > 0 {
		t["predicted_per_second"] = float64(len(r.tokens)) / gms * 1e3
	}
	return t
}

// promptTokens tokenizes a prompt as llama-server does (BOS added, special
// token texts parsed).
func promptTokens(m *bitnet.Model, pi promptInput) []int32 {
	if pi.isText {
		return m.Tokenize(pi.text, true, true)
	}
	return pi.tokens
}

// completion log-probabilities (the legacy completions format).
type legacyLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float32            `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

func (l *legacyLogprobs) add(m *bitnet.Model, e tokenEvent, offset int) {
	l.Tokens = append(l.Tokens, m.TokenText(e.id))
	l.TokenLogprobs = append(l.TokenLogprobs, e.lp)
	top := map[string]float32{}
	for _, t := range e.top {
		top[m.TokenText(t.ID)] = t.Logprob
	}
	l.TopLogprobs = append(l.TopLogprobs, top)
	l.TextOffset = append(l.TextOffset, offset)
}

func (s *Server) completionsOAI(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := s.readJSON(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	m, _ := s.get()
	var p genParams
	pi, err := parsePrompt(req.Prompt)
	if err == nil {
		p.smp, p.stop, err = req.params()
	}
	if err == nil {
		p.maxTokens, err = maxTokens("max_tokens", req.MaxTokens)
	}
	if err == nil && req.Echo {
		err = badRequest("\"echo\" is not supported")
	}
	if err == nil && req.Logprobs != nil {
		if *req.Logprobs < 0 || *req.Logprobs > 5 {
			err = badRequest("\"logprobs\" is %d: must be between 0 and 5", *req.Logprobs)
		} else {
			p.logprobs, p.topLogprobs = true, *req.Logprobs
		}
	}
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if req.MaxTokens == nil {
		p.maxTokens = 16 // OpenAI's default for completions
	}
	p.ignoreEOS = req.IgnoreEOS
	p.prompt = promptTokens(m, pi)
	g, err := s.submit(r.Context(), p)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	id, created, model := s.newID("cmpl"), time.Now().Unix(), s.cfg.Alias
	if !req.Stream {
		var lps legacyLogprobs
		off := 0
		res, err := g.run(func(e tokenEvent) error {
			if e.hasLP && e.id >= 0 {
				lps.add(m, e, off)
			}
			off += len(e.text)
			return nil
		})
		if err != nil {
			if r.Context().Err() == nil {
				writeAPIError(w, err)
			}
			return
		}
		choice := map[string]any{"index": 0, "text": res.text, "finish_reason": res.finish, "logprobs": nil}
		if p.logprobs {
			choice["logprobs"] = lps
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "text_completion", "created": created, "model": model,
			"choices": []any{choice}, "usage": usageOf(res), "timings": timings(res)})
		return
	}
	ev := newSSE(w)
	chunk := func(text string, finish any, lp any) map[string]any {
		return map[string]any{"id": id, "object": "text_completion", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "text": text, "logprobs": lp, "finish_reason": finish}}}
	}
	off := 0
	res, err := g.run(func(e tokenEvent) error {
		if e.text == "" && !e.hasLP {
			return nil
		}
		var lp any
		if e.hasLP && e.id >= 0 {
			var l legacyLogprobs
			l.add(m, e, off)
			lp = l
		}
		off += len(e.text)
		return ev.send(chunk(e.text, nil, lp))
	})
	if err != nil {
		if r.Context().Err() == nil {
			ev.fail(err)
		}
		return
	}
	if ev.send(chunk("", res.finish, nil)) != nil {
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		if ev.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": model,
			"choices": []any{}, "usage": usageOf(res)}) != nil {
			return
		}
	}
	ev.raw("[DONE]")
}
