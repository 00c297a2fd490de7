package asm_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestProductionImports enforces the split between the oracle and the
// production code: asm/ref is the tests' oracle and asm/generic holds the
// portable production implementations behind package asm's entry points.
// No non-test file outside asm may import either (callers go through package
// asm, so a SIMD kernel can replace a portable body without touching them),
// and asm/generic, being production code, must not import the oracle.
func TestProductionImports(t *testing.T) {
	const (
		mod     = "github.com/bitnet-go/bitnet/"
		oracle  = mod + "asm/ref"
		generic = mod + "asm/generic"
	)
	root := ".."
	fset := token.NewFileSet()
	files := 0
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "shared") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		seen[dir] = true
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			switch {
			case dir == "asm" || dir == "asm/ref":
				// The kernels' package and the oracle itself.
			case dir == "asm/generic":
				if p == oracle {
					t.Errorf("%s imports %s: production code must not use the oracle", rel, p)
				}
			case p == oracle || p == generic:
				t.Errorf("%s imports %s: production code outside asm uses package asm's entry points", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk must have reached the production packages it guards.
	for _, dir := range []string{"runtime", "train", "convert", "quant", "asm/generic", "cmd/bitnet-synth"} {
		if !seen[dir] {
			t.Errorf("no Go files read in %s (read %d files)", dir, files)
		}
	}
}
