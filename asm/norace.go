//go:build !race

package asm

import "unsafe"

const raceEnabled = false

func raceRead(p unsafe.Pointer, n int) {}

func raceWrite(p unsafe.Pointer, n int) {}
