package data

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Deduplication in bounded memory.
//
// The verdicts are those of Dedup.Check applied to the documents in their
// canonical order (the sources in the order given, each from its first
// document): a document is dropped when it shares its text hash (an exact
// duplicate) or one of its MinHash band keys (a near duplicate) with an
// earlier document that was kept. Build finds them in a first pass over
// the inputs and skips the dropped documents in the second (sharding)
// pass, so the index never has to hold every kept document's keys.
//
// The first pass writes one key record per document and key (its text
// hash and its ten band keys): (key, table, document). Records collect in
// a buffer of the memory budget; a full buffer is sorted and written to a
// temporary file (a run). Merging the runs yields the documents sharing a
// key as consecutive records in document order, a group; each member of a
// group gets an edge from the member before it (a chain). The edges are
// sorted by their first document the same way.
//
// The verdicts then follow in document order by time-forward processing:
// a message travels along a group's chain and says "an earlier member of
// this group was kept". Document d is dropped iff a message reaches it
// (exact when one comes through the text-hash table); d then passes on the
// messages it got, and a kept d starts one along each of its chains.
// Pending messages wait in a priority queue by target document that also
// spills sorted runs. By induction over the chain, the message on group k
// reaches d iff an earlier member of k was kept, which is Dedup.Check's
// condition, so the verdicts are identical whatever the budget (tested with
// a budget that spills at every step).
//
// Memory: one record buffer (allocated outside the Go heap where the
// platform can map anonymous memory, so the collector's headroom does not
// double it) plus one I/O buffer per open run; the budget caps their sum
// (dedupIndex.mem) whatever the size of the corpus. Disk: 24 bytes per
// key record (11 per document), and as much again for the edges at most.

// DefaultDedupMem is the memory budget of deduplication when Config gives
// none.
const DefaultDedupMem = 256 << 20

// MinDedupMem is the smallest budget accepted.
const MinDedupMem = 64 << 10

const (
	tableExact = 0 // text hashes
	tableBands = 1 // band keys
	recBytes   = 24
	dstMask    = 1<<63 - 1
)

// rec is a record of the external sort: a key record (key, table,
// document), an edge (from, key, table<<63|to) or a message (to, key,
// table), ordered by its fields in turn.
type rec struct{ a, b, c uint64 }

func cmpRec(x, y rec) int {
	if c := cmp.Compare(x.a, y.a); c != 0 {
		return c
	}
	if c := cmp.Compare(x.b, y.b); c != 0 {
		return c
	}
	return cmp.Compare(x.c, y.c)
}

// memBudget accounts for the bytes the index holds.
type memBudget struct{ limit, held, peak int64 }

func (m *memBudget) take(n int64) {
	m.held += n
	m.peak = max(m.peak, m.held)
}

func (m *memBudget) give(n int64) { m.held -= n }

// dedupIndex finds the verdicts of a sequence of documents within a memory
// budget; it is not safe for concurrent use.
type dedupIndex struct {
	ctx       context.Context
	dir       string // temporary files
	mem       memBudget
	ioBuf     int   // bytes of each file buffer
	fanIn     int   // most runs read at once
	buf       []rec // reserved; pages are touched (and counted) as used
	hw        int   // records of buf used so far
	free      func()
	n         int // records in buf
	runs      []string
	nfiles    int
	spilled   int64 // bytes written to temporary files
	msgSpills int   // times the message queue spilled
}

// newDedupIndex sizes the index for a budget of bytes; temporary files go
// to dir (which must exist).
func newDedupIndex(ctx context.Context, budget int64, dir string) (*dedupIndex, error) {
	if budget < MinDedupMem {
		return nil, fmt.Errorf("data: dedup memory budget %d bytes is below the minimum of %d", budget, MinDedupMem)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	x := &dedupIndex{ctx: ctx, dir: dir, mem: memBudget{limit: budget}}
	x.ioBuf = int(min(max(budget/64, 4<<10), 1<<20))
	// A quarter of the budget for file buffers: the runs being merged, the
	// run being written and the verdict writer.
	x.fanIn = int(max(2, min(64, budget/4/int64(x.ioBuf)-2)))
	recs := (budget - int64(x.fanIn+2)*int64(x.ioBuf)) / recBytes
	if recs < 2*(1+numBands) {
		return nil, fmt.Errorf("data: dedup memory budget %d bytes is too small", budget)
	}
	x.buf, x.free = allocRecs(int(recs))
	return x, nil
}

// use counts the first n records of the buffer as held.
func (x *dedupIndex) use(n int) {
	if n > x.hw {
		x.mem.take(int64(n-x.hw) * recBytes)
		x.hw = n
	}
}

// close frees the buffer and removes the remaining temporary files.
func (x *dedupIndex) close() {
	if x.free != nil {
		x.mem.give(int64(x.hw) * recBytes)
		x.hw = 0
		x.buf = nil
		x.free()
		x.free = nil
	}
	for _, r := range x.runs {
		os.Remove(r)
	}
	x.runs = nil
}

func fixKey(k uint64) uint64 {
	if k == 0 {
		return 1 // as set64
	}
	return k
}

// add records the keys of document g (documents are added in order, from
// 0; an empty document is simply not added).
func (x *dedupIndex) add(g, textHash uint64, sig *Signature) error {
	if g > dstMask {
		return errors.New("data: too many documents")
	}
	if x.n+1+numBands > len(x.buf) {
		if err := x.spillKeys(); err != nil {
			return err
		}
	}
	x.buf[x.n] = rec{fixKey(textHash), tableExact, g}
	x.n++
	for _, k := range sig {
		x.buf[x.n] = rec{fixKey(k), tableBands, g}
		x.n++
	}
	x.use(x.n)
	return nil
}

func (x *dedupIndex) spillKeys() error {
	recs := x.buf[:x.n]
	slices.SortFunc(recs, cmpRec)
	path, err := x.writeRun(memRun(recs))
	if err != nil {
		return err
	}
	x.runs = append(x.runs, path)
	x.n = 0
	return nil
}

// resolve computes the verdicts and calls drop for each dropped document,
// in increasing order. The index cannot be added to afterwards.
func (x *dedupIndex) resolve(drop func(g uint64, why Verdict) error) error {
	keys, err := x.sortedKeys()
	if err != nil {
		return err
	}
	edges, err := x.edges(keys)
	if err != nil {
		return err
	}
	return x.forward(edges, drop)
}

// sortedKeys returns the key records in order: from the buffer when
// nothing was spilled, else merged from at most fanIn runs.
func (x *dedupIndex) sortedKeys() (*merger, error) {
	if len(x.runs) == 0 {
		recs := x.buf[:x.n]
		slices.SortFunc(recs, cmpRec)
		x.n = 0
		return newMerger(memRun(recs))
	}
	if x.n > 0 {
		if err := x.spillKeys(); err != nil {
			return nil, err
		}
	}
	rs, err := x.reduce(x.fanIn)
	if err != nil {
		return nil, err
	}
	return newMerger(rs...)
}

// reduce merges the runs until at most limit remain and opens them.
func (x *dedupIndex) reduce(limit int) ([]*runReader, error) {
	for len(x.runs) > limit {
		k := min(x.fanIn, len(x.runs)-limit+1)
		rs, err := x.open(x.runs[:k])
		if err != nil {
			return nil, err
		}
		m, err := newMerger(rs...)
		if err != nil {
			closeAll(rs)
			return nil, err
		}
		path, err := x.writeRun(m)
		closeAll(rs)
		if err != nil {
			return nil, err
		}
		for _, p := range x.runs[:k] {
			os.Remove(p)
		}
		x.runs = append(x.runs[k:], path)
	}
	rs, err := x.open(x.runs)
	if err == nil {
		x.runs = nil // the readers remove their files when closed
	}
	return rs, err
}

func (x *dedupIndex) open(paths []string) ([]*runReader, error) {
	var rs []*runReader
	for _, p := range paths {
		r, err := x.openRun(p)
		if err != nil {
			closeAll(rs)
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func closeAll(rs []*runReader) {
	for _, r := range rs {
		r.close()
	}
}

// edges turns the groups of the sorted key records into chain edges
// (from, key, table<<63|to), written into the buffer (behind the records
// still to be read when they come from it: a group of m records gives m-1
// edges) and spilled in runs sorted by their first document. It returns
// the edges in that order.
func (x *dedupIndex) edges(keys *merger) (*merger, error) {
	defer keys.close()
	ne := 0
	var prev rec
	have := false
	for i := 0; ; i++ {
		if i&0xffff == 0 {
			if err := x.ctx.Err(); err != nil {
				return nil, err
			}
		}
		cur, ok := keys.head()
		if !ok {
			break
		}
		if err := keys.advance(); err != nil {
			return nil, err
		}
		if have && cur.a == prev.a && cur.b == prev.b && cur.c != prev.c {
			if ne == len(x.buf) {
				slices.SortFunc(x.buf[:ne], cmpRec)
				path, err := x.writeRun(memRun(x.buf[:ne]))
				if err != nil {
					return nil, err
				}
				x.runs = append(x.runs, path)
				ne = 0
			}
			x.buf[ne] = rec{prev.c, cur.a, cur.b<<63 | cur.c}
			ne++
			x.use(ne)
		}
		prev, have = cur, true
	}
	if err := keys.err(); err != nil {
		return nil, err
	}
	slices.SortFunc(x.buf[:ne], cmpRec)
	if len(x.runs) == 0 && ne <= len(x.buf)/2 {
		// The edges stay in the first half; messages get the rest.
		x.n = ne
		return newMerger(memRun(x.buf[:ne]))
	}
	if ne > 0 {
		path, err := x.writeRun(memRun(x.buf[:ne]))
		if err != nil {
			return nil, err
		}
		x.runs = append(x.runs, path)
	}
	x.n = 0
	rs, err := x.reduce(max(1, x.fanIn/2))
	if err != nil {
		return nil, err
	}
	return newMerger(rs...)
}

// forward walks the documents that have edges or messages in order and
// calls drop for each one a message reaches.
func (x *dedupIndex) forward(edges *merger, drop func(g uint64, why Verdict) error) error {
	defer edges.close()
	q := &msgQueue{x: x, base: x.n, heap: x.buf[x.n:x.n], maxRuns: max(1, x.fanIn-len(edges.rs))}
	defer q.close()
	var in []rec
	for i := 0; ; i++ {
		if i&0xffff == 0 {
			if err := x.ctx.Err(); err != nil {
				return err
			}
		}
		e, eok := edges.head()
		m, mok := q.head()
		if !eok && !mok {
			break
		}
		d := e.a
		if !eok || mok && m.a < d {
			d = m.a
		}
		in = in[:0]
		for mok && m.a == d {
			in = append(in, m)
			if err := q.pop(); err != nil {
				return err
			}
			m, mok = q.head()
		}
		if len(in) > 0 {
			why := NearDup
			for _, m := range in {
				if m.c == tableExact {
					why = ExactDup
				}
			}
			if err := drop(d, why); err != nil {
				return err
			}
		}
		for eok && e.a == d {
			key, table, to := e.b, e.c>>63, e.c&dstMask
			if len(in) == 0 || slices.Contains(in, rec{d, key, table}) {
				if err := q.push(rec{to, key, table}); err != nil {
					return err
				}
			}
			if err := edges.advance(); err != nil {
				return err
			}
			e, eok = edges.head()
		}
	}
	if err := edges.err(); err != nil {
		return err
	}
	return q.err()
}

// msgQueue is a priority queue of messages by target document: a binary
// heap in the rest of the buffer, spilled to sorted runs when full.
type msgQueue struct {
	x       *dedupIndex
	base    int // of heap in the buffer
	heap    []rec
	runs    *merger
	maxRuns int
}

func (q *msgQueue) head() (rec, bool) {
	var r rec
	ok := false
	if q.runs != nil {
		r, ok = q.runs.head()
	}
	if len(q.heap) > 0 && (!ok || cmpRec(q.heap[0], r) < 0) {
		return q.heap[0], true
	}
	return r, ok
}

func (q *msgQueue) pop() error {
	if q.runs != nil {
		if r, ok := q.runs.head(); ok && (len(q.heap) == 0 || cmpRec(r, q.heap[0]) <= 0) {
			return q.runs.advance()
		}
	}
	h := q.heap
	n := len(h) - 1
	h[0] = h[n]
	q.heap = h[:n]
	siftDown(q.heap, 0)
	return nil
}

func (q *msgQueue) push(m rec) error {
	if len(q.heap) == cap(q.heap) {
		if err := q.spill(); err != nil {
			return err
		}
	}
	h := append(q.heap, m)
	q.x.use(q.base + len(h))
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if cmpRec(h[p], h[i]) <= 0 {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	q.heap = h
	return nil
}

// spill writes the heap as a sorted run; when the runs reach maxRuns, the
// runs' unread records and the heap are merged into one run instead.
func (q *msgQueue) spill() error {
	x := q.x
	x.msgSpills++
	slices.SortFunc(q.heap, cmpRec)
	mem := memRun(q.heap)
	var rs []*runReader
	if q.runs != nil && len(q.runs.rs) >= q.maxRuns {
		rs = q.runs.rs
		q.runs.rs = nil
	}
	m, err := newMerger(append(rs, mem)...)
	if err != nil {
		return err
	}
	path, err := x.writeRun(m)
	m.close()
	if err != nil {
		return err
	}
	q.heap = q.heap[:0]
	r, err := x.openRun(path)
	if err != nil {
		os.Remove(path)
		return err
	}
	if q.runs == nil {
		q.runs = &merger{}
	}
	q.runs.add(r)
	return nil
}

func (q *msgQueue) err() error {
	if q.runs != nil {
		return q.runs.err()
	}
	return nil
}

func (q *msgQueue) close() {
	if q.runs != nil {
		q.runs.close()
	}
}

func siftDown(h []rec, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if r := l + 1; r < len(h) && cmpRec(h[r], h[l]) < 0 {
			l = r
		}
		if cmpRec(h[i], h[l]) <= 0 {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
	}
}

// recSource is what a run is written from.
type recSource interface {
	head() (rec, bool)
	advance() error
}

// writeRun writes the records of src to a new temporary file.
func (x *dedupIndex) writeRun(src recSource) (string, error) {
	path := filepath.Join(x.dir, fmt.Sprintf("run-%06d", x.nfiles))
	x.nfiles++
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("data: dedup temporary file: %w", err)
	}
	x.mem.take(int64(x.ioBuf))
	defer x.mem.give(int64(x.ioBuf))
	w := bufio.NewWriterSize(f, x.ioBuf)
	var b [recBytes]byte
	var n int64
	for {
		if n&0xffff == 0 {
			if err = x.ctx.Err(); err != nil {
				break
			}
		}
		r, ok := src.head()
		if !ok {
			break
		}
		le := binary.LittleEndian
		le.PutUint64(b[0:], r.a)
		le.PutUint64(b[8:], r.b)
		le.PutUint64(b[16:], r.c)
		if _, err = w.Write(b[:]); err != nil {
			break
		}
		n++
		if err = src.advance(); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		os.Remove(path)
		if x.ctx.Err() != nil {
			return "", err
		}
		return "", fmt.Errorf("data: dedup temporary file %s: %w (is there room in %s?)", path, err, x.dir)
	}
	x.spilled += n * recBytes
	return path, nil
}

// runReader reads a sorted run from a temporary file (removed when it is
// closed) or from memory; cur is the current record, ok false past the end.
type runReader struct {
	x    *dedupIndex
	mem  []rec
	f    *os.File
	r    *bufio.Reader
	path string
	cur  rec
	ok   bool
	b    [recBytes]byte
}

func (x *dedupIndex) openRun(path string) (*runReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: dedup temporary file: %w", err)
	}
	x.mem.take(int64(x.ioBuf))
	r := &runReader{x: x, f: f, r: bufio.NewReaderSize(f, x.ioBuf), path: path}
	if err := r.next(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// memRun reads sorted records from memory.
func memRun(recs []rec) *runReader {
	r := &runReader{mem: recs}
	r.next()
	return r
}

func (r *runReader) head() (rec, bool) { return r.cur, r.ok }
func (r *runReader) advance() error    { return r.next() }

// next loads the next record.
func (r *runReader) next() error {
	if r.f == nil {
		if r.ok = len(r.mem) > 0; r.ok {
			r.cur, r.mem = r.mem[0], r.mem[1:]
		}
		return nil
	}
	if _, err := io.ReadFull(r.r, r.b[:]); err != nil {
		r.ok = false
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("data: dedup temporary file %s: %w", r.path, err)
	}
	le := binary.LittleEndian
	r.cur, r.ok = rec{le.Uint64(r.b[0:]), le.Uint64(r.b[8:]), le.Uint64(r.b[16:])}, true
	return nil
}

func (r *runReader) close() {
	if r.f != nil {
		r.f.Close()
		os.Remove(r.path)
		r.f, r.r = nil, nil
		r.x.mem.give(int64(r.x.ioBuf))
	}
	r.ok = false
}

// merger yields the records of several sorted runs in order: a heap of the
// runs by their current record.
type merger struct {
	rs   []*runReader
	fail error
}

// newMerger merges runs (empty ones are closed).
func newMerger(rs ...*runReader) (*merger, error) {
	m := &merger{}
	for _, r := range rs {
		m.add(r)
	}
	return m, nil
}

func (m *merger) add(r *runReader) {
	if !r.ok {
		r.close()
		return
	}
	m.rs = append(m.rs, r)
	for i := len(m.rs) - 1; i > 0; {
		p := (i - 1) / 2
		if cmpRec(m.rs[p].cur, m.rs[i].cur) <= 0 {
			break
		}
		m.rs[p], m.rs[i] = m.rs[i], m.rs[p]
		i = p
	}
}

func (m *merger) head() (rec, bool) {
	if len(m.rs) == 0 {
		return rec{}, false
	}
	return m.rs[0].cur, true
}

func (m *merger) advance() error {
	r := m.rs[0]
	if err := r.next(); err != nil {
		m.fail = err
		return err
	}
	if !r.ok {
		r.close()
		n := len(m.rs) - 1
		m.rs[0] = m.rs[n]
		m.rs = m.rs[:n]
	}
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(m.rs) {
			break
		}
		if c := l + 1; c < len(m.rs) && cmpRec(m.rs[c].cur, m.rs[l].cur) < 0 {
			l = c
		}
		if cmpRec(m.rs[i].cur, m.rs[l].cur) <= 0 {
			break
		}
		m.rs[i], m.rs[l] = m.rs[l], m.rs[i]
		i = l
	}
	return nil
}

func (m *merger) err() error { return m.fail }

func (m *merger) close() {
	closeAll(m.rs)
	m.rs = nil
}
