// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
)

// Shared returns the path of ../shared/testdata/<rel> (relative to the
// repository root). When it is missing the test fails under CI (CI=true) and
// is skipped elsewhere, with a message naming what it would have checked.
func Shared(t testing.TB, rel, what string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(), "..", "shared", "testdata", rel)
	if _, err := os.Stat(p); err != nil {
		msg := "missing " + p + ": would have checked " + what
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
