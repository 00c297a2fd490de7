package httpapi

import (
	_ "embed"
	"net/http"
)

// chatPage is the chat page at /: plain HTML and JavaScript, no build
// step, nothing loaded from elsewhere. It streams answers from
// /v1/chat/completions.
//
//go:embed static/index.html
var chatPage []byte

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	h.Set("Cache-Control", "no-cache")
	w.Write(chatPage)
}
