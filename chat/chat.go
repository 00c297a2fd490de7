// Package chat renders chat conversations into prompts: the Jinja chat
// templates that GGUF files carry in tokenizer.chat_template, and built-in
// templates selected by name as llama.cpp's --chat-template does.
//
// Jinja templates are rendered with github.com/nikolalohinski/gonja/v2 in
// the Hugging Face configuration (trim_blocks and lstrip_blocks on, with
// raise_exception and strftime_now), in a sandbox: no file access, bounded
// range() and output size, and errors instead of panics.
package chat

import (
	"errors"
	"fmt"
	"strings"
)

// Message is one turn of a conversation. Role is "system", "user" or
// "assistant" (templates may know others, such as "tool").
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Tokens are the special-token texts a Jinja template may refer to as
// bos_token and eos_token.
type Tokens struct {
	BOS, EOS string
}

// Template turns a conversation into prompt text. A Template is safe for
// concurrent use.
type Template struct {
	name    string   // built-in name, or "jinja"
	builtin *builtin // nil for Jinja
	jinja   *jinjaTemplate
	source  string
	eot     []string
}

// ErrUnknownTemplate is wrapped by the errors of Builtin and Select for a
// name that is neither a built-in template nor Jinja source.
var ErrUnknownTemplate = errors.New("unknown chat template")

// Builtin returns the built-in template of that name (see Builtins).
func Builtin(name string) (*Template, error) {
	b, ok := builtins[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (built-in: %s)", ErrUnknownTemplate, name, strings.Join(Builtins(), ", "))
	}
	return &Template{name: name, builtin: &b, eot: b.endOfTurn}, nil
}

// Parse compiles Jinja chat-template source. tok gives bos_token and
// eos_token.
func Parse(src string, tok Tokens) (*Template, error) {
	j, err := compileJinja(src, tok)
	if err != nil {
		return nil, err
	}
	return &Template{name: "jinja", jinja: j, source: src, eot: jinjaEndOfTurn(src, tok)}, nil
}

// Select picks the template the way llama.cpp does for --chat-template:
// spec may name a built-in template or hold Jinja source; when spec is
// empty, the file's template (fileTemplate, the GGUF's
// tokenizer.chat_template, may be empty) is used. Two cases use a built-in
// instead of the file's Jinja: a BitNet b1.58 2B4T template (Detect
// "bitnet": the official GGUF's "Human: … BITNETAssistant:" placeholder is
// not the format the model was trained on), and a file without a template
// (chatml, llama.cpp's default). A file template that fails to compile falls
// back to the built-in that Detect names, if any.
func Select(spec, fileTemplate string, tok Tokens) (*Template, error) {
	if spec != "" {
		if _, ok := builtins[spec]; ok {
			return Builtin(spec)
		}
		if !strings.Contains(spec, "{{") && !strings.Contains(spec, "{%") {
			return nil, fmt.Errorf("%w %q: not a built-in name (%s) nor Jinja source", ErrUnknownTemplate, spec, strings.Join(Builtins(), ", "))
		}
		return Parse(spec, tok)
	}
	if fileTemplate == "" {
		return Builtin("chatml")
	}
	name := Detect(fileTemplate)
	if name == "bitnet" {
		return Builtin("bitnet")
	}
	t, err := Parse(fileTemplate, tok)
	if err != nil {
		if _, ok := builtins[name]; ok {
			return Builtin(name)
		}
		return nil, fmt.Errorf("the model's chat template: %w", err)
	}
	return t, nil
}

// Name is the built-in template's name, or "jinja".
func (t *Template) Name() string { return t.name }

// Source is the Jinja source ("" for a built-in template).
func (t *Template) Source() string { return t.source }

// EndOfTurn lists the texts of the special tokens that end an assistant
// turn in this format (such as "<|eot_id|>"); generation stops there.
func (t *Template) EndOfTurn() []string { return t.eot }

// Render formats msgs. With addAssistant the text ends with the opening of
// an assistant turn (add_generation_prompt), ready for the model to answer.
// Built-in templates never emit a BOS token (the tokenizer adds it); a
// Jinja template may begin with bos_token.
func (t *Template) Render(msgs []Message, addAssistant bool) (string, error) {
	if t.builtin != nil {
		return t.builtin.format(msgs, addAssistant), nil
	}
	return t.jinja.render(msgs, addAssistant)
}
