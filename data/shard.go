package data

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// Token shards use the trainer's format (package train, WriteShard), so
// either side reads the other's files:
//
//	offset  size  field
//	0       4     magic "BNTK"
//	4       4     version (1), u32 LE
//	8       4     dtype: 1 = u16, 2 = u32 (LE)
//	12      4     vocabulary size, u32 LE
//	16      8     count of ids, u64 LE
//	24      …     count ids of dtype
//
// Documents are separated by the vocabulary's EOS id (one after each).
const (
	shardMagic   = "BNTK"
	shardVersion = 1
	shardU16     = 1
	shardU32     = 2
	// ShardHeader is the size of the header in bytes.
	ShardHeader = 24
)

// WriteShard writes ids as a shard, u16 when the vocabulary fits.
func WriteShard(path string, ids []int32, vocab int) error {
	width := 4
	dtype := uint32(shardU32)
	if vocab <= 1<<16 {
		width, dtype = 2, shardU16
	}
	return atomicfile.WriteFile(path, atomicfile.Mode, func(w io.Writer) error {
		h := make([]byte, ShardHeader)
		copy(h, shardMagic)
		le := binary.LittleEndian
		le.PutUint32(h[4:], shardVersion)
		le.PutUint32(h[8:], dtype)
		le.PutUint32(h[12:], uint32(vocab))
		le.PutUint64(h[16:], uint64(len(ids)))
		if _, err := w.Write(h); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		for _, id := range ids {
			if id < 0 || int(id) >= vocab {
				return fmt.Errorf("shard %s: id %d outside the vocabulary of %d", path, id, vocab)
			}
			if width == 2 {
				buf = le.AppendUint16(buf, uint16(id))
			} else {
				buf = le.AppendUint32(buf, uint32(id))
			}
			if len(buf) >= 1<<16-4 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		_, err := w.Write(buf)
		return err
	})
}

// Shard is a token shard mapped into memory (read into memory where mmap
// is unavailable).
type Shard struct {
	b     []byte // the ids
	width int
	n     int
	vocab int
	unmap func() error
}

// OpenShard maps a shard file and checks its header and size. The ids are
// checked against the vocabulary when read (At, AppendTo).
func OpenShard(path string) (*Shard, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var h [ShardHeader]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return nil, fmt.Errorf("shard %s: header: %w", path, err)
	}
	le := binary.LittleEndian
	if string(h[:4]) != shardMagic {
		return nil, fmt.Errorf("shard %s: bad magic %q", path, h[:4])
	}
	if v := le.Uint32(h[4:]); v != shardVersion {
		return nil, fmt.Errorf("shard %s: unsupported version %d", path, v)
	}
	s := &Shard{vocab: int(le.Uint32(h[12:]))}
	switch le.Uint32(h[8:]) {
	case shardU16:
		s.width = 2
	case shardU32:
		s.width = 4
	default:
		return nil, fmt.Errorf("shard %s: unknown dtype %d", path, le.Uint32(h[8:]))
	}
	n := le.Uint64(h[16:])
	if s.vocab < 1 || n > uint64(st.Size()) || uint64(st.Size()) != ShardHeader+n*uint64(s.width) {
		return nil, fmt.Errorf("shard %s: %d bytes, header promises %d ids of %d bytes (vocabulary %d)", path, st.Size(), n, s.width, s.vocab)
	}
	s.n = int(n)
	if n == 0 {
		return s, nil
	}
	b, unmap, err := mmapFile(f, st.Size())
	if err != nil {
		b = make([]byte, st.Size())
		if _, err := f.ReadAt(b, 0); err != nil {
			return nil, fmt.Errorf("shard %s: %w", path, err)
		}
		unmap = nil
	}
	s.b, s.unmap = b[ShardHeader:], unmap
	return s, nil
}

// Len is the number of ids.
func (s *Shard) Len() int { return s.n }

// Vocab is the vocabulary size of the header.
func (s *Shard) Vocab() int { return s.vocab }

// Width is the bytes per id (2 or 4).
func (s *Shard) Width() int { return s.width }

// At returns id i.
func (s *Shard) At(i int) int32 {
	if s.width == 2 {
		return int32(binary.LittleEndian.Uint16(s.b[2*i:]))
	}
	return int32(binary.LittleEndian.Uint32(s.b[4*i:]))
}

// AppendTo appends ids [from, to) to dst, checking each against the
// vocabulary.
func (s *Shard) AppendTo(dst []int32, from, to int) ([]int32, error) {
	for i := from; i < to; i++ {
		id := s.At(i)
		if id < 0 || int(id) >= s.vocab {
			return dst, fmt.Errorf("shard: id %d at %d outside the vocabulary of %d", id, i, s.vocab)
		}
		dst = append(dst, id)
	}
	return dst, nil
}

// Close unmaps the shard.
func (s *Shard) Close() error {
	s.b = nil
	if s.unmap != nil {
		u := s.unmap
		s.unmap = nil
		return u()
	}
	return nil
}
