package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// chatActive is set while chat mode reads turns: Ctrl-C then stops the
// answer being written instead of ending the process.
var chatActive atomic.Bool

// handleSignals ends the process on SIGINT, SIGTERM or SIGHUP with the
// conventional status 128+n (130 for Ctrl-C), after removing the temporary
// of every output file not yet committed, so the outputs are left as they
// were before the run.
func handleSignals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-c
		for sig == os.Interrupt && chatActive.Load() {
			sig = <-c // chat mode handles Ctrl-C itself (it stops an answer)
		}
		atomicfile.Cleanup()
		fmt.Fprintf(os.Stderr, "\nbitnet-run: %v\n", sig)
		n, ok := sig.(syscall.Signal)
		if !ok {
			n = syscall.SIGINT
		}
		os.Exit(128 + int(n))
	}()
}
