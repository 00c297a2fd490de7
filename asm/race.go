//go:build race

package asm

import (
	"runtime"
	"unsafe"
)

// raceEnabled reports whether the race detector is on (to skip loops
// that only annotate memory).
const raceEnabled = true

// raceRead and raceWrite tell the race detector about the memory an
// assembly kernel reads or writes, which it cannot see by itself.
func raceRead(p unsafe.Pointer, n int) { runtime.RaceReadRange(p, n) }

func raceWrite(p unsafe.Pointer, n int) { runtime.RaceWriteRange(p, n) }
