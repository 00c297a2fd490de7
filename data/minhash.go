package data

import (
	"math/bits"
	"strings"
)

// Near-duplicate detection: MinHash signatures of word shingles, banded
// for locality-sensitive hashing. A document whose signature shares a band
// with an earlier kept document's is a near duplicate; one whose whole
// text hashes like an earlier's is an exact duplicate.
const (
	shingleWords = 5
	numBands     = 10
	bandRows     = 8
	numHashes    = numBands * bandRows
)

// Threshold is about the Jaccard similarity at which a pair starts to be
// flagged: (1/b)^(1/r) for b bands of r rows (0.75). A pair with similarity
// J is flagged with probability 1-(1-J^r)^b: 0.9 → 0.996, 0.8 → 0.84,
// 0.7 → 0.45, 0.5 → 0.04.
const Threshold = 0.75

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashString is 64-bit FNV-1a, folded through mix64.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

var hashSeeds = func() (s [numHashes]uint64) {
	x := uint64(0x6d696e68617368) // "minhash"
	for i := range s {
		x += 0x9e3779b97f4a7c15
		s[i] = mix64(x)
	}
	return
}()

// Signature is a document's band keys.
type Signature [numBands]uint64

// MinHash computes the band keys of a document: the minimum over its word
// 5-shingles (the whole text when shorter) of numHashes hash functions,
// each band's rows hashed into one key tagged with the band.
func MinHash(text string) Signature {
	words := strings.Fields(text)
	var mins [numHashes]uint64
	for i := range mins {
		mins[i] = ^uint64(0)
	}
	add := func(h uint64) {
		for i, s := range hashSeeds {
			// A cheap independent-ish family: multiply-xorshift of h^seed.
			v := (h ^ s) * 0x9e3779b97f4a7c15
			v ^= v >> 29
			if v < mins[i] {
				mins[i] = v
			}
		}
	}
	if len(words) < shingleWords {
		add(hashString(strings.Join(words, " ")))
	} else {
		hs := make([]uint64, len(words))
		for i, w := range words {
			hs[i] = hashString(w)
		}
		for i := 0; i+shingleWords <= len(words); i++ {
			h := uint64(0)
			for _, x := range hs[i : i+shingleWords] {
				h = bits.RotateLeft64(h, 17) ^ x
			}
			add(mix64(h))
		}
	}
	var sig Signature
	for b := range sig {
		h := uint64(b+1) * 0x9e3779b97f4a7c15
		for _, m := range mins[b*bandRows : (b+1)*bandRows] {
			h = mix64(h ^ m)
		}
		sig[b] = h
	}
	return sig
}

// set64 is an open-addressing set of non-zero uint64 keys: 8 bytes a slot,
// at most half full.
type set64 struct {
	slots []uint64
	n     int
}

func (s *set64) has(k uint64) bool {
	if k == 0 {
		k = 1
	}
	if len(s.slots) == 0 {
		return false
	}
	mask := uint64(len(s.slots) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			return false
		case k:
			return true
		}
	}
}

func (s *set64) add(k uint64) {
	if k == 0 {
		k = 1
	}
	if 2*(s.n+1) > len(s.slots) {
		old := s.slots
		s.slots = make([]uint64, max(1024, 2*len(old)))
		s.n = 0
		for _, v := range old {
			if v != 0 {
				s.insert(v)
			}
		}
	}
	s.insert(k)
}

func (s *set64) insert(k uint64) {
	mask := uint64(len(s.slots) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = k
			s.n++
			return
		case k:
			return
		}
	}
}

// Dedup remembers kept documents in memory (about 260 bytes each); it is
// not safe for concurrent use. Build finds the same verdicts within a
// memory budget with an external index (dedup.go).
type Dedup struct {
	exact set64
	bands set64 // band keys of kept documents (tagged with the band)
}

// Verdict of Dedup.Check.
type Verdict int

const (
	Keep Verdict = iota
	ExactDup
	NearDup
)

func (v Verdict) String() string {
	return [...]string{"keep", "exact duplicate", "near duplicate"}[v]
}

// Check classifies a document (by its text hash and signature) against the
// documents kept so far, and remembers it when kept.
func (d *Dedup) Check(textHash uint64, sig *Signature) Verdict {
	if d.exact.has(textHash) {
		return ExactDup
	}
	for _, k := range sig {
		if d.bands.has(k) {
			return NearDup
		}
	}
	d.exact.add(textHash)
	for _, k := range sig {
		d.bands.add(k)
	}
	return Keep
}

// Bytes is the memory the tables hold.
func (d *Dedup) Bytes() int { return 8 * (len(d.exact.slots) + len(d.bands.slots)) }
