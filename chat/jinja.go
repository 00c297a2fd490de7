package chat

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	gonjabuiltins "github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// Limits of a Jinja render: templates come from model files, which may be
// hostile.
const (
	maxRange  = 1 << 16  // elements of all range() calls of one render
	maxOutput = 16 << 20 // bytes of rendered text
	maxSource = 1 << 20  // bytes of template source
)

// now is the clock of strftime_now (a variable for tests).
var now = time.Now

type jinjaTemplate struct {
	t      *exec.Template
	tok    Tokens
	system bool // renders a system message (else it is merged into the first user turn)
}

var errOutputLimit = errors.New("chat template output exceeds 16 MiB")

// limitWriter fails once more than maxOutput bytes are written.
type limitWriter struct{ b strings.Builder }

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > maxOutput {
		return 0, errOutputLimit
	}
	return w.b.Write(p)
}

func environment() *exec.Environment {
	globals := exec.EmptyContext().Update(gonjabuiltins.GlobalFunctions).Update(gonjabuiltins.GlobalVariables)
	globals.Set("raise_exception", func(msg string) (string, error) { return "", fmt.Errorf("raise_exception: %s", msg) })
	globals.Set("strftime_now", strftimeNow)
	return &exec.Environment{
		Context:           globals,
		Filters:           gonjabuiltins.Filters,
		Tests:             gonjabuiltins.Tests,
		ControlStructures: gonjabuiltins.ControlStructures,
		Methods:           gonjabuiltins.Methods,
	}
}

// boundedRange returns Python's range as a list; all the ranges made
// through one budget hold at most maxRange elements together.
func boundedRange(budget *int) func(args ...int) ([]int, error) {
	return func(args ...int) ([]int, error) { return rangeList(budget, args) }
}

func rangeList(budget *int, args []int) ([]int, error) {
	start, stop, step := 0, 0, 1
	switch len(args) {
	case 1:
		stop = args[0]
	case 2:
		start, stop = args[0], args[1]
	case 3:
		start, stop, step = args[0], args[1], args[2]
	default:
		return nil, errors.New("range expects 1 to 3 integers")
	}
	if step == 0 {
		return nil, errors.New("range step cannot be 0")
	}
	n := 0
	if step > 0 && stop > start {
		n = (stop - start + step - 1) / step
	} else if step < 0 && start > stop {
		n = (start - stop - step - 1) / -step
	}
	if n > *budget {
		return nil, fmt.Errorf("range() calls would make more than %d elements", maxRange)
	}
	*budget -= n
	out := make([]int, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out, nil
}

// strftimeNow formats the current date with the common strftime verbs.
func strftimeNow(format string) string {
	t := now()
	r := strings.NewReplacer("%d", t.Format("02"), "%m", t.Format("01"), "%Y", t.Format("2006"),
		"%y", t.Format("06"), "%b", t.Format("Jan"), "%B", t.Format("January"), "%a", t.Format("Mon"),
		"%A", t.Format("Monday"), "%H", t.Format("15"), "%M", t.Format("04"), "%S", t.Format("05"), "%%", "%")
	return r.Replace(format)
}

func compileJinja(src string, tok Tokens) (j *jinjaTemplate, err error) {
	if len(src) > maxSource {
		return nil, fmt.Errorf("chat template of %d bytes exceeds the limit of %d", len(src), maxSource)
	}
	defer func() {
		if r := recover(); r != nil {
			j, err = nil, fmt.Errorf("chat template: %v", r)
		}
	}()
	if err := checkNesting(src); err != nil {
		return nil, err
	}
	if name, ok := recursiveMacro(src); ok {
		return nil, fmt.Errorf("chat template: macro %q calls itself (recursive macros are refused: they can exhaust the stack)", name)
	}
	cfg := config.New()
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true
	// The only loadable template is this one: {% include %} and friends
	// cannot reach the file system.
	loader, err := loaders.NewMemoryLoader(map[string]string{"/chat_template": src})
	if err != nil {
		return nil, err
	}
	t, err := exec.NewTemplate("/chat_template", cfg, loader, environment())
	if err != nil {
		return nil, fmt.Errorf("chat template does not compile: %s", shorten(err.Error(), src))
	}
	j = &jinjaTemplate{t: t, tok: tok, system: true}
	// Like llama.cpp (and minja's polyfills): a template that fails on, or
	// drops, a system message gets it merged into the first user message.
	const probe = "<<system-probe-1f3a>>"
	out, err := j.exec([]Message{{"system", probe}, {"user", "hi"}}, true)
	j.system = err == nil && strings.Contains(out, probe)
	return j, nil
}

// maxNesting bounds brackets within a tag and nested blocks: gonja parses
// and renders recursively, and a stack overflow cannot be recovered.
const maxNesting = 64

// checkNesting refuses sources nested deeper than maxNesting.
func checkNesting(src string) error {
	blocks := 0
	for i := 0; i+1 < len(src); i++ {
		if src[i] != '{' || (src[i+1] != '{' && src[i+1] != '%') {
			continue
		}
		block := src[i+1] == '%'
		j := i + 2
		for j < len(src) && (src[j] == '-' || src[j] == '+' || src[j] == ' ' || src[j] == '\t' || src[j] == '\n' || src[j] == '\r') {
			j++
		}
		if block {
			k := j
			for k < len(src) && (src[k] >= 'a' && src[k] <= 'z') {
				k++
			}
			switch w := src[j:k]; {
			case w == "if" || w == "for" || w == "macro" || w == "call" || w == "filter" || w == "block" || w == "with":
				blocks++
			case strings.HasPrefix(w, "end"):
				blocks--
			}
			if blocks > maxNesting {
				return fmt.Errorf("chat template: blocks nested deeper than %d", maxNesting)
			}
		}
		depth := 0
		var quote byte
		for ; j < len(src); j++ {
			c := src[j]
			if quote != 0 {
				if c == '\\' {
					j++
				} else if c == quote {
					quote = 0
				}
				continue
			}
			if c == '\'' || c == '"' {
				quote = c
				continue
			}
			if depth == 0 && j+1 < len(src) && src[j+1] == '}' && (c == '}' || c == '%') {
				break
			}
			switch c {
			case '(', '[', '{':
				depth++
				if depth > maxNesting {
					return fmt.Errorf("chat template: expression nested deeper than %d", maxNesting)
				}
			case ')', ']', '}':
				depth--
			}
		}
		i = j
	}
	return nil
}

var (
	macroStart = regexp.MustCompile(`\{%-?\+?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(`)
	macroEnd   = regexp.MustCompile(`\{%-?\+?\s*endmacro`)
)

// recursiveMacro reports a macro that can reach itself through calls in the
// macro bodies (judged on the source text). gonja would recurse until the
// Go stack overflows, which no recover can catch.
func recursiveMacro(src string) (string, bool) {
	bodies := map[string]string{}
	var order []string
	for _, loc := range macroStart.FindAllStringSubmatchIndex(src, -1) {
		name := src[loc[2]:loc[3]]
		body := src[loc[1]:]
		if e := macroEnd.FindStringIndex(body); e != nil {
			body = body[:e[0]]
		}
		if _, dup := bodies[name]; !dup {
			order = append(order, name)
		}
		bodies[name] += body
	}
	calls := map[string][]string{}
	for name, body := range bodies {
		for callee := range bodies {
			if regexp.MustCompile(`\b` + callee + `\s*\(`).MatchString(body) {
				calls[name] = append(calls[name], callee)
			}
		}
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var visit func(string) bool
	visit = func(n string) bool {
		switch state[n] {
		case active:
			return true
		case done:
			return false
		}
		state[n] = active
		for _, c := range calls[n] {
			if visit(c) {
				return true
			}
		}
		state[n] = done
		return false
	}
	for _, n := range order {
		if visit(n) {
			return n, true
		}
	}
	return "", false
}

// shorten removes a copy of the whole source from gonja's messages.
func shorten(msg, src string) string {
	msg = strings.ReplaceAll(msg, "'"+src+"'", "")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

func (j *jinjaTemplate) render(msgs []Message, add bool) (string, error) {
	if !j.system && len(msgs) > 0 && msgs[0].Role == "system" {
		merged := make([]Message, 0, len(msgs)-1)
		sys := msgs[0].Content
		done := false
		for _, m := range msgs[1:] {
			if !done && m.Role == "user" {
				m.Content = sys + "\n" + m.Content
				done = true
			}
			merged = append(merged, m)
		}
		if !done {
			merged = append([]Message{{"user", sys}}, merged...)
		}
		msgs = merged
	}
	return j.exec(msgs, add)
}

func (j *jinjaTemplate) exec(msgs []Message, add bool) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat template: %v", r)
		}
	}()
	budget := maxRange
	list := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := exec.NewContext(map[string]any{
		"messages":              list,
		"bos_token":             j.tok.BOS,
		"eos_token":             j.tok.EOS,
		"add_generation_prompt": add,
		"range":                 boundedRange(&budget),
	})
	var w limitWriter
	if err := j.t.Execute(&w, data); err != nil {
		return "", fmt.Errorf("rendering the chat template: %s", shorten(err.Error(), ""))
	}
	return w.b.String(), nil
}

// jinjaEndOfTurn lists the well-known end-of-turn markers that the source
// uses, plus eos_token when the template appends it to assistant turns.
func jinjaEndOfTurn(src string, tok Tokens) []string {
	var out []string
	for _, s := range []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|eot|>", "<|END_OF_TURN_TOKEN|>", "<|end_of_turn|>", "<|endoftext|>"} {
		if strings.Contains(src, s) {
			out = append(out, s)
		}
	}
	if tok.EOS != "" && strings.Contains(src, "eos_token") {
		out = append(out, tok.EOS)
	}
	return out
}
