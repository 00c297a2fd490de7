package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// SourceOptions say how to read documents from a file.
type SourceOptions struct {
	// Field is the JSON field holding the text of a .jsonl record, and the
	// column of a Parquet file (default "text").
	Field string
	// Sep cuts a .txt file into documents (default "\n\n": paragraphs;
	// "\n": lines; "none": the whole file is one document).
	Sep string
	// MaxDoc is the largest document accepted, in bytes (default 64 MiB):
	// a longer line or document is an error, never an unbounded buffer.
	MaxDoc int
}

func (o *SourceOptions) defaults() {
	if o.Field == "" {
		o.Field = "text"
	}
	if o.Sep == "" {
		o.Sep = "\n\n"
	}
	if o.MaxDoc <= 0 {
		o.MaxDoc = 64 << 20
	}
}

// Reader yields the documents of one file in order.
type Reader interface {
	// Next returns the next document, or io.EOF after the last.
	Next() (string, error)
	Close() error
}

// Open opens a source by its name: .txt, .jsonl (also .json, .ndjson),
// .parquet; .gz and .zst compression by a further extension (not for
// Parquet, which compresses inside).
func Open(path string, o SourceOptions) (Reader, error) {
	o.defaults()
	name := strings.ToLower(path)
	if strings.HasSuffix(name, ".parquet") {
		return openParquet(path, o)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader = f
	closers := []io.Closer{f}
	switch {
	case strings.HasSuffix(name, ".gz"):
		gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		r, name = gz, strings.TrimSuffix(name, ".gz")
		closers = append(closers, gz)
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: zstd: %w", path, err)
		}
		r, name = zr.IOReadCloser(), strings.TrimSuffix(name, ".zst")
	}
	base := &fileReader{path: path, closers: closers, br: bufio.NewReaderSize(r, 1<<20), max: o.MaxDoc}
	switch {
	case strings.HasSuffix(name, ".jsonl"), strings.HasSuffix(name, ".json"), strings.HasSuffix(name, ".ndjson"):
		return &jsonlReader{fileReader: base, field: o.Field}, nil
	case strings.HasSuffix(name, ".txt"), strings.HasSuffix(name, ".text"):
		return &textReader{fileReader: base, sep: o.Sep}, nil
	}
	base.Close()
	return nil, fmt.Errorf("%s: unknown input format (want .txt, .jsonl or .parquet, optionally .gz or .zst)", path)
}

type fileReader struct {
	path    string
	closers []io.Closer
	br      *bufio.Reader
	max     int
	line    int
}

func (f *fileReader) Close() error {
	var err error
	for i := len(f.closers) - 1; i >= 0; i-- {
		if e := f.closers[i].Close(); err == nil {
			err = e
		}
	}
	return err
}

// readLine returns the next line without its newline; io.EOF at the end.
func (f *fileReader) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := f.br.ReadSlice('\n')
		if len(buf)+len(chunk) > f.max+1 {
			return nil, fmt.Errorf("%s: line %d is longer than %d bytes", f.path, f.line+1, f.max)
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(buf) == 0 {
				return nil, io.EOF
			}
			f.line++
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		f.line++
		return buf[:len(buf)-1], nil
	}
}

type jsonlReader struct {
	*fileReader
	field string
}

func (j *jsonlReader) Next() (string, error) {
	for {
		line, err := j.readLine()
		if err != nil {
			return "", err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(line, &rec); err != nil {
			return "", fmt.Errorf("%s: line %d: %w", j.path, j.line, err)
		}
		raw, ok := rec[j.field]
		if !ok {
			return "", fmt.Errorf("%s: line %d: no field %q", j.path, j.line, j.field)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%s: line %d: field %q is not a string", j.path, j.line, j.field)
		}
		return s, nil
	}
}

type textReader struct {
	*fileReader
	sep  string
	pend []byte
	eof  bool
}

func (t *textReader) Next() (string, error) {
	if t.sep == "none" {
		if t.eof {
			return "", io.EOF
		}
		t.eof = true
		b, err := io.ReadAll(io.LimitReader(t.br, int64(t.max)+1))
		if err != nil {
			return "", fmt.Errorf("%s: %w", t.path, err)
		}
		if len(b) > t.max {
			return "", fmt.Errorf("%s: the document is longer than %d bytes", t.path, t.max)
		}
		return string(b), nil
	}
	sep := []byte(t.sep)
	for {
		if i := bytes.Index(t.pend, sep); i >= 0 {
			doc := strings.TrimSpace(string(t.pend[:i]))
			t.pend = t.pend[i+len(sep):]
			if doc == "" {
				continue
			}
			return doc, nil
		}
		if t.eof {
			doc := strings.TrimSpace(string(t.pend))
			t.pend = nil
			if doc == "" {
				return "", io.EOF
			}
			return doc, nil
		}
		if len(t.pend) > t.max {
			return "", fmt.Errorf("%s: a document near line %d is longer than %d bytes", t.path, t.line, t.max)
		}
		var buf [1 << 16]byte
		n, err := t.br.Read(buf[:])
		t.pend = append(t.pend, buf[:n]...)
		t.line += bytes.Count(buf[:n], []byte{'\n'})
		if err == io.EOF {
			t.eof = true
		} else if err != nil {
			return "", fmt.Errorf("%s: %w", t.path, err)
		}
	}
}

var errNoParquetColumn = errors.New("no such column")
