package runtime

import "github.com/bitnet-go/bitnet/internal/par"

// Pool is the persistent set of worker goroutines a State runs on (see
// par.Pool). Results never depend on the number of threads: every output
// element is computed by one worker in a fixed order.
type Pool = par.Pool

// NewPool starts a pool of n workers (n ≥ 1; the caller's goroutine is one
// of them).
func NewPool(n int) *Pool { return par.New(n) }
