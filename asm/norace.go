//go:build !race

package asm

import "unsafe"

func raceRead(p unsafe.Pointer, n int) {}

func raceWrite(p unsafe.Pointer, n int) {}
