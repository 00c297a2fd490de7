//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package sysmem

import (
	"runtime"

	"golang.org/x/sys/unix"
)

func total() (uint64, error) {
	name := "hw.physmem"
	switch runtime.GOOS {
	case "darwin":
		name = "hw.memsize"
	case "netbsd", "openbsd":
		name = "hw.physmem64"
	}
	return unix.SysctlUint64(name)
}
