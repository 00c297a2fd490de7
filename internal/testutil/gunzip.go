package testutil

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ModelFile returns the path of a golden set's model file dir/name. Where
// only dir/name.gz is stored (the llama-s F32 file), it is gunzipped into a
// temporary directory of the test; when wantSHA256 is not empty the
// uncompressed bytes must have that hash.
func ModelFile(t testing.TB, dir, name, wantSHA256 string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	in, err := os.Open(p + ".gz")
	if err != nil {
		t.Fatalf("neither %s nor its .gz: %v", p, err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatalf("%s.gz: %v", p, err)
	}
	out := filepath.Join(t.TempDir(), name)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), zr); err != nil {
		f.Close()
		t.Fatalf("gunzip %s.gz: %v", p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); wantSHA256 != "" && !strings.EqualFold(got, wantSHA256) {
		t.Fatalf("%s.gz holds a file with sha256 %s, want %s", p, got, wantSHA256)
	}
	return out
}
