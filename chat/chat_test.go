package chat

import (
	"encoding/json"
	"os"
	"testing"
)

type vectors struct {
	Conversation [][2]string `json:"conversation"`
	Cases        []struct {
		Name, Template, Expected, Bos, Eos string
		ExpectedJinja                      string `json:"expected_jinja"`
		Jinja                              bool
	} `json:"cases"`
}

// loadVectors reads llama.cpp's chat-template test vectors (see the
// "source" field of the file).
func loadVectors(t *testing.T) ([]Message, vectors) {
	t.Helper()
	b, err := os.ReadFile("testdata/llamacpp_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var conv []Message
	for _, m := range v.Conversation {
		conv = append(conv, Message{m[0], m[1]})
	}
	if len(v.Cases) != 33 || len(conv) != 6 {
		t.Fatalf("vectors: %d cases, %d messages", len(v.Cases), len(conv))
	}
	return conv, v
}

// TestBuiltinsMatchLlamaCpp: each vector's template is detected as llama.cpp
// would, and where the detected format is built in, its rendering equals
// llama.cpp's expected output byte for byte.
func TestBuiltinsMatchLlamaCpp(t *testing.T) {
	conv, v := loadVectors(t)
	// The built-in each vector selects (llama.cpp's detection).
	want := map[string]string{
		"teknium/OpenHermes-2.5-Mistral-7B":                                             "chatml",
		"mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1 without a system prompt)": "llama2",
		"TheBloke/FusionNet_34Bx2_MoE-AWQ":                                              "llama2-sys-bos",
		"bofenghuang/vigogne-2-70b-chat":                                                "llama2-sys-strip",
		"google/gemma-7b-it":                                                            "gemma",
		"Llama-3":                                                                       "llama3",
		"Phi-3-mini":                                                                    "phi3",
		"Phi-3-small":                                                                   "phi3",
		"Phi-3-medium":                                                                  "phi3",
		"Phi-3-vision":                                                                  "phi3",
		"mistralai/Mistral-7B-Instruct-v0.2 (mistralai 'v1' template with a system prompt)":                    "mistral-v1",
		"Mistral-Large-Instruct-2407 (mistralai 'v3' template; modified to have system prompt at start)":       "mistral-v3",
		"Mistral-Nemo-Instruct-2407 (mistralai 'v3-tekken' template; modified to have system prompt at start)": "mistral-v3-tekken",
		"mistralai/Mistral-Large-Instruct-2411 (mistralai 'v7' template)":                                      "mistral-v7",
		"phi-4": "phi4",
	}
	checked := 0
	for _, c := range v.Cases {
		name := Detect(c.Template)
		w, ours := want[c.Name]
		if !ours {
			if _, ok := builtins[name]; ok {
				t.Errorf("%s: detected as built-in %q, not in the expected list", c.Name, name)
			}
			continue
		}
		if name != w {
			t.Errorf("%s: detected %q, want %q", c.Name, name, w)
			continue
		}
		tm, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := tm.Render(conv, true)
		if got != c.Expected {
			t.Errorf("%s (%s):\n got %q\nwant %q", c.Name, name, got, c.Expected)
		}
		checked++
	}
	if checked != len(want) {
		t.Errorf("checked %d vectors, want %d", checked, len(want))
	}
}

// TestJinjaMatchesLlamaCpp renders every vector's Jinja source with our
// engine and compares with llama.cpp's Jinja expectations.
func TestJinjaMatchesLlamaCpp(t *testing.T) {
	conv, v := loadVectors(t)
	n := 0
	for _, c := range v.Cases {
		if !c.Jinja {
			continue
		}
		tm, err := Parse(c.Template, Tokens{BOS: c.Bos, EOS: c.Eos})
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		want := c.ExpectedJinja
		if want == "" {
			want = c.Expected
		}
		got, err := tm.Render(conv, true)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", c.Name, got, want)
		}
		n++
	}
	if n != 32 {
		t.Errorf("rendered %d templates, want 32", n)
	}
}
