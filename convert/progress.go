package convert

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// progress draws a one-line bar: percent of the checkpoint's values
// converted, and the tensor in progress.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	done_ int
	last  int
	drawn bool
}

func newProgress(w io.Writer, ts []*planTensor) *progress {
	p := &progress{w: w, last: -1}
	for _, t := range ts {
		p.total += t.rows * t.cols
	}
	return p
}

func (p *progress) update(name string) func(int) {
	if p.w == nil {
		return nil
	}
	return func(n int) { p.draw(p.done_+n, name) }
}

func (p *progress) done(n int) {
	p.mu.Lock()
	p.done_ += n
	p.mu.Unlock()
}

func (p *progress) draw(n int, name string) {
	if p.w == nil || p.total == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pct := int(int64(n) * 100 / int64(p.total))
	if pct == p.last {
		return
	}
	p.last = pct
	const width = 30
	fill := pct * width / 100
	fmt.Fprintf(p.w, "\r%3d%% [%s%s] %-40.40s", pct, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), name)
	p.drawn = true
}

func (p *progress) finish() {
	if p.w != nil && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
