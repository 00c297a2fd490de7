package convert

import (
	"path/filepath"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/safetensors"
)

// BenchmarkConvert converts the 2B4T fixture (8 MB of BF16) per type;
// compare the types' ratios within one run. The full-size memory
// measurement is a command (see convert/internal/synthhf).
func BenchmarkConvert(b *testing.B) {
	dir := testutil.Shared(b, hfRoot+"bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	size := ck.Size()
	ck.Close()
	for _, typ := range []string{"i2_s", "tq2_0", "f32"} {
		b.Run(typ, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "o.gguf")
			b.SetBytes(size)
			for i := 0; i < b.N; i++ {
				if err := Convert(dir, out, Options{Type: typ}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
