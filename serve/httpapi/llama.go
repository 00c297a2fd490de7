package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/sampler"
)

// llamaProb is one entry of llama-server's completion_probabilities.
type llamaProb struct {
	ID          int32       `json:"id"`
	Token       string      `json:"token"`
	Logprob     float32     `json:"logprob"`
	Bytes       []int       `json:"bytes"`
	TopLogprobs []llamaProb `json:"top_logprobs,omitempty"`
}

func llamaProbOf(m *bitnet.Model, e tokenEvent) llamaProb {
	t := m.TokenText(e.id)
	p := llamaProb{ID: e.id, Token: t, Logprob: e.lp, Bytes: bytesOf(t), TopLogprobs: []llamaProb{}}
	for _, c := range e.top {
		ct := m.TokenText(c.ID)
		p.TopLogprobs = append(p.TopLogprobs, llamaProb{ID: c.ID, Token: ct, Logprob: c.Logprob, Bytes: bytesOf(ct)})
	}
	return p
}

func settings(p sampler.Params, nPredict int, stop []string, ctx int) map[string]any {
	return map[string]any{"n_ctx": ctx, "n_predict": nPredict, "temperature": p.Temp, "top_k": p.TopK, "top_p": p.TopP,
		"min_p": p.MinP, "repeat_penalty": p.RepeatPenalty, "repeat_last_n": p.RepeatLastN,
		"presence_penalty": p.PresencePenalty, "frequency_penalty": p.FreqPenalty, "seed": p.Seed, "stop": nonNil(stop)}
}

// completionLlama is llama-server's POST /completion.
func (s *Server) completionLlama(w http.ResponseWriter, r *http.Request) {
	var req llamaRequest
	if err := s.readJSON(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	m, sched := s.get()
	var p genParams
	pi, err := parsePrompt(req.Prompt)
	if err == nil {
		p.smp, p.stop, err = req.params()
	}
	nPredict := -1
	if err == nil && req.NPredict != nil {
		if nPredict = *req.NPredict; nPredict < -1 {
			err = badRequest("\"n_predict\" is %d: must be -1 (no limit) or more", nPredict)
		}
	}
	if err == nil && req.NProbs != nil {
		if *req.NProbs < 0 || *req.NProbs > 20 {
			err = badRequest("\"n_probs\" is %d: must be between 0 and 20", *req.NProbs)
		} else if *req.NProbs > 0 {
			p.logprobs, p.topLogprobs = true, *req.NProbs
		}
	}
	if err != nil {
		writeAPIError(w, err)
		return
	}
	p.maxTokens = max(nPredict, 0)
	p.ignoreEOS = req.IgnoreEOS
	p.prompt = promptTokens(m, pi)
	ctxSize := sched.Config().Ctx
	final := func(res genResult) map[string]any {
		return map[string]any{"content": "", "tokens": []int32{}, "id_slot": res.slot, "stop": true, "model": s.cfg.Alias,
			"tokens_predicted": len(res.tokens), "tokens_evaluated": res.promptTokens,
			"generation_settings": settings(p.smp, nPredict, p.stop, ctxSize),
			"has_new_line":        strings.Contains(res.text, "\n"), "truncated": false, "stop_type": res.stopType,
			"stopping_word": res.stopWord, "tokens_cached": res.promptTokens + len(res.tokens), "timings": timings(res)}
	}
	if nPredict == 0 {
		// Nothing to generate: answer without a slot (llama-server evaluates
		// the prompt; the answer is the same).
		if len(p.prompt) >= ctxSize {
			writeAPIError(w, badRequest("the prompt is %d tokens: it does not fit the context of %d tokens per slot", len(p.prompt), ctxSize))
			return
		}
		res := final(genResult{promptTokens: len(p.prompt), stopType: "limit", slot: -1})
		res["content"] = ""
		writeJSON(w, http.StatusOK, res)
		return
	}
	g, err := s.submit(r.Context(), p)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if !req.Stream {
		var probs []llamaProb
		var toks []int32
		res, err := g.run(func(e tokenEvent) error {
			if e.id >= 0 {
				toks = append(toks, e.id)
				if e.hasLP {
					probs = append(probs, llamaProbOf(m, e))
				}
			}
			return nil
		})
		if err != nil {
			if r.Context().Err() == nil {
				writeAPIError(w, err)
			}
			return
		}
		out := final(res)
		out["content"] = res.text
		out["tokens"] = nonNil(toks)
		if p.logprobs {
			out["completion_probabilities"] = nonNil(probs)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	ev := newSSE(w)
	res, err := g.run(func(e tokenEvent) error {
		if e.text == "" && !e.hasLP {
			return nil
		}
		c := map[string]any{"content": e.text, "tokens": []int32{}, "stop": false, "index": 0}
		if e.id >= 0 {
			c["tokens"] = []int32{e.id}
			if e.hasLP {
				c["completion_probabilities"] = []llamaProb{llamaProbOf(m, e)}
			}
		}
		return ev.send(c)
	})
	if err != nil {
		if r.Context().Err() == nil {
			ev.fail(err)
		}
		return
	}
	ev.send(final(res))
}

func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content      *string `json:"content"`
		AddSpecial   bool    `json:"add_special"`
		ParseSpecial *bool   `json:"parse_special"`
		WithPieces   bool    `json:"with_pieces"`
	}
	if err := s.readJSON(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	if req.Content == nil {
		writeAPIError(w, badRequest("\"content\" is required"))
		return
	}
	m, _ := s.get()
	parse := req.ParseSpecial == nil || *req.ParseSpecial
	ids := m.Tokenize(*req.Content, req.AddSpecial, parse)
	if !req.WithPieces {
		writeJSON(w, http.StatusOK, map[string]any{"tokens": nonNil(ids)})
		return
	}
	type piece struct {
		ID    int32 `json:"id"`
		Piece any   `json:"piece"`
	}
	out := []piece{}
	for _, id := range ids {
		t := m.TokenText(id)
		var pc any = t
		if !isValidUTF8(t) {
			pc = bytesOf(t) // llama-server gives the bytes of a partial character
		}
		out = append(out, piece{id, pc})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func (s *Server) detokenize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tokens []int32 `json:"tokens"`
	}
	if err := s.readJSON(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	m, _ := s.get()
	for _, t := range req.Tokens {
		if t < 0 || int(t) >= m.VocabSize() {
			writeAPIError(w, badRequest("token %d is outside the vocabulary (%d tokens)", t, m.VocabSize()))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"content": m.Detokenize(req.Tokens)})
}

func (s *Server) applyTemplate(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := s.readJSON(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	m, _ := s.get()
	msgs, err := req.messages()
	if err != nil {
		writeAPIError(w, err)
		return
	}
	tmpl, err := s.template(m, req.ChatTemplate)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if tmpl == nil {
		tmpl = m.ChatTemplate()
	}
	text, err := tmpl.Render(msgs, true)
	if err != nil {
		writeAPIError(w, badRequest("applying the chat template: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"prompt": text})
}

func (s *Server) props(w http.ResponseWriter, r *http.Request) {
	m, sched := s.get()
	cfg := sched.Config()
	tk := m.Tokenizer()
	tmpl := m.ChatTemplate()
	src := tmpl.Source()
	if src == "" {
		src = tmpl.Name() // a built-in template
	}
	tokText := func(id int32) string {
		if id < 0 || int(id) >= m.VocabSize() {
			return ""
		}
		return m.TokenText(id)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"default_generation_settings": map[string]any{"n_ctx": cfg.Ctx,
			"params": settings(sampler.DefaultParams(), -1, nil, cfg.Ctx)},
		"total_slots": cfg.Slots, "model_alias": s.cfg.Alias, "model_path": s.cfg.ModelPath,
		"modalities":     map[string]bool{"vision": false, "audio": false},
		"endpoint_slots": true, "endpoint_props": true, "endpoint_metrics": true, "webui": true,
		"chat_template": src, "chat_template_name": tmpl.Name(),
		"bos_token": tokText(tk.BOS()), "eos_token": tokText(tk.EOS()),
		"build_info": "bitnet-go",
	})
}

func (s *Server) slots(w http.ResponseWriter, r *http.Request) {
	_, sched := s.get()
	cfg := sched.Config()
	var out []map[string]any
	idle := 0
	for _, sl := range sched.Slots() {
		if !sl.Busy {
			idle++
		}
		out = append(out, map[string]any{"id": sl.ID, "n_ctx": cfg.Ctx, "is_processing": sl.Busy,
			"n_prompt_tokens": sl.PromptTokens, "n_cached_tokens": sl.Cached,
			"next_token": map[string]any{"n_decoded": sl.Generated}})
	}
	if r.URL.Query().Get("fail_on_no_slot") != "" && idle == 0 {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable_error", "no slot available")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// metrics writes llama-server's /metrics: the same names, help texts and
// types, in the Prometheus text format. The throughput gauges are averages
// over the server's life (llama-server's reset at each scrape).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	_, sched := s.get()
	st := sched.Stats()
	rate := func(n int64, secs float64) float64 {
		if n == 0 || secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	ps, gs := st.PromptTime.Seconds(), st.GenTime.Seconds()
	type metric struct {
		name, help, typ string
		value           float64
	}
	ms := []metric{
		{"prompt_tokens_total", "Number of prompt tokens processed.", "counter", float64(st.PromptTokens)},
		{"prompt_seconds_total", "Prompt process time", "counter", ps},
		{"tokens_predicted_total", "Number of generation tokens processed.", "counter", float64(st.GenTokens)},
		{"tokens_predicted_seconds_total", "Predict process time", "counter", gs},
		{"n_decode_total", "Total number of llama_decode() calls", "counter", float64(st.Passes)},
		{"n_tokens_max", "Largest observed n_tokens.", "counter", float64(st.MaxPassTokens)},
		{"n_busy_slots_per_decode", "Average number of busy slots per llama_decode() call", "counter",
			float64(st.PassSlots) / max(float64(st.Passes), 1)},
		{"prompt_tokens_seconds", "Average prompt throughput in tokens/s.", "gauge", rate(st.PromptTokens, ps)},
		{"predicted_tokens_seconds", "Average generation throughput in tokens/s.", "gauge", rate(st.GenTokens, gs)},
		{"requests_processing", "Number of requests processing.", "gauge", float64(st.Processing)},
		{"requests_deferred", "Number of requests deferred.", "gauge", float64(st.Queued)},
		{"kv_cache_tokens", "KV-cache tokens.", "gauge", float64(st.CachedTokens)},
		{"kv_cache_usage_ratio", "KV-cache usage. 1 means 100 percent usage.", "gauge",
			float64(st.CachedTokens) / max(float64(st.CacheCapacity), 1)},
	}
	var b bytes.Buffer
	for _, x := range ms {
		fmt.Fprintf(&b, "# HELP llamacpp:%s %s\n# TYPE llamacpp:%s %s\nllamacpp:%s %s\n",
			x.name, x.help, x.name, x.typ, x.name, strconv.FormatFloat(x.value, 'g', -1, 64))
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Write(b.Bytes())
}
