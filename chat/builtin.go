package chat

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A builtin formats a conversation in Go, as llama.cpp's
// llm_chat_apply_template does for the templates it knows by name.
type builtin struct {
	format    func(msgs []Message, addAssistant bool) string
	endOfTurn []string // texts that end an assistant turn
}

// builtins are the templates selectable by name. The strings follow
// llama.cpp's src/llama-chat.cpp (llm_chat_apply_template) except bitnet,
// which follows the chat_template of microsoft/bitnet-b1.58-2B-4T's
// tokenizer_config.json (upstream llama.cpp has no bitnet template; the
// official 2B4T GGUF carries a placeholder, see Detect), and mistral, which
// follows the BitNet fork of llama.cpp (llama2 with <<SYS>> system blocks).
var builtins = map[string]builtin{
	"bitnet":            {formatBitNet, []string{"<|eot_id|>"}},
	"llama3":            {formatLlama3, []string{"<|eot_id|>"}},
	"chatml":            {formatChatML, []string{"<|im_end|>"}},
	"llama2":            {llama2(false, false, false), []string{"</s>"}},
	"llama2-sys":        {llama2(true, false, false), []string{"</s>"}},
	"llama2-sys-bos":    {llama2(true, true, false), []string{"</s>"}},
	"llama2-sys-strip":  {llama2(true, false, true), []string{"</s>"}},
	"mistral":           {llama2(true, false, false), []string{"</s>"}},
	"mistral-v1":        {mistral(" ", " ", false), []string{"</s>"}},
	"mistral-v3":        {mistral("", " ", true), []string{"</s>"}},
	"mistral-v3-tekken": {mistral("", "", false), []string{"</s>"}},
	"mistral-v7":        {mistralV7(" "), []string{"</s>"}},
	"mistral-v7-tekken": {mistralV7(""), []string{"</s>"}},
	"phi3":              {formatPhi3, []string{"<|end|>"}},
	"phi4":              {formatPhi4, []string{"<|im_end|>"}},
	"falcon3":           {formatFalcon3, []string{"<|endoftext|>"}},
	"gemma":             {formatGemma, []string{"<end_of_turn>"}},
	"zephyr":            {formatZephyr, []string{"<|endoftext|>"}},
}

// Builtins returns the names of the built-in templates, sorted.
func Builtins() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// trim removes leading and trailing white space, like Jinja's trim filter
// and llama.cpp's trim.
func trim(s string) string { return strings.TrimFunc(s, unicode.IsSpace) }

// capitalize upper-cases the first character and lower-cases the rest, like
// Jinja's capitalize filter.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + strings.ToLower(s[n:])
}

func formatBitNet(msgs []Message, add bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(capitalize(m.Role) + ": " + trim(m.Content) + "<|eot_id|>")
	}
	if add {
		b.WriteString("Assistant: ")
	}
	return b.String()
}

func formatLlama3(msgs []Message, add bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + trim(m.Content) + "<|eot_id|>")
	}
	if add {
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
	return b.String()
}

func formatChatML(msgs []Message, add bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	if add {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String()
}

// llama2 is the [INST] family: sys wraps a system message in <<SYS>>, bos
// puts <s> before each later [INST], strip trims every message.
func llama2(sys, bos, strip bool) func([]Message, bool) string {
	return func(msgs []Message, _ bool) string {
		var b strings.Builder
		inside := true
		b.WriteString("[INST] ")
		for _, m := range msgs {
			content := m.Content
			if strip {
				content = trim(content)
			}
			if !inside {
				inside = true
				if bos {
					b.WriteString("<s>[INST] ")
				} else {
					b.WriteString("[INST] ")
				}
			}
			switch m.Role {
			case "system":
				if sys {
					b.WriteString("<<SYS>>\n" + content + "\n<</SYS>>\n\n")
				} else {
					b.WriteString(content + "\n")
				}
			case "user":
				b.WriteString(content + " [/INST]")
			default:
				b.WriteString(content + "</s>")
				inside = false
			}
		}
		return b.String()
	}
}

func mistral(leading, trailing string, trimAssistant bool) func([]Message, bool) string {
	return func(msgs []Message, _ bool) string {
		var b strings.Builder
		inside := false
		for _, m := range msgs {
			if !inside {
				b.WriteString(leading + "[INST]" + trailing)
				inside = true
			}
			switch m.Role {
			case "system":
				b.WriteString(m.Content + "\n\n")
			case "user":
				b.WriteString(m.Content + leading + "[/INST]")
			default:
				c := m.Content
				if trimAssistant {
					c = trim(c)
				}
				b.WriteString(trailing + c + "</s>")
				inside = false
			}
		}
		return b.String()
	}
}

func mistralV7(sp string) func([]Message, bool) string {
	return func(msgs []Message, _ bool) string {
		var b strings.Builder
		for _, m := range msgs {
			switch m.Role {
			case "system":
				b.WriteString("[SYSTEM_PROMPT]" + sp + m.Content + "[/SYSTEM_PROMPT]")
			case "user":
				b.WriteString("[INST]" + sp + m.Content + "[/INST]")
			default:
				b.WriteString(sp + m.Content + "</s>")
			}
		}
		return b.String()
	}
}

func formatPhi3(msgs []Message, add bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
	}
	if add {
		b.WriteString("<|assistant|>\n")
	}
	return b.String()
}

func formatPhi4(msgs []Message, add bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "<|im_sep|>" + m.Content + "<|im_end|>")
	}
	if add {
		b.WriteString("<|im_start|>assistant<|im_sep|>")
	}
	return b.String()
}

func formatFalcon3(msgs []Message, add bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>\n" + m.Content + "\n")
	}
	if add {
		b.WriteString("<|assistant|>\n")
	}
	return b.String()
}

func formatZephyr(msgs []Message, add bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|endoftext|>\n")
	}
	if add {
		b.WriteString("<|assistant|>\n")
	}
	return b.String()
}

// formatGemma merges system messages into the next user turn (Gemma has no
// system role) and calls the assistant "model".
func formatGemma(msgs []Message, add bool) string {
	var b strings.Builder
	system := ""
	for _, m := range msgs {
		if m.Role == "system" {
			system += trim(m.Content)
			continue
		}
		role := m.Role
		if role == "assistant" {
			role = "model"
		}
		b.WriteString("<start_of_turn>" + role + "\n")
		if system != "" && role != "model" {
			b.WriteString(system + "\n\n")
			system = ""
		}
		b.WriteString(trim(m.Content) + "<end_of_turn>\n")
	}
	if add {
		b.WriteString("<start_of_turn>model\n")
	}
	return b.String()
}

// Detect names the built-in template that llama.cpp would use for the Jinja
// source src (the order of checks of llm_chat_detect_template in
// src/llama-chat.cpp), extended by the two BitNet b1.58 2B4T templates: the
// Hugging Face one ("Role: content<|eot_id|>") and the placeholder
// "Human: … BITNETAssistant:" that the official GGUF carries. A name that
// llama.cpp knows but this package does not implement is returned as well
// (Builtin then fails); "" means no known format.
func Detect(src string) string {
	has := func(s string) bool { return strings.Contains(src, s) }
	if _, ok := builtins[src]; ok {
		return src
	}
	switch {
	case has("BITNETAssistant"),
		has("<|eot_id|>") && has("| capitalize + ': '") && !has("<|start_header_id|>"):
		return "bitnet"
	case has("<|im_start|>"):
		if has("<|im_sep|>") {
			return "phi4"
		}
		if has("<end_of_utterance>") {
			return "smolvlm"
		}
		return "chatml"
	case strings.HasPrefix(src, "mistral") || has("[INST]"):
		switch {
		case has("[SYSTEM_PROMPT]"):
			return "mistral-v7"
		case has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]"):
			if has(" [INST]") {
				return "mistral-v1"
			}
			if has(`"[INST]"`) {
				return "mistral-v3-tekken"
			}
			return "mistral-v3"
		case has("content.strip()"):
			return "llama2-sys-strip"
		case has("bos_token + '[INST]"):
			return "llama2-sys-bos"
		case has("<<SYS>>"):
			return "llama2-sys"
		}
		return "llama2"
	case has("<|assistant|>") && has("<|end|>"):
		return "phi3"
	case has("[gMASK]<sop>"):
		return "chatglm4"
	case has("<|assistant|>") && has("<|user|>"):
		if has("</s>") {
			return "falcon3"
		}
		return "glmedge"
	case has("<|{{ item['role'] }}|>") && has("<|begin_of_image|>"):
		return "glmedge"
	case has("<|user|>") && has("<|endoftext|>"):
		return "zephyr"
	case has("bos_token + message['role']"):
		return "monarch"
	case has("<start_of_turn>"):
		return "gemma"
	case has(`'\n\nAssistant: ' + eos_token`):
		return "orion"
	case has("GPT4 Correct "):
		return "openchat"
	case has("USER: ") && has("ASSISTANT: "):
		if has("SYSTEM: ") {
			return "vicuna-orca"
		}
		return "vicuna"
	case has("### Instruction:") && has("<|EOT|>"):
		return "deepseek"
	case has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>"):
		return "command-r"
	case has("<|start_header_id|>") && has("<|end_header_id|>"):
		return "llama3"
	}
	return ""
}
