package chat

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzTemplate: any template source compiles or fails with an error, and
// renders or fails with an error, without panicking or exceeding the
// output limit.
func FuzzTemplate(f *testing.F) {
	if b, err := os.ReadFile("testdata/llamacpp_vectors.json"); err == nil {
		var v vectors
		if json.Unmarshal(b, &v) == nil {
			for _, c := range v.Cases {
				f.Add(c.Template, "user", "hi")
			}
		}
	}
	f.Fuzz(func(t *testing.T, src, role, content string) {
		tm, err := Parse(src, Tokens{BOS: "<s>", EOS: "</s>"})
		if err != nil {
			return
		}
		out, err := tm.Render([]Message{{"system", "s"}, {role, content}}, true)
		if err == nil && len(out) > maxOutput {
			t.Fatalf("%d bytes of output", len(out))
		}
	})
}
