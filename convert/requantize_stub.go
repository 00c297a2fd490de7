package convert

// TODO(requantize): placeholder until convert/requantize.go lands from the
// requantization work (issue 9 item 3); delete this file when merging it.

import (
	"errors"
	"io"
)

// RequantizeOptions control Requantize.
type RequantizeOptions struct {
	Type, Head, Embd, Arch string
	Progress               io.Writer
}

// Requantize converts a GGUF file between ternary formats. Not implemented
// on this branch.
func Requantize(inPath, outPath string, o RequantizeOptions) error {
	return errors.New("--requantize is not implemented yet")
}
