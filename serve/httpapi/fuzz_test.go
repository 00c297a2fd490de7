package httpapi

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/internal/testutil"
)

var (
	fuzzOnce  sync.Once
	fuzzModel *bitnet.Model
	fuzzErr   error
)

// FuzzDecodeRequests feeds arbitrary bodies to the request decoders of
// every generating endpoint and to the validation that follows (sampling
// ranges, prompts, messages, chat templates, tokenization): they must give
// a request or a 4xx error, never panic.
func FuzzDecodeRequests(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"hi"}],"max_tokens":5,"temperature":0.5,"stop":["a","b"],"seed":3}`,
		`{"messages":[{"role":"system","content":[{"type":"text","text":"x"}]},{"role":"user","content":null}],"logprobs":true,"top_logprobs":2,"chat_template":"llama3"}`,
		`{"prompt":"Once upon a time","stream":true,"stream_options":{"include_usage":true},"logprobs":3,"n":1}`,
		`{"prompt":[1,2,3],"n_predict":-1,"n_probs":2,"top_k":5,"min_p":0.1,"repeat_last_n":-1}`,
		`{"prompt":[[1,2]],"stop":"x","presence_penalty":-2,"frequency_penalty":2}`,
		`{"prompt":["a"],"max_tokens":0}`, `[]`, `null`, `{"messages":{}}`, `{"temperature":1e999}`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzOnce.Do(func() {
			fuzzModel, fuzzErr = bitnet.Open(filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"), &bitnet.Options{Threads: 1, Context: 64})
		})
		if fuzzErr != nil {
			t.Fatal(fuzzErr)
		}
		m := fuzzModel
		s := New(Config{})
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 || ae.msg == "" {
				t.Fatalf("%s: %v is not a 4xx API error", what, err)
			}
		}
		var cr chatRequest
		if err := decodeJSON(body, &cr); err != nil {
			check("chat decode", err)
		} else {
			p, err := s.chatParams(m, &cr)
			check("chat params", err)
			if err == nil && len(p.prompt) == 0 {
				t.Fatal("a chat request without a prompt was accepted")
			}
		}
		var or completionRequest
		if err := decodeJSON(body, &or); err != nil {
			check("completion decode", err)
		} else {
			pi, err := parsePrompt(or.Prompt)
			check("prompt", err)
			if err == nil && !pi.isText && len(pi.tokens) == 0 {
				t.Fatal("an empty token prompt was accepted")
			}
			_, _, err = or.params()
			check("params", err)
			_, err = maxTokens("max_tokens", or.MaxTokens)
			check("max_tokens", err)
		}
		var lr llamaRequest
		if err := decodeJSON(body, &lr); err != nil {
			check("llama decode", err)
		} else {
			_, _, err := lr.params()
			check("llama params", err)
		}
	})
}
