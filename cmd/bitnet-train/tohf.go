package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/bitnet-go/bitnet/convert"
	"github.com/bitnet-go/bitnet/train"
)

// hfSources are the exports -to-hf can start from, best first: both hold
// the ternary codes and the per-tensor scale exactly (TQ2_0 rounds the
// scale to f16).
var hfSources = []train.Format{train.FormatI2S, train.FormatF32}

// checkToHF validates -to-hf before anything is trained: the destination is
// a directory or new, and the exports asked for include one it can start
// from (with the default -formats, f32 is always written).
func (o *options) checkToHF() error {
	if o.toHF == "" {
		return nil
	}
	if st, err := os.Stat(o.toHF); err == nil && !st.IsDir() {
		return fmt.Errorf("-to-hf %s: not a directory", o.toHF)
	}
	if o.set["formats"] && !slices.ContainsFunc(o.fmts, func(f train.Format) bool { return slices.Contains(hfSources, f) }) {
		return fmt.Errorf("-to-hf needs an i2_s or f32 export; -formats %q has neither", o.formats)
	}
	return nil
}

// exportHF writes the Hugging Face checkpoint of a finished run from its
// I2_S (else F32) export, with convert.ExportHF.
func exportHF(runDir, hfDir string, stdout, stderr io.Writer) error {
	for _, f := range hfSources {
		src := filepath.Join(runDir, train.ExportName(f))
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := convert.ExportHF(src, hfDir, convert.ExportOptions{Warnings: stderr}); err != nil {
			return fmt.Errorf("-to-hf: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s (Hugging Face checkpoint from %s)\n", hfDir, filepath.Base(src))
		return nil
	}
	return fmt.Errorf("-to-hf: the run wrote neither %s nor %s", train.ExportName(train.FormatI2S), train.ExportName(train.FormatF32))
}
