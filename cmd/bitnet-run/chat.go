package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/chat"
)

// chatOptions are the flags of chat mode (llama-cli's conversation mode).
type chatOptions struct {
	chat         bool
	system       string
	chatTemplate string
	templateFile string
}

func addChatFlags(fs *flag.FlagSet, o *chatOptions) {
	for _, n := range []string{"cnv", "conversation", "chat"} {
		fs.BoolVar(&o.chat, n, false, "chat mode: read user turns from standard input and stream the answers (llama-cli -cnv)")
	}
	for _, n := range []string{"sys", "system-prompt"} {
		fs.StringVar(&o.system, n, "", "chat mode: the system prompt")
	}
	fs.StringVar(&o.templateFile, "chat-template-file", "", "chat mode: read a Jinja chat template from `file`")
	fs.StringVar(&o.chatTemplate, "chat-template", "", "chat mode: a built-in template name ("+strings.Join(chat.Builtins(), ", ")+") or Jinja source (default: the model's)")
}

// Chat mode's input and interrupts (variables for tests).
var (
	chatStdin   io.Reader = os.Stdin
	chatSignals           = func() (<-chan os.Signal, func()) {
		c := make(chan os.Signal, 2)
		signal.Notify(c, os.Interrupt)
		return c, func() { signal.Stop(c) }
	}
)

// runChat is chat mode: each line of standard input (a line ending in \
// continues on the next) is a user turn; the answer streams to stdout. The
// session's KV cache keeps the conversation, so each turn evaluates only its
// new tokens. When the context is full the conversation starts over (with
// the system prompt) after saying so; there is no context shift. Ctrl-C
// stops the answer being written; Ctrl-C at the prompt, a second Ctrl-C
// while an answer stops, or the end of input exits.
func runChat(o *options, stdout, stderr io.Writer) error {
	if !o.chat {
		return usageError{errors.New("-sys and --chat-template need chat mode (-cnv)")}
	}
	if o.logitsFile != "" || o.pplFile != "" || o.ids || o.bench {
		return usageError{errors.New("chat mode (-cnv) cannot be combined with --logits, --perplexity, --ids or --bench")}
	}
	if o.nPredict == 0 || o.nPredict < -1 {
		return usageError{fmt.Errorf("-n %d: chat mode answers with at least one token (-1: until the end of the turn)", o.nPredict)}
	}
	if o.templateFile != "" {
		if o.chatTemplate != "" {
			return usageError{errors.New("give --chat-template or --chat-template-file, not both")}
		}
		b, err := os.ReadFile(o.templateFile)
		if err != nil {
			return fmt.Errorf("reading the chat template: %w", err)
		}
		if len(b) == 0 {
			return fmt.Errorf("%s: the chat template is empty", o.templateFile)
		}
		o.chatTemplate = string(b)
	}
	t0 := time.Now()
	m, err := bitnet.Open(o.model, &bitnet.Options{Threads: o.threads, Context: o.ctx, Batch: o.batch, ChatTemplate: o.chatTemplate, Pre: o.pre})
	if err != nil {
		if errors.Is(err, chat.ErrUnknownTemplate) {
			return usageError{err}
		}
		return err
	}
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		return err
	}
	seed := uint64(o.seed)
	if o.seed < 0 {
		seed = uint64(time.Now().UnixNano())
	}
	smp := bitnet.Sampling{Temp: float32(o.temp), TopK: o.topK, TopP: float32(o.topP), MinP: float32(o.minP),
		RepeatPenalty: float32(o.repeatPenalty), RepeatLastN: o.repeatLastN, FreqPenalty: float32(o.frequencyPenalty),
		PresencePenalty: float32(o.presencePenalty), Seed: seed}
	gen := &bitnet.GenerateOptions{MaxTokens: o.nPredict, Sampling: &smp, IgnoreEOS: o.ignoreEOS}
	fmt.Fprintf(stderr, "loaded %s in %.0f ms: chat template %s, context %d tokens, seed %d\n", o.model, ms(time.Since(t0)), m.ChatTemplate().Name(), m.ContextSize(), seed)
	fmt.Fprintln(stderr, "== chat mode: type a message and press Enter (end a line with \\ to continue it). Ctrl-C stops an answer; Ctrl-C at the prompt or Ctrl-D exits.")

	var base []chat.Message
	if o.system != "" {
		base = append(base, chat.Message{Role: "system", Content: o.system})
	}
	msgs := append([]chat.Message(nil), base...)

	sigs, stop := chatSignals()
	defer stop()
	lines := make(chan string)
	go readTurns(chatStdin, lines)
	first := o.prompt // -p/-f: the first user turn
	for {
		var line string
		if first != "" {
			line, first = first, ""
			fmt.Fprintf(stdout, "> %s\n", line)
		} else {
			fmt.Fprint(stdout, "\n> ")
			var ok bool
			select {
			case line, ok = <-lines:
				if !ok {
					fmt.Fprintln(stdout)
					return nil
				}
			case <-sigs:
				fmt.Fprintln(stdout)
				return nil
			}
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: line})
		res, err, quit := answer(s, msgs, gen, sigs, stdout)
		switch {
		case errors.Is(err, bitnet.ErrContextFull) && res.PromptTokens > 0 && len(res.Tokens) == 0 && len(msgs) > len(base)+1:
			// The new turn does not fit after the history: start over with it.
			fmt.Fprintf(stderr, "[the context of %d tokens is full: the conversation starts over (no context shift)]\n", m.ContextSize())
			msgs = append(append([]chat.Message(nil), base...), msgs[len(msgs)-1])
			s.Reset()
			res, err, quit = answer(s, msgs, gen, sigs, stdout)
		}
		if quit {
			fmt.Fprintln(stdout)
			return nil
		}
		switch {
		case errors.Is(err, bitnet.ErrContextFull):
			fmt.Fprintln(stdout)
			fmt.Fprintf(stderr, "[the context of %d tokens is full: the conversation starts over (no context shift); raise -c for longer chats]\n", m.ContextSize())
			msgs = append([]chat.Message(nil), base...)
			s.Reset()
			continue
		case errors.Is(err, context.Canceled):
			fmt.Fprintln(stdout)
			fmt.Fprintln(stderr, "[answer stopped]")
		case err != nil:
			return err
		default:
			fmt.Fprintln(stdout)
		}
		msgs = append(msgs, chat.Message{Role: "assistant", Content: res.Text})
		fmt.Fprintf(stderr, "[%d new prompt tokens (%d cached) in %.0f ms; %d tokens in %.0f ms (%.2f tokens/s); stop: %s]\n",
			res.PromptTokens-res.CachedTokens, res.CachedTokens, ms(res.PromptTime), len(res.Tokens), ms(res.GenTime), rate(max(len(res.Tokens)-1, 0), res.GenTime), res.Stop)
	}
}

// answer streams the assistant's answer to msgs. A signal cancels it; a
// second one (quit) asks to exit.
func answer(s *bitnet.Session, msgs []chat.Message, gen *bitnet.GenerateOptions, sigs <-chan os.Signal, stdout io.Writer) (res bitnet.Result, err error, quit bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	quitc := make(chan bool, 1)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				quitc <- n > 1
				return
			case <-sigs:
				n++
				cancel()
				if n > 1 {
					quitc <- true
					return
				}
			}
		}
	}()
	w := bufio.NewWriter(stdout)
	for tok, e := range s.ChatStream(ctx, msgs, gen) {
		if e != nil {
			err = e
			break
		}
		w.WriteString(tok.Text)
		w.Flush()
	}
	w.Flush()
	close(done)
	return s.LastResult(), err, <-quitc
}

// readTurns sends each user turn read from r (lines; a trailing \ joins the
// next line) and closes turns at the end of input.
func readTurns(r io.Reader, turns chan<- string) {
	defer close(turns)
	br := bufio.NewReader(r)
	var cur strings.Builder
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if cur.Len() > 0 {
				turns <- cur.String()
			}
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + "\n")
			continue
		}
		cur.WriteString(line)
		turns <- cur.String()
		cur.Reset()
		if err != nil {
			return
		}
	}
}
