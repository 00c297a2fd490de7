// Package data turns text corpora into token shards for training: Open
// streams documents from .txt, .jsonl and Parquet files (.gz/.zst
// compressed too), Build normalizes, deduplicates, tokenizes and mixes
// them and writes shards in the trainer's format (WriteShard, OpenShard).
//
// Build's memory is bounded by its configuration, not by the corpus: the
// readers and tokenizing workers hold a bounded number of batches, the
// writer one shard (Config.ShardTokens), and deduplication its budget
// (Config.DedupMem).
//
// Deduplication (exact: a 64-bit hash of the normalized text; near: MinHash
// of word 5-shingles in 10 bands of 8 rows) keeps, of documents alike, the
// first in source order and drops the others: the verdicts of Dedup.Check
// over the documents of the sources in turn. With dedup on, Build reads
// the inputs twice (reopening them, compressed or not):
//
//  1. The first pass computes each document's keys (its text hash and its
//     band keys) and finds the verdicts with an external index: the key
//     records are sorted in runs that spill to temporary files when the
//     budget is full, merged, and the documents sharing a key are chained
//     in document order; a message travels along each chain from the
//     first kept member, in document order (time-forward processing with
//     a priority queue that spills as well), and a document that a message
//     reaches is a duplicate. The dropped documents go to a temporary file
//     in order. The verdicts do not depend on the budget (dedup.go has the
//     details and the argument).
//  2. The second pass tokenizes and mixes as without dedup and skips the
//     dropped documents, reading the drop file once per source.
//
// Temporary files live in a fresh directory under Config.TempDir and are
// removed when Build returns, by success, error or cancellation
// (Config.Context). A source that yields a different number of documents
// the second time is an error.
package data
