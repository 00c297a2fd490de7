package main

import (
	"io"
	"os"
	"time"

	"github.com/bitnet-go/bitnet"
)

// session is what every mode but chat runs on: the resolved configuration
// (fitted to the model), the model opened through the library API (weights,
// tokenizer, worker threads) and the outputs.
type session struct {
	cfg            *config
	m              *bitnet.Model
	stdout, stderr io.Writer
	loadTime       time.Duration
	modelBytes     int64
	// threadPool is the model's worker pool as far as the command sees it:
	// the library owns the pool (it quantizes --head-int8 there); this
	// tells its size.
	threadPool interface{ Threads() int }
}

// openSession opens the model and fits cfg to it. The non-chat modes need
// no chat template, so none is loaded: a model whose own template does not
// parse still runs, and generation stops at the vocabulary's
// end-of-generation tokens only.
func openSession(cfg *config, stdout, stderr io.Writer) (*session, error) {
	t0 := time.Now()
	m, err := bitnet.Open(cfg.model, &bitnet.Options{
		Threads: cfg.threads, Context: cfg.ctxFlag, Batch: cfg.batch,
		Pre: cfg.pre, HeadInt8: cfg.headInt8, NoChatTemplate: true, NoMmap: cfg.noMmap,
	})
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, m: m, stdout: stdout, stderr: stderr, modelBytes: fileSize(cfg.model), threadPool: m}
	if err := cfg.fit(m.Runtime(), s.modelBytes); err != nil {
		m.Close()
		return nil, err
	}
	s.loadTime = time.Since(t0)
	return s, nil
}

// newSession makes a library session of the configured context and batch;
// threads > 0 gives it threads of its own (--bench -t lists), which it
// releases on Close.
func (s *session) newSession(threads int) (*bitnet.Session, error) {
	return s.m.NewSessionWith(&bitnet.SessionOptions{Context: s.cfg.ctx, Batch: s.cfg.batch, Threads: threads})
}

func (s *session) close() { s.m.Close() }

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
