package runtime_test

import (
	"fmt"
	"testing"

	"github.com/bitnet-go/bitnet/runtime"
)

// BenchmarkDecodeThreads measures a decode step of the bundled model at 1,
// 2 and 4 threads. Its matrices are small, so the step is dominated by the
// pool's hand-offs: with -cpu 2, t4 (more threads than processors) must not
// lose much to t2, and t2 must not lose to t1.
func BenchmarkDecodeThreads(b *testing.B) {
	m := bundled(b)
	for _, threads := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("t%d", threads), func(b *testing.B) {
			p := runtime.NewPool(threads)
			defer p.Close()
			s, _ := runtime.NewState(m.Model, 256, 64, p)
			if _, err := s.Forward(prompt, false); err != nil {
				b.Fatal(err)
			}
			tok := []int32{326}
			for b.Loop() {
				if s.Pos() == s.Ctx() {
					s.Truncate(len(prompt))
				}
				if _, err := s.Forward(tok, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
