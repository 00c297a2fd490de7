//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// stopSignals stop a run after the current step.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// notifyRedraw calls redraw on each SIGUSR1 until the returned function is
// called.
func notifyRedraw(redraw func()) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				redraw()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
