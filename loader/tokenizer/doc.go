// Package tokenizer is the text tokenizer of GGUF models, written to give
// the same token ids as llama.cpp in the BitNet fork that bitnet.cpp builds
// (Eddie-Wang1120/llama.cpp 40ed0f29, src/llama-vocab.cpp and
// src/unicode.cpp of autumn 2024), token for token.
//
// Two models are supported, chosen by tokenizer.ggml.model:
//
//   - "llama", SentencePiece (SPM): characters merge pairwise by the score
//     of the joined piece; spaces become "▁" and a space is put in front
//     (add_space_prefix); pieces that are no token fall back to "<0xNN>"
//     byte tokens.
//   - "gpt2", byte-level BPE: the text is split into pre-tokens by the
//     regex set that tokenizer.ggml.pre names, each pre-token is mapped
//     through GPT-2's byte-to-unicode table and merged by merge rank.
//
// The pre-tokenizers are hand-written splitters over Unicode categories,
// not regular expressions. llama.cpp does the same for the GPT-2 and
// Llama-3 regexes (unicode_regex_split_custom_*), and its results differ
// from a true regex engine in corner cases, so porting its splitters is
// what matches it; the other regexes of a set ("default" has four, applied
// one after the other to the pieces of the one before) are simple
// character-class splits. Categories come from Go's unicode package
// (Unicode 15.0) plus the few 15.1 additions that llama.cpp's table has.
// A file without tokenizer.ggml.pre gets llama.cpp's "default" set, as the
// official BitNet 2B4T file does in bitnet.cpp; Options.Pre overrides the
// key (say "llama-bpe" for the Llama-3 split that vocabulary was made for).
//
// Decoding follows llama_token_to_piece and llama_detokenize; StreamDecoder
// emits text token by token without splitting UTF-8 characters.
//
// # Why not tiktoken-go
//
// github.com/pkoukk/tiktoken-go implements OpenAI's tiktoken: byte-pair
// merging where the priority of a pair is the rank (id) of the merged
// token, for a fixed set of encodings (cl100k_base, o200k_base, ...) whose
// rank files it loads by name, with the split done by one regexp2 pattern.
// It does not fit here: llama.cpp merges pairs by their position in
// tokenizer.ggml.merges, a list the file carries and that need not follow
// token ids (the 4096-token Llama-3 cut of the golden models keeps 6,374
// merges for 4,080 ordinary tokens, so some merges make strings that are no
// token, which a rank-by-token-id scheme cannot express); the "default" split is four regexes applied in
// sequence with llama.cpp's own keep-the-gaps semantics, and the Llama-3
// split is llama.cpp's hand-written approximation, neither of which one
// tiktoken pattern reproduces; and it has no SentencePiece, no
// ignore_merges, no llama.cpp special-token partitioning, and would load
// vocabularies from its own files rather than from GGUF metadata. Matching
// the fork exactly needs the algorithms above; they are short, and with
// hand-written splitters and a word cache they encode TinyStories text at
// tens of MB/s. So neither tiktoken-go nor regexp2 is used.
package tokenizer
