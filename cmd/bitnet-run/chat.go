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

// maxTemplateBytes bounds a --chat-template-file.
const maxTemplateBytes = 1 << 20

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
func runChat(c *config, stdout, stderr io.Writer) error {
	o := &c.chat
	if c.logitsFile != "" || c.ids {
		return usageError{errors.New("chat mode (-cnv) cannot be combined with --logits or --ids")}
	}
	if c.nPredict == 0 || c.nPredict < -1 {
		return usageError{fmt.Errorf("-n %d: chat mode answers with at least one token (-1: until the end of the turn)", c.nPredict)}
	}
	if o.templateFile != "" {
		if o.chatTemplate != "" {
			return usageError{errors.New("give --chat-template or --chat-template-file, not both")}
		}
		b, err := readBounded(o.templateFile, maxTemplateBytes, "chat template", "a chat template may hold")
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return fmt.Errorf("%s: the chat template is empty", o.templateFile)
		}
		o.chatTemplate = string(b)
	}
	first := c.prompt // -p/-f: the first user turn
	if c.promptFile != "" {
		b, err := readBounded(c.promptFile, maxTextBytes, "prompt file", "a first chat turn may hold")
		if err != nil {
			return err
		}
		first = strings.TrimSuffix(string(b), "\n")
	}
	chatActive.Store(true)
	defer chatActive.Store(false)
	t0 := time.Now()
	m, err := bitnet.Open(c.model, &bitnet.Options{Threads: c.threads, Context: c.ctxFlag, Batch: c.batch, ChatTemplate: o.chatTemplate, Pre: c.pre, NoMmap: c.noMmap})
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
	p := c.sampling
	seed := p.Seed
	if c.randomSeed {
		seed = uint64(time.Now().UnixNano())
	}
	smp := bitnet.Sampling{Temp: p.Temp, TopK: p.TopK, TopP: p.TopP, MinP: p.MinP,
		RepeatPenalty: p.RepeatPenalty, RepeatLastN: min(p.RepeatLastN, m.ContextSize()), FreqPenalty: p.FreqPenalty,
		PresencePenalty: p.PresencePenalty, Seed: seed}
	gen := &bitnet.GenerateOptions{MaxTokens: c.nPredict, Sampling: &smp, IgnoreEOS: c.ignoreEOS}
	fmt.Fprintf(stderr, "loaded %s in %.0f ms: chat template %s, context %d tokens, seed %d\n", c.model, ms(time.Since(t0)), m.ChatTemplate().Name(), m.ContextSize(), seed)
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
