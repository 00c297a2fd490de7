package chat

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

var conversation = []Message{
	{"system", "You are a helpful assistant"},
	{"user", "Hello"},
	{"assistant", "Hi there"},
	{"user", "Who are you"},
	{"assistant", "   I am an assistant   "},
	{"user", "Another question"},
}

// Expected strings for built-ins that llama.cpp's test vectors do not cover,
// written from the source each one follows.
var extraVectors = map[string]string{
	// The 2B4T tokenizer_config.json template (without its leading
	// bos_token, which the tokenizer adds).
	"bitnet": "System: You are a helpful assistant<|eot_id|>User: Hello<|eot_id|>Assistant: Hi there<|eot_id|>User: Who are you<|eot_id|>Assistant: I am an assistant<|eot_id|>User: Another question<|eot_id|>Assistant: ",
	// llama.cpp src/llama-chat.cpp, LLM_CHAT_TEMPLATE_FALCON_3.
	"falcon3": "<|system|>\nYou are a helpful assistant\n<|user|>\nHello\n<|assistant|>\nHi there\n<|user|>\nWho are you\n<|assistant|>\n   I am an assistant   \n<|user|>\nAnother question\n<|assistant|>\n",
	// llama.cpp src/llama-chat.cpp, LLM_CHAT_TEMPLATE_ZEPHYR.
	"zephyr": "<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\nHi there<|endoftext|>\n<|user|>\nWho are you<|endoftext|>\n<|assistant|>\n   I am an assistant   <|endoftext|>\n<|user|>\nAnother question<|endoftext|>\n<|assistant|>\n",
	// The BitNet fork of llama.cpp: "mistral" is llama2 with <<SYS>>.
	"mistral": "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]",
}

func TestExtraBuiltins(t *testing.T) {
	for name, want := range extraVectors {
		tm, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := tm.Render(conversation, true)
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
}

// falcon3Jinja is a Jinja transcription of llama.cpp's Falcon3 format (the
// real Falcon3 template also handles tools, which we do not carry).
const falcon3Jinja = "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"

// TestBuiltinsMatchTheirJinja renders each built-in's Jinja source with our
// engine and checks the built-in gives the same text.
func TestBuiltinsMatchTheirJinja(t *testing.T) {
	b, err := os.ReadFile(testutil.Shared(t, "hf/bitnet-2b4t-bf16/hf/tokenizer_config.json", "the 2B4T Jinja template against the bitnet built-in"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ChatTemplate string `json:"chat_template"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if Detect(cfg.ChatTemplate) != "bitnet" {
		t.Errorf("the 2B4T template is detected as %q", Detect(cfg.ChatTemplate))
	}
	type pair struct {
		builtin, jinja string
		eos            string
		noSystem       bool // the template has no system role
		addOnly        bool // the template always opens an assistant turn
	}
	cases := []pair{
		{builtin: "bitnet", jinja: cfg.ChatTemplate},
		{builtin: "falcon3", jinja: falcon3Jinja},
	}
	_, v := loadVectors(t)
	for _, c := range v.Cases {
		switch c.Name {
		case "teknium/OpenHermes-2.5-Mistral-7B":
			cases = append(cases, pair{builtin: "chatml", jinja: c.Template})
		case "Llama-3":
			cases = append(cases, pair{builtin: "llama3", jinja: c.Template, addOnly: true})
		case "Phi-3-small":
			cases = append(cases, pair{builtin: "phi3", jinja: c.Template})
		case "phi-4":
			cases = append(cases, pair{builtin: "phi4", jinja: c.Template, addOnly: true})
		case "google/gemma-7b-it":
			cases = append(cases, pair{builtin: "gemma", jinja: c.Template, noSystem: true})
		case "mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1 without a system prompt)":
			cases = append(cases, pair{builtin: "llama2", jinja: c.Template, eos: "</s>", noSystem: true, addOnly: true})
		case "mistralai/Mistral-7B-Instruct-v0.2 (mistralai 'v1' template with a system prompt)":
			cases = append(cases, pair{builtin: "mistral-v1", jinja: c.Template, eos: "</s>", addOnly: true})
		case "mistralai/Mistral-Large-Instruct-2411 (mistralai 'v7' template)":
			cases = append(cases, pair{builtin: "mistral-v7", jinja: c.Template, eos: "</s>", addOnly: true})
		}
	}
	if len(cases) != 10 {
		t.Fatalf("%d template pairs", len(cases))
	}
	convs := [][]Message{conversation, conversation[1:], conversation[1:2], {{"system", " Be brief. "}, {"user", "  hi\n"}}}
	for _, c := range cases {
		bt, _ := Builtin(c.builtin)
		jt, err := Parse(c.jinja, Tokens{EOS: c.eos})
		if err != nil {
			t.Fatalf("%s: %v", c.builtin, err)
		}
		for _, msgs := range convs {
			if c.noSystem && msgs[0].Role == "system" {
				continue
			}
			for _, add := range []bool{true, false} {
				if c.addOnly && !add {
					continue
				}
				want, err := jt.Render(msgs, add)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := bt.Render(msgs, add)
				if got != want {
					t.Errorf("%s add=%v:\n built-in %q\n    jinja %q", c.builtin, add, got, want)
				}
			}
		}
	}
}

func TestDetect(t *testing.T) {
	placeholder := "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}{% if message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nBITNETAssistant: ' + eos_token }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
	for src, want := range map[string]string{
		placeholder:  "bitnet",
		"chatml":     "chatml",
		"llama3":     "llama3",
		falcon3Jinja: "",
		"{{ '<|user|>' }}{{ '<|assistant|>' }}</s>": "falcon3",
		"no template": "",
	} {
		if got := Detect(src); got != want {
			t.Errorf("Detect(%.40q) = %q, want %q", src, got, want)
		}
	}
	// The placeholder selects the bitnet built-in.
	tm, err := Select("", placeholder, Tokens{BOS: "<|begin_of_text|>", EOS: "<|end_of_text|>"})
	if err != nil || tm.Name() != "bitnet" {
		t.Fatalf("Select(placeholder) = %v, %v", tm, err)
	}
	if eot := tm.EndOfTurn(); len(eot) != 1 || eot[0] != "<|eot_id|>" {
		t.Errorf("bitnet end of turn %q", eot)
	}
}

func TestSelect(t *testing.T) {
	tok := Tokens{BOS: "<s>", EOS: "</s>"}
	for _, c := range []struct{ spec, file, name string }{
		{"", "", "chatml"},
		{"llama3", "{{ x }}", "llama3"},
		{"", "{% for m in messages %}{{ m.content }}{% endfor %}", "jinja"},
		{"{{ messages[0].content }}", "", "jinja"},
		{"", "{% for m in messages %}<|im_start|>{{ m.content }", "chatml"}, // broken Jinja: the detected built-in
	} {
		tm, err := Select(c.spec, c.file, tok)
		if err != nil {
			t.Errorf("Select(%q, %q): %v", c.spec, c.file, err)
			continue
		}
		if tm.Name() != c.name {
			t.Errorf("Select(%q, %q) = %s, want %s", c.spec, c.file, tm.Name(), c.name)
		}
	}
	if _, err := Select("llama-9", "", tok); !errors.Is(err, ErrUnknownTemplate) || !strings.Contains(err.Error(), "chatml") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := Select("", "{% if %}", tok); err == nil {
		t.Error("a broken file template without a known format was accepted")
	}
}

// TestHostileTemplates: bad templates give errors, never panics, hangs or
// huge allocations.
func TestHostileTemplates(t *testing.T) {
	for _, src := range []string{
		"{% for i in range(1000000000000) %}x{% endfor %}",
		"{% include '/etc/passwd' %}",
		"{% for i in range(2000) %}{{ 'x' * 10000 }}{% endfor %}",
		"{% for i in range(60000) %}{% for j in range(60000) %}{% endfor %}{% endfor %}",
		"{{ raise_exception('no') }}",
		"{{ messages[99].content }}{{ 1/0 }}",
		"{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
		"{%- macro a(x) -%}{{ b(x) }}{%- endmacro -%}{% macro b(x) %}{{ a(x) }}{% endmacro %}{{ a(1) }}",
		strings.Repeat("{{ (", 20000) + "1" + strings.Repeat(") }}", 20000),
	} {
		tm, err := Parse(src, Tokens{})
		if err != nil {
			continue
		}
		if out, err := tm.Render(conversation, true); err == nil && len(out) > maxOutput {
			t.Errorf("%q rendered %d bytes", src, len(out))
		}
	}
	if _, err := Parse(strings.Repeat("x", maxSource+1), Tokens{}); err == nil {
		t.Error("oversized source accepted")
	}
	tm, err := Parse("{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}", Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tm.Render(nil, false); err != nil || out != "321" {
		t.Errorf("range(3, 0, -1) = %q, %v", out, err)
	}
}

func TestStrftimeNow(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Date(2024, 7, 26, 0, 0, 0, 0, time.UTC) }
	tm, err := Parse(`{{ strftime_now("%d %b %Y") }}`, Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := tm.Render(nil, true); out != "26 Jul 2024" {
		t.Errorf("strftime_now = %q", out)
	}
}

// TestConcurrentRender: one compiled template renders from several
// goroutines (run with -race).
func TestConcurrentRender(t *testing.T) {
	_, v := loadVectors(t)
	tm, err := Parse(v.Cases[0].Template, Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tm.Render(conversation, true)
	done := make(chan string)
	for range 4 {
		go func() {
			out, _ := tm.Render(conversation, true)
			done <- out
		}()
	}
	for range 4 {
		if got := <-done; got != want {
			t.Errorf("concurrent render %q, want %q", got, want)
		}
	}
}
