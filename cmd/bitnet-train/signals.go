package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// stopState records the first stop signal.
type stopState struct {
	mu  sync.Mutex
	sig os.Signal
}

func (s *stopState) received() os.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sig
}

// withSignals returns a context cancelled by the first stop signal
// (stopSignals: SIGINT, and SIGTERM where there is one): the run then stops
// after the current step with a checkpoint. A second signal removes the
// temporaries of files being written and exits at once with the signal's
// status. stop undoes the registration.
func withSignals(parent context.Context, stderr io.Writer) (context.Context, *stopState, func()) {
	ctx, cancel := context.WithCancel(parent)
	st := &stopState{}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				st.mu.Lock()
				first := st.sig == nil
				if first {
					st.sig = s
				}
				st.mu.Unlock()
				if first {
					fmt.Fprintf(stderr, "\nbitnet-train: %s: stopping after this step with a checkpoint (again to quit at once)\n", signalName(s))
					cancel()
					continue
				}
				atomicfile.Cleanup()
				fmt.Fprintf(stderr, "\nbitnet-train: %s again: quitting; the last checkpoint is kept\n", signalName(s))
				os.Exit(signalStatus(s))
			case <-done:
				return
			}
		}
	}()
	return ctx, st, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// signalStatus is the conventional exit status after signal s: 128 + its
// number (130 for SIGINT, 143 for SIGTERM).
func signalStatus(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "interrupted (SIGINT)"
	case syscall.SIGTERM:
		return "terminated (SIGTERM)"
	}
	return s.String()
}
