//go:build unix

package convert

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

// Model files that are FIFOs are refused, not waited on.
func TestFIFOInputs(t *testing.T) {
	b2 := testutil.Shared(t, hfRoot+"bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	for _, name := range []string{"config.json", "tokenizer.json", "model.safetensors"} {
		dir := copyCheckpoint(t, b2, nil, nil)
		p := filepath.Join(dir, name)
		os.Remove(p)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		err := Convert(dir, filepath.Join(t.TempDir(), "o.gguf"), Options{Type: "i2_s"})
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s as a FIFO: %v", name, err)
		}
	}
}
