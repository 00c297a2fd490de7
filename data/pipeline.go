package data

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// Tokenizer is what the pipeline needs of a vocabulary; loader/tokenizer's
// Tokenizer satisfies it and is safe for concurrent Encode calls.
type Tokenizer interface {
	Encode(text string, addSpecial, parseSpecial bool) []int32
	EOS() int32
}

// Source is one input of a mixture.
type Source struct {
	Name   string   // for the report (default: the first file's name)
	Files  []string // read in order
	Weight float64  // share of the training tokens (relative to the other sources)
}

// Config controls Build.
type Config struct {
	Sources []Source
	SourceOptions
	Lowercase bool
	Tokenizer Tokenizer
	Vocab     int
	OutDir    string
	// ShardTokens is the number of tokens per shard file (default 1<<24):
	// the writer holds one shard in memory.
	ShardTokens int
	// ValidFraction of the documents (chosen by a hash of the seed and the
	// document's place in its source) goes to the held-out split.
	ValidFraction float64
	Seed          uint64
	// Dedup drops exact and near duplicates (MinHash LSH) across all
	// sources: of documents alike, the first in source order (the sources
	// as listed, each from its start) is kept. It costs a first pass over
	// the inputs, in DedupMem of memory (see dedup.go).
	Dedup     bool
	MaxTokens int64 // stop after this many training tokens (0: when the first source runs out)
	Workers   int   // tokenizing goroutines (default: all cores)
	Log       io.Writer
	// DedupMem is the memory budget of deduplication in bytes (default
	// DefaultDedupMem); beyond it the index spills to temporary files.
	DedupMem int64
	// TempDir receives the temporary files of deduplication (default
	// os.TempDir()); they are removed when Build returns.
	TempDir string
	// Context cancels Build (nil: never); temporary files are removed and
	// the shards already written stay, without a manifest.
	Context context.Context
	// OnDrop, when set, receives each dropped document in mixing order
	// (an error stops Build), and Report.Dropped stays empty: memory does
	// not grow with the number of duplicates.
	OnDrop func(Drop) error
}

// SourceReport counts what happened to one source's documents.
type SourceReport struct {
	Name        string  `json:"name"`
	Weight      float64 `json:"weight"`
	Docs        int64   `json:"docs"`  // read
	Bytes       int64   `json:"bytes"` // of text read
	Kept        int64   `json:"kept"`
	Empty       int64   `json:"empty"`
	ExactDups   int64   `json:"exact_duplicates"`
	NearDups    int64   `json:"near_duplicates"`
	TrainTokens int64   `json:"train_tokens"` // with one EOS per document
	ValidTokens int64   `json:"valid_tokens"`
	Share       float64 `json:"share"` // of the training tokens
	Exhausted   bool    `json:"exhausted"`
}

// Report is the outcome of Build, also written as manifest.json.
type Report struct {
	Sources     []SourceReport `json:"sources"`
	TrainShards []string       `json:"train_shards"`
	ValidShards []string       `json:"valid_shards"`
	TrainTokens int64          `json:"train_tokens"`
	ValidTokens int64          `json:"valid_tokens"`
	Vocab       int            `json:"vocab"`
	EOS         int32          `json:"eos"`
	Seed        uint64         `json:"seed"`
	Lowercase   bool           `json:"lowercase"`
	Dedup       bool           `json:"dedup"`
	DedupBytes  int64          `json:"dedup_peak_bytes"`    // held by the dedup index at most
	DedupBudget int64          `json:"dedup_budget_bytes"`  // its budget
	DedupSpill  int64          `json:"dedup_spilled_bytes"` // written to its temporary files
	Seconds     float64        `json:"seconds"`
	// Per-document verdicts (not written; only when Config.OnDrop is
	// nil): source index and document index of each dropped document with
	// its reason, in mixing order.
	Dropped []Drop `json:"-"`
}

// Drop records a dropped document.
type Drop struct {
	Source int
	Doc    int64
	Why    Verdict
}

// ManifestFile is the report Build writes beside the shards.
const ManifestFile = "manifest.json"

type doc struct {
	idx    int64
	bytes  int
	empty  bool
	hash   uint64
	sig    Signature
	tokens []int32
}

type batch struct {
	texts []string
	first int64
	out   chan []doc
	err   error
}

// stream reads one source's documents in order, processed by the shared
// workers, with a bounded number of batches in flight.
type stream struct {
	queue chan *batch
	cur   []doc
	pos   int
	err   error
	done  bool
}

func (s *stream) next() (*doc, error) {
	for s.pos == len(s.cur) {
		if s.done {
			return nil, io.EOF
		}
		b, ok := <-s.queue
		if !ok {
			s.done = true
			if s.err != nil {
				return nil, s.err
			}
			return nil, io.EOF
		}
		if b.err != nil {
			s.done = true
			return nil, b.err
		}
		s.cur, s.pos = <-b.out, 0
	}
	d := &s.cur[s.pos]
	s.pos++
	return d, nil
}

// Build reads, normalizes, deduplicates, tokenizes and mixes the sources
// and writes train-NNNNNN.tok and valid-NNNNNN.tok shards and
// manifest.json into OutDir.
func Build(c Config) (*Report, error) {
	t0 := time.Now()
	if len(c.Sources) == 0 {
		return nil, errors.New("data: no sources")
	}
	if c.Tokenizer == nil || c.Vocab <= 0 {
		return nil, errors.New("data: a vocabulary is needed")
	}
	eos := c.Tokenizer.EOS()
	if eos < 0 || int(eos) >= c.Vocab {
		return nil, fmt.Errorf("data: the vocabulary has no EOS token (%d)", eos)
	}
	if c.ValidFraction < 0 || c.ValidFraction >= 1 {
		return nil, fmt.Errorf("data: held-out fraction %g outside [0, 1)", c.ValidFraction)
	}
	var wsum float64
	for i, s := range c.Sources {
		if len(s.Files) == 0 {
			return nil, fmt.Errorf("data: source %d has no files", i+1)
		}
		if !(s.Weight > 0) || math.IsInf(s.Weight, 0) {
			return nil, fmt.Errorf("data: source %s: weight %g must be positive", s.Files[0], s.Weight)
		}
		for _, f := range s.Files {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("data: %w", err)
			}
		}
		wsum += s.Weight
	}
	if c.ShardTokens <= 0 {
		c.ShardTokens = 1 << 24
	}
	if c.Workers <= 0 {
		c.Workers = goruntime.NumCPU()
	}
	if c.DedupMem == 0 {
		c.DedupMem = DefaultDedupMem
	}
	if c.Dedup && c.DedupMem < MinDedupMem {
		return nil, fmt.Errorf("data: dedup memory budget %d bytes is below the minimum of %d", c.DedupMem, MinDedupMem)
	}
	if c.Context == nil {
		c.Context = context.Background()
	}
	c.SourceOptions.defaults()
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.OutDir, ManifestFile)); err == nil {
		return nil, fmt.Errorf("data: %s already holds a data set (%s); choose a new directory", c.OutDir, ManifestFile)
	}

	var drops *dropList
	if c.Dedup {
		tmp, err := os.MkdirTemp(c.TempDir, "bitnet-data-dedup-")
		if err != nil {
			return nil, fmt.Errorf("data: dedup temporary directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		if drops, err = c.dedupPass(tmp); err != nil {
			return nil, err
		}
		defer drops.close()
		if c.Log != nil {
			var docs int64
			for _, n := range drops.docs {
				docs += n
			}
			fmt.Fprintf(c.Log, "dedup pass: %d documents, %d duplicates in %.1f s (index peak %.1f MiB, %.1f MiB through temporary files)\n",
				docs, drops.start[len(drops.docs)], time.Since(t0).Seconds(), float64(drops.peak)/(1<<20), float64(drops.spilled)/(1<<20))
		}
	}
	var rep *Report
	err := c.scan(passTokens, func(streams []*stream) error {
		var err error
		rep, err = c.mix(streams, eos, wsum, drops)
		return err
	})
	if err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(t0).Seconds()
	man, _ := json.MarshalIndent(rep, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(c.OutDir, ManifestFile), atomicfile.Mode, func(w io.Writer) error {
		_, err := w.Write(append(man, '\n'))
		return err
	}); err != nil {
		return nil, err
	}
	return rep, nil
}

// pass says what the workers compute for each document.
type pass int

const (
	passSignatures pass = iota // text hash and MinHash signature (deduplication)
	passTokens                 // tokens (sharding)
)

// scan runs the readers and the workers over the sources and hands the
// document streams, in order, to consume; it stops them when consume
// returns.
func (c *Config) scan(p pass, consume func(streams []*stream) error) error {
	jobs := make(chan *batch, 2*c.Workers)
	var wg sync.WaitGroup
	for w := 0; w < c.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				b.out <- c.process(b, p)
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	streams := make([]*stream, len(c.Sources))
	for i, src := range c.Sources {
		st := &stream{queue: make(chan *batch, 2*c.Workers)}
		streams[i] = st
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer close(st.queue)
			c.read(src, st, jobs, stop)
		}()
	}
	err := consume(streams)
	close(stop)
	// Drain so the readers see stop and exit.
	for _, st := range streams {
		go func() {
			for b := range st.queue {
				if b.err == nil {
					<-b.out
				}
			}
		}()
	}
	readers.Wait()
	close(jobs)
	wg.Wait()
	return err
}

// dedupPass reads every source in order, finds the duplicates within the
// memory budget (temporary files in tmp) and returns them.
func (c *Config) dedupPass(tmp string) (*dropList, error) {
	x, err := newDedupIndex(c.Context, c.DedupMem, tmp)
	if err != nil {
		return nil, err
	}
	defer x.close()
	dl := &dropList{path: filepath.Join(tmp, "drops"), docs: make([]int64, len(c.Sources)), start: make([]int64, len(c.Sources)+1)}
	base := make([]uint64, len(c.Sources)+1)
	err = c.scan(passSignatures, func(streams []*stream) error {
		var g uint64
		for s, st := range streams {
			base[s] = g
			for {
				d, err := st.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				if g&0xff == 0 {
					if err := c.Context.Err(); err != nil {
						return err
					}
				}
				g++
				dl.docs[s]++
				if !d.empty {
					if err := x.add(base[s]+uint64(d.idx), d.hash, &d.sig); err != nil {
						return err
					}
				}
			}
		}
		base[len(streams)] = g
		return nil
	})
	if err != nil {
		return nil, err
	}
	f, err := os.Create(dl.path)
	if err != nil {
		return nil, fmt.Errorf("data: dedup temporary file: %w", err)
	}
	defer f.Close()
	x.mem.take(int64(x.ioBuf))
	w := bufio.NewWriterSize(f, x.ioBuf)
	var n int64
	s := 0
	err = x.resolve(func(g uint64, why Verdict) error {
		for g >= base[s+1] {
			s++
			dl.start[s] = n
		}
		n++
		_, err := w.Write(binary.LittleEndian.AppendUint64(nil, (g-base[s])<<2|uint64(why)))
		return err
	})
	for s++; s <= len(c.Sources); s++ {
		dl.start[s] = n
	}
	if err == nil {
		err = w.Flush()
	}
	x.mem.give(int64(x.ioBuf))
	if err != nil {
		return nil, fmt.Errorf("data: dedup: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("data: dedup temporary file: %w", err)
	}
	dl.peak, dl.budget, dl.spilled = x.mem.peak, x.mem.limit, x.spilled+8*n
	dl.cur = make([]*dropCursor, len(c.Sources))
	return dl, nil
}

// dropList is the verdicts of the first pass: the dropped documents of
// each source in order, in a temporary file read once per source.
type dropList struct {
	path                  string
	docs                  []int64 // documents per source
	start                 []int64 // first drop of each source
	cur                   []*dropCursor
	peak, budget, spilled int64
}

type dropCursor struct {
	f    *os.File
	r    *bufio.Reader
	left int64
	doc  int64 // next dropped document
	why  Verdict
}

// check returns whether document idx of source s was dropped and why;
// each source's documents are checked in increasing order.
func (l *dropList) check(s int, idx int64) (Verdict, error) {
	c := l.cur[s]
	if c == nil {
		f, err := os.Open(l.path)
		if err != nil {
			return Keep, fmt.Errorf("data: dedup temporary file: %w", err)
		}
		if _, err := f.Seek(8*l.start[s], io.SeekStart); err != nil {
			f.Close()
			return Keep, fmt.Errorf("data: dedup temporary file: %w", err)
		}
		c = &dropCursor{f: f, r: bufio.NewReaderSize(f, 1<<16), left: l.start[s+1] - l.start[s], doc: -1}
		l.cur[s] = c
	}
	for c.doc < idx {
		if c.left == 0 {
			c.doc = 1<<63 - 1
			break
		}
		var b [8]byte
		if _, err := io.ReadFull(c.r, b[:]); err != nil {
			return Keep, fmt.Errorf("data: dedup temporary file %s: %w", l.path, err)
		}
		c.left--
		v := binary.LittleEndian.Uint64(b[:])
		c.doc, c.why = int64(v>>2), Verdict(v&3)
	}
	if c.doc == idx {
		return c.why, nil
	}
	return Keep, nil
}

func (l *dropList) close() {
	for _, c := range l.cur {
		if c != nil {
			c.f.Close()
		}
	}
}

const batchDocs, batchBytes = 64, 1 << 20

func (c *Config) read(src Source, st *stream, jobs chan<- *batch, stop <-chan struct{}) {
	var idx int64
	send := func(b *batch) bool {
		select {
		case st.queue <- b:
		case <-stop:
			return false
		}
		if b.err != nil {
			return true
		}
		select {
		case jobs <- b:
			return true
		case <-stop:
			b.out <- nil
			return false
		}
	}
	b := &batch{out: make(chan []doc, 1)}
	size := 0
	for _, path := range src.Files {
		r, err := Open(path, c.SourceOptions)
		if err != nil {
			send(&batch{err: fmt.Errorf("data: %w", err)})
			return
		}
		for {
			text, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.Close()
				send(&batch{err: fmt.Errorf("data: %w", err)})
				return
			}
			if len(b.texts) == 0 {
				b.first = idx
			}
			b.texts = append(b.texts, text)
			idx++
			size += len(text)
			if len(b.texts) == batchDocs || size >= batchBytes {
				if !send(b) {
					r.Close()
					return
				}
				b, size = &batch{out: make(chan []doc, 1)}, 0
			}
		}
		r.Close()
	}
	if len(b.texts) > 0 {
		send(b)
	}
}

func (c *Config) process(b *batch, p pass) []doc {
	out := make([]doc, len(b.texts))
	for i, text := range b.texts {
		d := &out[i]
		d.idx = b.first + int64(i)
		d.bytes = len(text)
		text = strings.TrimSpace(text)
		if c.Lowercase {
			text = strings.ToLower(text)
		}
		if text == "" {
			d.empty = true
			continue
		}
		if p == passSignatures {
			d.hash = hashString(text)
			d.sig = MinHash(text)
			continue
		}
		d.tokens = c.Tokenizer.Encode(text, false, false)
	}
	return out
}

// valid reports whether document idx of source s is held out.
func (c *Config) valid(s int, idx int64) bool {
	if c.ValidFraction <= 0 {
		return false
	}
	h := mix64(c.Seed ^ mix64(uint64(s)+1) ^ mix64(uint64(idx)*0x9e3779b97f4a7c15+7))
	return float64(h>>11)/(1<<53) < c.ValidFraction
}

type shardOut struct {
	c      *Config
	prefix string
	buf    []int32
	files  []string
}

func (o *shardOut) add(ids []int32) error {
	if o.buf == nil && o.prefix == "train" {
		// One shard and a document of slack: no doubling of a large buffer
		// (the held-out split is small and grows as needed).
		o.buf = make([]int32, 0, o.c.ShardTokens+len(ids)+1<<16)
	}
	o.buf = append(o.buf, ids...)
	for len(o.buf) >= o.c.ShardTokens {
		if err := o.flush(o.c.ShardTokens); err != nil {
			return err
		}
	}
	return nil
}

func (o *shardOut) flush(n int) error {
	if n == 0 {
		return nil
	}
	name := fmt.Sprintf("%s-%06d.tok", o.prefix, len(o.files))
	if err := WriteShard(filepath.Join(o.c.OutDir, name), o.buf[:n], o.c.Vocab); err != nil {
		return err
	}
	o.files = append(o.files, name)
	o.buf = append(o.buf[:0], o.buf[n:]...)
	return nil
}

// mix pulls documents from the sources so that each source's share of the
// training tokens follows its weight: the next document comes from the
// source furthest below its share (ties to the first).
func (c *Config) mix(streams []*stream, eos int32, wsum float64, drops *dropList) (*Report, error) {
	rep := &Report{Vocab: c.Vocab, EOS: eos, Seed: c.Seed, Lowercase: c.Lowercase, Dedup: c.Dedup}
	for _, s := range c.Sources {
		name := s.Name
		if name == "" {
			name = filepath.Base(s.Files[0])
		}
		rep.Sources = append(rep.Sources, SourceReport{Name: name, Weight: s.Weight / wsum})
	}
	train := &shardOut{c: c, prefix: "train"}
	valid := &shardOut{c: c, prefix: "valid"}
	var tok []int32
	for c.MaxTokens <= 0 || rep.TrainTokens < c.MaxTokens {
		best := -1
		var bestV float64
		for i := range streams {
			v := float64(rep.Sources[i].TrainTokens) / rep.Sources[i].Weight
			if best < 0 || v < bestV {
				best, bestV = i, v
			}
		}
		sr := &rep.Sources[best]
		d, err := streams[best].next()
		if err == io.EOF {
			sr.Exhausted = true
			if drops != nil && sr.Docs != drops.docs[best] {
				return nil, fmt.Errorf("data: source %s changed between the two passes (%d documents, then %d)", sr.Name, drops.docs[best], sr.Docs)
			}
			break
		}
		if err != nil {
			return nil, err
		}
		if sr.Docs&0xff == 0 {
			if err := c.Context.Err(); err != nil {
				return nil, err
			}
		}
		sr.Docs++
		sr.Bytes += int64(d.bytes)
		if d.empty {
			sr.Empty++
			continue
		}
		if drops != nil {
			v, err := drops.check(best, d.idx)
			if err != nil {
				return nil, err
			}
			if v != Keep {
				if v == ExactDup {
					sr.ExactDups++
				} else {
					sr.NearDups++
				}
				drop := Drop{Source: best, Doc: d.idx, Why: v}
				if c.OnDrop == nil {
					rep.Dropped = append(rep.Dropped, drop)
				} else if err := c.OnDrop(drop); err != nil {
					return nil, err
				}
				continue
			}
		}
		sr.Kept++
		tok = append(append(tok[:0], d.tokens...), eos)
		if c.valid(best, d.idx) {
			sr.ValidTokens += int64(len(tok))
			rep.ValidTokens += int64(len(tok))
			err = valid.add(tok)
		} else {
			sr.TrainTokens += int64(len(tok))
			rep.TrainTokens += int64(len(tok))
			err = train.add(tok)
		}
		if err != nil {
			return nil, err
		}
		d.tokens = nil
	}
	if err := train.flush(len(train.buf)); err != nil {
		return nil, err
	}
	if err := valid.flush(len(valid.buf)); err != nil {
		return nil, err
	}
	rep.TrainShards, rep.ValidShards = train.files, valid.files
	for i := range rep.Sources {
		if rep.TrainTokens > 0 {
			rep.Sources[i].Share = float64(rep.Sources[i].TrainTokens) / float64(rep.TrainTokens)
		}
	}
	if drops != nil {
		rep.DedupBytes, rep.DedupBudget, rep.DedupSpill = drops.peak, drops.budget, drops.spilled
	}
	if c.Log != nil {
		rep.Print(c.Log)
	}
	return rep, nil
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%-24s %8s %10s %10s %8s %10s %10s %14s %12s %8s %8s\n", "source", "weight", "docs", "kept", "empty", "exact dup", "near dup", "train tokens", "valid tok", "share", "ended")
	for _, s := range r.Sources {
		fmt.Fprintf(w, "%-24s %8.4f %10d %10d %8d %10d %10d %14d %12d %8.4f %8v\n", s.Name, s.Weight, s.Docs, s.Kept, s.Empty, s.ExactDups, s.NearDups, s.TrainTokens, s.ValidTokens, s.Share, s.Exhausted)
	}
	fmt.Fprintf(w, "train: %d tokens in %d shards; valid: %d tokens in %d shards\n",
		r.TrainTokens, len(r.TrainShards), r.ValidTokens, len(r.ValidShards))
	if r.Dedup {
		fmt.Fprintf(w, "dedup index: peak %.1f MiB of a %.1f MiB budget, %.1f MiB through temporary files\n",
			float64(r.DedupBytes)/(1<<20), float64(r.DedupBudget)/(1<<20), float64(r.DedupSpill)/(1<<20))
	}
}
