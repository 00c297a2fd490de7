package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet/chat"
	"github.com/bitnet-go/bitnet/sampler"
)

// readJSON reads r's body (bounded in size and time) into v. Unknown
// fields are ignored (clients send many); malformed JSON, a field of the
// wrong type, trailing data and an oversized body are errors.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	rc := http.NewResponseController(w)
	// A deadline for the body only: the connection's read deadline must be
	// lifted again before a long answer streams (the server's background
	// read cancels the request when it fails).
	if err := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)); err == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return &apiError{http.StatusRequestEntityTooLarge, "invalid_request_error",
				fmt.Sprintf("request body larger than %d bytes", mb.Limit)}
		}
		return badRequest("reading the request body: %v", err)
	}
	return decodeJSON(body, v)
}

// decodeJSON is the decoding half of readJSON (the fuzz target's entry).
func decodeJSON(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return badRequest("empty request body: expected a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			if te.Field == "" {
				return badRequest("the request must be a JSON object, not %s", te.Value)
			}
			return badRequest("field %q: expected %s, got %s", strings.ReplaceAll(te.Field, "samplingFields.", ""), jsonKind(te.Type.Kind().String()), te.Value)
		case errors.As(err, &se):
			return badRequest("malformed JSON at byte %d: %v", se.Offset, err)
		default:
			return badRequest("malformed JSON: %v", err)
		}
	}
	return nil
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "a number"
	case k == "bool":
		return "a boolean"
	case k == "string":
		return "a string"
	case k == "slice", k == "array":
		return "an array"
	case k == "struct", k == "map":
		return "an object"
	}
	return k
}

// samplingFields are the sampling and stopping fields every completion
// endpoint takes (OpenAI's names, with llama-server's extensions).
type samplingFields struct {
	Temperature      *float64        `json:"temperature"`
	TopP             *float64        `json:"top_p"`
	TopK             *int            `json:"top_k"`
	MinP             *float64        `json:"min_p"`
	Seed             *int64          `json:"seed"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	RepeatPenalty    *float64        `json:"repeat_penalty"`
	RepeatLastN      *int            `json:"repeat_last_n"`
	Stop             json.RawMessage `json:"stop"`
	IgnoreEOS        bool            `json:"ignore_eos"`
	N                *int            `json:"n"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatRequest is the body of POST /v1/chat/completions.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Logprobs            *bool           `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	ChatTemplate        string          `json:"chat_template"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	samplingFields
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// completionRequest is the body of POST /v1/completions.
type completionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
	MaxTokens     *int            `json:"max_tokens"`
	Logprobs      *int            `json:"logprobs"`
	Echo          bool            `json:"echo"`
	samplingFields
}

// llamaRequest is the body of llama-server's POST /completion.
type llamaRequest struct {
	Prompt   json.RawMessage `json:"prompt"`
	Stream   bool            `json:"stream"`
	NPredict *int            `json:"n_predict"`
	NProbs   *int            `json:"n_probs"`
	samplingFields
}

// messages converts the chat messages: content is a string or an array of
// text parts.
func (c *chatRequest) messages() ([]chat.Message, error) {
	if len(c.Messages) == 0 {
		return nil, badRequest("\"messages\" is required and must not be empty")
	}
	out := make([]chat.Message, len(c.Messages))
	for i, m := range c.Messages {
		if m.Role == "" {
			return nil, badRequest("messages[%d]: \"role\" is required", i)
		}
		text, err := messageContent(m.Content)
		if err != nil {
			return nil, badRequest("messages[%d].content: %v", i, err)
		}
		out[i] = chat.Message{Role: m.Role, Content: text}
	}
	return out, nil
}

func messageContent(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("expected a string or an array of text parts")
	}
	var b strings.Builder
	for i, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", fmt.Errorf("part %d: only parts of type \"text\" with a \"text\" string are supported", i)
		}
		b.WriteString(*p.Text)
	}
	return b.String(), nil
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// promptInput is a prompt as text or as token ids.
type promptInput struct {
	text   string
	tokens []int32
	isText bool
}

// parsePrompt reads a prompt: a string, token ids, or an array of one of
// them (n = 1: one prompt per request).
func parsePrompt(raw json.RawMessage) (promptInput, error) {
	if isNull(raw) {
		return promptInput{}, badRequest("\"prompt\" is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return promptInput{text: s, isText: true}, nil
	}
	var ids []int32
	if err := json.Unmarshal(raw, &ids); err == nil {
		if len(ids) == 0 {
			return promptInput{}, badRequest("\"prompt\" is empty")
		}
		return promptInput{tokens: ids}, nil
	}
	var many []json.RawMessage
	if err := json.Unmarshal(raw, &many); err == nil {
		if len(many) != 1 {
			return promptInput{}, badRequest("\"prompt\" holds %d prompts: this server takes one prompt per request", len(many))
		}
		var inner []json.RawMessage
		if json.Unmarshal(many[0], &inner) == nil || json.Unmarshal(many[0], &s) == nil {
			return parsePrompt(many[0])
		}
	}
	return promptInput{}, badRequest("\"prompt\": expected a string, an array of token ids, or an array with one of them")
}

// stops reads "stop": a string or an array of strings.
func parseStop(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, badRequest("\"stop\": expected a string or an array of strings")
	}
	if len(ss) > 16 {
		return nil, badRequest("\"stop\": %d strings, at most 16", len(ss))
	}
	return ss, nil
}

// params turns the sampling fields into sampler parameters (llama.cpp's
// defaults for what is not given; a missing or negative seed is random)
// and stop strings.
func (f *samplingFields) params() (sampler.Params, []string, error) {
	p := sampler.DefaultParams()
	rangeErr := func(name string, v, lo, hi float64) error {
		return badRequest("%q is %g: must be between %g and %g", name, v, lo, hi)
	}
	if f.N != nil && *f.N != 1 {
		return p, nil, badRequest("\"n\" is %d: this server makes one choice per request (n = 1)", *f.N)
	}
	if v := f.Temperature; v != nil {
		if *v < 0 || *v > 2 {
			return p, nil, rangeErr("temperature", *v, 0, 2)
		}
		p.Temp = float32(*v)
	}
	if v := f.TopP; v != nil {
		if *v < 0 || *v > 1 {
			return p, nil, rangeErr("top_p", *v, 0, 1)
		}
		p.TopP = float32(*v)
	}
	if v := f.MinP; v != nil {
		if *v < 0 || *v > 1 {
			return p, nil, rangeErr("min_p", *v, 0, 1)
		}
		p.MinP = float32(*v)
	}
	if v := f.TopK; v != nil {
		if *v < 0 {
			return p, nil, badRequest("\"top_k\" is %d: must not be negative", *v)
		}
		p.TopK = *v
	}
	if v := f.PresencePenalty; v != nil {
		if *v < -2 || *v > 2 {
			return p, nil, rangeErr("presence_penalty", *v, -2, 2)
		}
		p.PresencePenalty = float32(*v)
	}
	if v := f.FrequencyPenalty; v != nil {
		if *v < -2 || *v > 2 {
			return p, nil, rangeErr("frequency_penalty", *v, -2, 2)
		}
		p.FreqPenalty = float32(*v)
	}
	if v := f.RepeatPenalty; v != nil {
		if *v < 0 || *v > 10 {
			return p, nil, rangeErr("repeat_penalty", *v, 0, 10)
		}
		p.RepeatPenalty = float32(*v)
	}
	if v := f.RepeatLastN; v != nil {
		if *v < -1 {
			return p, nil, badRequest("\"repeat_last_n\" is %d: must be -1 (the context) or more", *v)
		}
		p.RepeatLastN = *v
	}
	if f.Seed != nil && *f.Seed >= 0 {
		p.Seed = uint64(*f.Seed)
	} else {
		p.Seed = rand.Uint64()
	}
	stop, err := parseStop(f.Stop)
	return p, stop, err
}

// maxTokens picks the first limit given; it must be positive.
func maxTokens(name string, vs ...*int) (int, error) {
	for _, v := range vs {
		if v != nil {
			if *v < 1 {
				return 0, badRequest("%q is %d: must be at least 1", name, *v)
			}
			return *v, nil
		}
	}
	return 0, nil
}
