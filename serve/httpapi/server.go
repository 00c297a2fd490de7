// Package httpapi is bitnet-serve's HTTP layer: the OpenAI API
// (/v1/chat/completions, /v1/completions, /v1/models) and llama-server's
// endpoints (/completion, /tokenize, /detokenize, /apply-template, /health,
// /props, /slots, /metrics) over a continuous-batching serve.Scheduler, and
// a small chat page at /.
//
// Errors are OpenAI-style JSON objects, {"error": {"code", "message",
// "type"}}, with the status that fits: 400 for a malformed or invalid
// request (bad JSON, a field of the wrong type, a prompt or max_tokens that
// does not fit the context, an unknown chat template), 401 for a missing or
// wrong API key, 404, 413 for a body over the limit, 503 with Retry-After
// when every slot is busy and the queue is full (or while the model loads).
//
// A request runs under its HTTP request's context: a client that goes away
// cancels its generation and its slot is freed at the scheduler's next
// step.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/serve"
)

// Config configures a Server.
type Config struct {
	// APIKey, if set, is required as "Authorization: Bearer <key>" on every
	// endpoint but /health, /v1/models (llama-server's public ones), the chat
	// page and CORS preflight requests.
	APIKey string
	// Alias is the model name the API reports (default: the file's
	// general.name, else the file name).
	Alias string
	// ModelPath is reported by /props.
	ModelPath string
	// MaxBody is the largest request body in bytes (0: 4 MiB).
	MaxBody int64
	// BodyTimeout bounds reading a request body (0: 30 s).
	BodyTimeout time.Duration
}

// Server serves one model. Its handler answers /health with 503 until
// SetModel is called.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	created int64

	mu    sync.RWMutex
	model *bitnet.Model
	sched *serve.Scheduler
	ready atomic.Bool

	reqID atomic.Uint64
}

// New makes a server without a model (loading).
func New(cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 4 << 20
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 30 * time.Second
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), created: time.Now().Unix()}
	s.routes()
	return s
}

// SetModel makes the server ready to answer requests with m on sched.
func (s *Server) SetModel(m *bitnet.Model, sched *serve.Scheduler) {
	s.mu.Lock()
	s.model, s.sched = m, sched
	if s.cfg.Alias == "" {
		s.cfg.Alias = m.Name()
	}
	if s.cfg.Alias == "" {
		s.cfg.Alias = baseName(s.cfg.ModelPath)
	}
	if s.cfg.Alias == "" {
		s.cfg.Alias = "bitnet"
	}
	s.mu.Unlock()
	s.ready.Store(true)
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// Handler is the server's HTTP handler (with CORS and the API key check).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if s.cfg.APIKey != "" && !public[r.URL.Path] {
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || key != s.cfg.APIKey {
			writeError(w, http.StatusUnauthorized, "authentication_error", "invalid or missing API key (Authorization: Bearer <key>)")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// public are the paths that need no API key: llama-server's public
// endpoints and the chat page (which asks for the key itself).
var public = map[string]bool{"/health": true, "/v1/health": true, "/models": true, "/v1/models": true, "/": true, "/index.html": true}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /{$}", s.page)
	m.HandleFunc("GET /index.html", s.page)
	m.HandleFunc("GET /health", s.health)
	m.HandleFunc("GET /v1/health", s.health)
	m.HandleFunc("GET /v1/models", s.ready1(s.models))
	m.HandleFunc("GET /models", s.ready1(s.models))
	m.HandleFunc("POST /v1/chat/completions", s.ready1(s.chatCompletions))
	m.HandleFunc("POST /chat/completions", s.ready1(s.chatCompletions))
	m.HandleFunc("POST /v1/completions", s.ready1(s.completionsOAI))
	m.HandleFunc("POST /completion", s.ready1(s.completionLlama))
	m.HandleFunc("POST /completions", s.ready1(s.completionLlama))
	m.HandleFunc("POST /tokenize", s.ready1(s.tokenize))
	m.HandleFunc("POST /detokenize", s.ready1(s.detokenize))
	m.HandleFunc("POST /apply-template", s.ready1(s.applyTemplate))
	m.HandleFunc("GET /props", s.ready1(s.props))
	m.HandleFunc("GET /slots", s.ready1(s.slots))
	m.HandleFunc("GET /metrics", s.ready1(s.metrics))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})
}

// ready1 answers 503 while the model loads.
func (s *Server) ready1(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "unavailable_error", "Loading model")
			return
		}
		h(w, r)
	}
}

func (s *Server) get() (*bitnet.Model, *serve.Scheduler) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.model, s.sched
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable_error", "Loading model")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	m, _ := s.get()
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data": []map[string]any{{
			"id": s.cfg.Alias, "object": "model", "created": s.created, "owned_by": "bitnet-go",
			"meta": map[string]any{"vocab_type": m.Tokenizer().Model().String(), "n_vocab": m.VocabSize(), "n_ctx_train": m.TrainContext()},
		}},
	})
}

// apiError is an error with its HTTP status and OpenAI error type.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid_request_error", fmt.Sprintf(format, a...)}
}

// errorBody is the JSON of an error (llama-server's and OpenAI's shape).
func errorBody(status int, typ, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"code": status, "message": msg, "type": typ}}
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, errorBody(status, typ, msg))
}

func writeAPIError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "server_error", err.Error()}
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, ae.status, ae.typ, ae.msg)
}

// marshal is json.Marshal without HTML escaping (llama-server writes "<"
// as is).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody(status, "server_error", err.Error()))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
