// Command bitnet-serve serves a BitNet b1.58 GGUF model over HTTP with the
// OpenAI API (/v1/chat/completions, /v1/completions, /v1/models) and
// llama-server's endpoints (/completion, /tokenize, /detokenize,
// /apply-template, /health, /props, /slots, /metrics), running requests in
// parallel slots with continuous batching, and a chat page at /.
//
//	bitnet-serve -m model.gguf --host 127.0.0.1 --port 8080 -np 4 -c 4096 -t 4
//
// -c is the context of each slot. /health answers 503 while the model
// loads. SIGINT or SIGTERM stops accepting connections, lets the requests
// in flight finish (at most --drain-timeout) and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/serve"
	"github.com/bitnet-go/bitnet/serve/httpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "bitnet-serve: %v\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "bitnet-serve: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

type options struct {
	model, host, apiKey, tmpl, alias, reuse string
	cpuProfile                              string
	noMmap                                  bool
	port, slots, ctx, threads, batch, queue int
	maxBody                                 int64
	drain, idle, header                     time.Duration
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bitnet-serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	str := func(p *string, def, usage string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, def, usage)
		}
	}
	num := func(p *int, def int, usage string, names ...string) {
		for _, n := range names {
			fs.IntVar(p, n, def, usage)
		}
	}
	str(&o.model, "", "GGUF model `file` (required)", "m", "model")
	str(&o.host, "127.0.0.1", "`address` to listen on", "host")
	num(&o.port, 8080, "`port` to listen on (0: any free port)", "port")
	num(&o.slots, 4, "parallel slots (sequences decoded together)", "np", "parallel")
	num(&o.ctx, 4096, "context of each slot in tokens", "c", "ctx-size")
	num(&o.threads, goruntime.NumCPU(), "worker threads", "t", "threads")
	num(&o.batch, 512, "most tokens one forward pass evaluates", "b", "batch-size")
	num(&o.queue, 0, "requests that may wait for a slot (0: 4 × slots; -1: none)", "queue")
	str(&o.apiKey, "", "require this API `key` (Authorization: Bearer key)", "api-key")
	str(&o.tmpl, "", "chat template: a built-in `name` or Jinja source (default: the file's)", "chat-template")
	str(&o.alias, "", "model `name` reported by the API (default: the file's general.name)", "a", "alias")
	str(&o.reuse, "exact", "prompt-cache reuse: exact (output independent of history), all (llama-server's), off", "cache-reuse")
	fs.Int64Var(&o.maxBody, "max-body", 4<<20, "largest request body in bytes")
	fs.DurationVar(&o.drain, "drain-timeout", time.Minute, "on SIGTERM, how long requests in flight may finish")
	fs.DurationVar(&o.idle, "idle-timeout", 2*time.Minute, "close keep-alive connections idle this long")
	fs.DurationVar(&o.header, "header-timeout", 10*time.Second, "time allowed to read request headers")
	fs.BoolVar(&o.noMmap, "no-mmap", false, "read the model into memory instead of mapping the file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case o.model == "":
		return nil, usageError{errors.New("-m model.gguf is required")}
	case o.port < 0 || o.port > 65535:
		return nil, usageError{fmt.Errorf("--port %d: must be 0 to 65535", o.port)}
	case o.slots < 1 || o.slots > 256:
		return nil, usageError{fmt.Errorf("-np %d: must be 1 to 256", o.slots)}
	case o.ctx < 2:
		return nil, usageError{fmt.Errorf("-c %d: must be at least 2", o.ctx)}
	case o.threads < 1:
		return nil, usageError{fmt.Errorf("-t %d: must be at least 1", o.threads)}
	case o.batch < o.slots+2:
		return nil, usageError{fmt.Errorf("-b %d: must be at least -np + 2 = %d", o.batch, o.slots+2)}
	case o.queue < -1:
		return nil, usageError{fmt.Errorf("--queue %d: must be -1 or more", o.queue)}
	case o.maxBody < 1024:
		return nil, usageError{fmt.Errorf("--max-body %d: must be at least 1024", o.maxBody)}
	case o.drain < 0 || o.idle <= 0 || o.header <= 0:
		return nil, usageError{errors.New("timeouts must be positive")}
	}
	if _, ok := reuseModes[o.reuse]; !ok {
		return nil, usageError{fmt.Errorf("--cache-reuse %q: want exact, all or off", o.reuse)}
	}
	return &o, nil
}

var reuseModes = map[string]serve.Reuse{"exact": serve.ReuseExact, "all": serve.ReuseAll, "off": serve.ReuseOff}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if o == nil {
		return err
	}
	if _, err := os.Stat(o.model); err != nil {
		return err
	}
	logger := log.New(stderr, "bitnet-serve: ", log.LstdFlags)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	api := httpapi.New(httpapi.Config{APIKey: o.apiKey, Alias: o.alias, ModelPath: o.model, MaxBody: o.maxBody})
	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: o.header,
		IdleTimeout:       o.idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          logger,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Printf("listening on http://%s (loading %s)", ln.Addr(), o.model)

	// Load while /health answers 503.
	type loaded struct {
		m     *bitnet.Model
		sched *serve.Scheduler
		err   error
	}
	lc := make(chan loaded, 1)
	go func() {
		m, err := bitnet.Open(o.model, &bitnet.Options{Threads: 1, Context: o.ctx, ChatTemplate: o.tmpl, NoMmap: o.noMmap})
		if err != nil {
			lc <- loaded{err: err}
			return
		}
		sched, err := serve.New(m.Runtime(), serve.Config{Slots: o.slots, Ctx: o.ctx, Threads: o.threads,
			MaxBatch: o.batch, Queue: o.queue, Reuse: reuseModes[o.reuse]})
		if err != nil {
			m.Close()
			lc <- loaded{err: err}
			return
		}
		lc <- loaded{m: m, sched: sched}
	}()
	var l loaded
	select {
	case l = <-lc:
	case <-ctx.Done():
		srv.Close()
		return nil
	case err := <-served:
		return err
	}
	if l.err != nil {
		srv.Close()
		return l.err
	}
	defer l.m.Close()
	api.SetModel(l.m, l.sched)
	logger.Printf("model loaded: %d slots × %d tokens of context, %d threads", o.slots, o.ctx, o.threads)

	select {
	case err := <-served:
		l.sched.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	logger.Printf("shutting down: finishing the requests in flight (at most %v)", o.drain)
	dctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	err = srv.Shutdown(dctx) // stops accepting; waits for the handlers
	if err != nil {
		srv.Close()
	}
	if serr := l.sched.Shutdown(dctx); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Printf("stopped")
	return nil
}
