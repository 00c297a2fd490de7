package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/runtime"
)

// session is what every mode runs on: the resolved configuration (fitted
// to the model), the model, its tokenizer and the outputs.
type session struct {
	cfg            *config
	m              *loader.Model
	tok            *tokenizer.Tokenizer
	stdout, stderr io.Writer
	loadTime       time.Duration
	modelBytes     int64
	threadPool     *runtime.Pool
}

// openSession loads the model and tokenizer and fits cfg to them.
func openSession(cfg *config, stdout, stderr io.Writer) (*session, error) {
	t0 := time.Now()
	m, err := loader.Load(cfg.model)
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, m: m, stdout: stdout, stderr: stderr, modelBytes: fileSize(cfg.model)}
	if s.tok, err = tokenizer.FromGGUF(m.File, tokenizer.Options{Pre: cfg.pre}); err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", cfg.model, err) // err starts with "tokenizer: "
	}
	if err := cfg.fit(m.Model, s.modelBytes); err != nil {
		m.Close()
		return nil, err
	}
	if cfg.headInt8 {
		m.Output = runtime.QuantizeRowsInt8(m.Output, s.pool())
	}
	s.loadTime = time.Since(t0)
	return s, nil
}

// pool is the session's worker pool of cfg.threads threads.
func (s *session) pool() *runtime.Pool {
	if s.threadPool == nil {
		s.threadPool = runtime.NewPool(s.cfg.threads)
	}
	return s.threadPool
}

// newState makes a runtime state of the configured context and batch on
// pool (the session's by default).
func (s *session) newState(pool *runtime.Pool) (*runtime.State, error) {
	if pool == nil {
		pool = s.pool()
	}
	return runtime.NewState(s.m.Model, s.cfg.ctx, s.cfg.batch, pool)
}

func (s *session) close() {
	if s.threadPool != nil {
		s.threadPool.Close()
	}
	s.m.Close()
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
