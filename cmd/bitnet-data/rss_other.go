//go:build !unix

package main

func peakRSS() (uint64, bool) { return 0, false }
