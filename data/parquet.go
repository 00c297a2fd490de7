package data

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

// parquetReader streams one string column of a Parquet file page by page
// (github.com/parquet-go/parquet-go, pure Go): memory is one page and a
// small value buffer, whatever the file's size.
type parquetReader struct {
	path  string
	f     *os.File
	pages parquet.Pages
	page  parquet.Page
	vals  parquet.ValueReader
	buf   []parquet.Value
	n, i  int
	max   int
}

func openParquet(path string, o SourceOptions) (Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := pf.Root().Column(o.Field)
	if col == nil || !col.Leaf() {
		f.Close()
		return nil, fmt.Errorf("%s: %w %q (a string column)", path, errNoParquetColumn, o.Field)
	}
	if k := col.Type().Kind(); k != parquet.ByteArray {
		f.Close()
		return nil, fmt.Errorf("%s: column %q holds %v, not strings", path, o.Field, k)
	}
	return &parquetReader{path: path, f: f, pages: col.Pages(), buf: make([]parquet.Value, 64), max: o.MaxDoc}, nil
}

func (p *parquetReader) Next() (string, error) {
	for {
		for p.i < p.n {
			v := p.buf[p.i]
			p.i++
			if v.IsNull() {
				continue
			}
			b := v.ByteArray()
			if len(b) > p.max {
				return "", fmt.Errorf("%s: a value of %d bytes is longer than %d", p.path, len(b), p.max)
			}
			return string(b), nil
		}
		if p.vals != nil {
			n, err := p.vals.ReadValues(p.buf)
			p.n, p.i = n, 0
			if n > 0 {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return "", fmt.Errorf("%s: %w", p.path, err)
			}
			parquet.Release(p.page)
			p.page, p.vals = nil, nil
		}
		page, err := p.pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return "", io.EOF
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.path, err)
		}
		p.page, p.vals = page, page.Values()
	}
}

func (p *parquetReader) Close() error {
	if p.page != nil {
		parquet.Release(p.page)
	}
	p.pages.Close()
	return p.f.Close()
}
