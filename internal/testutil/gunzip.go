package testutil

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	if _, err := os.Stat(p + ".gz"); err != nil {
		t.Fatalf("neither %s nor its .gz: %v", p, err)
	}
	out := filepath.Join(t.TempDir(), name)
	gunzipTo(t, p+".gz", out, wantSHA256)
	return out
}

var gunzipCache struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

// Gunzip returns the path of an uncompressed copy of the .gz file gz, made
// once per test binary (large reference files are read by many tests). The
// copies live in one temporary directory that RunMain removes; a package
// that calls Gunzip runs its tests through RunMain from its TestMain.
func Gunzip(t testing.TB, gz string) string {
	t.Helper()
	c := &gunzipCache
	c.Lock()
	defer c.Unlock()
	if out, ok := c.paths[gz]; ok {
		return out
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "bitnet-gunzip")
		if err != nil {
			t.Fatal(err)
		}
		c.dir, c.paths = d, map[string]string{}
	}
	out := filepath.Join(c.dir, strconv.Itoa(len(c.paths))+"-"+strings.TrimSuffix(filepath.Base(gz), ".gz"))
	gunzipTo(t, gz, out, "")
	c.paths[gz] = out
	return out
}

// RunMain runs the tests and removes Gunzip's copies; it returns the exit
// code for os.Exit.
func RunMain(m *testing.M) int {
	code := m.Run()
	c := &gunzipCache
	c.Lock()
	defer c.Unlock()
	if c.dir != "" {
		os.RemoveAll(c.dir)
		c.dir, c.paths = "", nil
	}
	return code
}

// gunzipTo writes the uncompressed bytes of gz to out, checking their
// sha256 when wantSHA256 is not empty.
func gunzipTo(t testing.TB, gz, out, wantSHA256 string) {
	t.Helper()
	in, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatalf("%s: %v", gz, err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), zr); err != nil {
		f.Close()
		t.Fatalf("gunzip %s: %v", gz, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); wantSHA256 != "" && !strings.EqualFold(got, wantSHA256) {
		t.Fatalf("%s holds a file with sha256 %s, want %s", gz, got, wantSHA256)
	}
}
