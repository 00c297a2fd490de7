//go:build !unix

package main

import "os"

// stopSignals stop a run after the current step (Ctrl-C, Ctrl-Break and
// console close arrive as os.Interrupt on Windows).
var stopSignals = []os.Signal{os.Interrupt}

// notifyRedraw: there is no SIGUSR1 here; `bitnet-train -plot DIR` redraws
// the plot instead.
func notifyRedraw(func()) func() { return func() {} }
