// Package tokenizer is a pure-Go implementation of Hugging Face tokenizer.json files that
// produces the same ids, tokens, offsets and decoded text as the Hugging Face `tokenizers`
// library (checked against the library's own output on ~300 hard strings for GPT-2, Llama
// byte-fallback, Phi-2, Phi-3, Falcon, T5 and BERT tokenizers).
//
//	tok, err := tokenizer.Load("model/tokenizer.json")
//	enc, err := tok.Encode("Hello world", true) // add_special_tokens=true
//	text, err := tok.Decode(enc.IDs, false)
//
// # Pipeline
//
// Encode runs HF's pipeline: added tokens are split out of the raw input (those with
// normalized=false), the rest is normalized, added tokens with normalized=true are split out of
// the normalized text, the pre-tokenizer splits the remainder into words, the model turns each
// word into tokens, and the post-processor adds special tokens. Truncation and padding from
// tokenizer.json are applied as HF applies them to a single sequence.
//
// # Supported components
//
// Models (the "type" may be absent, as in bert-base-uncased and t5-small; it is then inferred:
// a list vocab is Unigram, "merges" means BPE, continuing_subword_prefix or
// max_input_chars_per_word means WordPiece, anything else WordLevel):
//   - BPE: byte-level (GPT-2) and SentencePiece style (byte_fallback, unk_token, fuse_unk),
//     continuing_subword_prefix, end_of_word_suffix, ignore_merges, merges as "a b" strings or
//     [a, b] pairs. Merging uses a rank-ordered heap (O(n log n) per word) and a word cache.
//     dropout other than 0/null is rejected (it makes encoding random).
//   - WordPiece, WordLevel, Unigram (Viterbi, unknown characters fused, byte_fallback).
//
// Normalizers: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Prepend, Replace (String
// or Regex pattern), BertNormalizer, Nmt, ByteLevel, Precompiled (SentencePiece's darts
// double-array charsmap, as in T5) and Sequence.
//
// Pre-tokenizers: ByteLevel (add_prefix_space, use_regex), Split (String or Regex pattern,
// behaviours Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous; invert),
// Metaspace (replacement, prepend_scheme always/first/never or the legacy add_prefix_space,
// split), Whitespace, WhitespaceSplit, BertPreTokenizer, Digits, Punctuation,
// CharDelimiterSplit and Sequence.
//
// Post-processors: TemplateProcessing, ByteLevel (trim_offsets), BertProcessing,
// RobertaProcessing and Sequence.
//
// Decoders: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, WordPiece, BPEDecoder,
// CTC and Sequence.
//
// Added tokens support special, normalized, lstrip, rstrip and single_word; matching is
// leftmost-longest. As in HF, an added token that is not in the model vocab gets the next free
// id in file order, whatever id tokenizer.json writes next to it (Warnings reports a
// disagreement).
//
// A component type this package does not know (for example the UnicodeScripts
// pre-tokenizer) is an error naming the type and the file; no step is ever skipped.
//
// Regular expressions (Split, Replace) are Oniguruma patterns in HF; they run here on
// github.com/dlclark/regexp2 with Oniguruma's match iteration, and the GPT-2 pattern of the
// ByteLevel pre-tokenizer on a hand-written scanner checked against the regex engine.
// Character classes follow Go's Unicode tables (Unicode 15).
//
// # Offsets
//
// Encoding.Offsets are UTF-8 byte offsets [start, end) into the string given to Encode (HF
// returns code point offsets; the byte offsets here are the same positions). They follow HF's
// alignment tracking exactly: a token made from part of a character (a byte-level or
// byte-fallback token) covers the whole character, text inserted by a normalizer (a prepended
// "▁") points at the character it was inserted before, and tokens added by the post-processor
// have [0, 0]. Offsets are not always increasing (HF's are not either: with Prepend, "▁" and
// the first letter share their offsets).
//
// Encoding.SpecialMask is HF's special_tokens_mask: true for the tokens the post-processor
// (or padding) added. An added special token written in the text itself (such as
// "<|endoftext|>" in the input) is a normal position, false, exactly as in HF.
//
// # Invalid UTF-8
//
// Encode accepts any bytes. Invalid UTF-8 is replaced the way Rust's String::from_utf8_lossy
// does it (each maximal invalid subsequence becomes one U+FFFD) before tokenization, so the
// tokens are those of the repaired text; the offsets still index the original bytes (a token
// made from a replacement character spans the invalid bytes it replaced). Decode output is
// always valid UTF-8: byte sequences that do not form characters become U+FFFD, as in HF.
//
// # BOS policy
//
// BOS reports the id the post-processor puts before the text (Llama <s>, BERT [CLS]); GPT-2
// and T5 have none. EncodeWithBOS makes the beginning of sequence explicit: BOSAuto is HF
// (add_special_tokens=true), BOSAlways makes sure the first id is the BOS id (given, or BOS()),
// prepending it when missing and failing when no BOS is known, and BOSNever removes a BOS the
// post-processor added (a literal "<s>" typed in the text is kept). ApplyBOS applies a policy
// to an existing encoding.
//
// # Concurrency and limits
//
// A Tokenizer is safe for concurrent use. Only single sequences are encoded (no pairs).
package tokenizer
