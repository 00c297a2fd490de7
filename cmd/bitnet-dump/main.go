// Command bitnet-dump prints the metadata and tensor table of a GGUF file.
//
//	bitnet-dump model.gguf        # metadata and the first 16 tensors
//	bitnet-dump model.gguf -a     # every tensor
//	bitnet-dump model.gguf --stats  # BitLinear ternary shares, bits per weight, no-bias check
package main

import (
	"fmt"
	"os"

	"github.com/bitnet-go/bitnet/gguf"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bitnet-dump FILE.gguf [-a]")
		os.Exit(2)
	}
	f, err := gguf.Open(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if statsRequested(os.Args[2:]) { // stats.go: ternary shares, bits per weight, no-bias check
		if err := printStats(os.Stdout, f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	fmt.Println("version", f.Version, "dialect", f.Dialect, "align", f.Alignment, "data", f.DataOffset, "mapped", f.Mapped)
	for _, kv := range f.KVs {
		s := fmt.Sprint(kv.Value.V)
		if a, ok := kv.Value.V.(gguf.Array); ok {
			s = fmt.Sprintf("array[%s x %d]", a.Elem, a.Len())
		}
		if len(s) > 80 {
			s = s[:80]
		}
		fmt.Printf("  %s (%s) = %s\n", kv.Key, kv.Value.Type, s)
	}
	for i, t := range f.Tensors {
		if i < 16 || len(os.Args) > 2 {
			fmt.Printf("  %-28s %v %s raw=%d off=%d size=%d\n", t.Name, t.Dims, t.Type, t.RawType, t.Offset, t.Size)
		}
	}
	fmt.Println(len(f.Tensors), "tensors")
}
