package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/neuronscope/neuronscope/internal/fixtures"
)

// fuzzSeedTokenizers are small tokenizer.json documents covering every component type.
var fuzzSeedTokenizers = []string{
	`{"model":{"type":"WordLevel","vocab":{"a":0,"<unk>":1},"unk_token":"<unk>"}}`,
	`{"added_tokens":[{"id":3,"content":"<s>","special":true,"lstrip":true,"rstrip":true,"single_word":true,"normalized":false}],
	  "normalizer":{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"},{"type":"StripAccents"},{"type":"Strip","strip_left":true,"strip_right":true},{"type":"Replace","pattern":{"Regex":"\\s+"},"content":" "},{"type":"Prepend","prepend":"_"},{"type":"Nmt"},{"type":"NFD"},{"type":"NFC"},{"type":"NFKD"}]},
	  "pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Whitespace"},{"type":"WhitespaceSplit"},{"type":"Punctuation","behavior":"Contiguous"},{"type":"Digits","individual_digits":true},{"type":"Split","pattern":{"String":"-"},"behavior":"MergedWithNext","invert":false},{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},{"type":"CharDelimiterSplit","delimiter":"x"},{"type":"BertPreTokenizer"}]},
	  "post_processor":{"type":"Sequence","processors":[{"type":"ByteLevel","trim_offsets":true},{"type":"RobertaProcessing","sep":["</s>",2],"cls":["<s>",3],"trim_offsets":true,"add_prefix_space":true}]},
	  "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":1},{"type":"Metaspace","replacement":"▁","add_prefix_space":true},{"type":"CTC"},{"type":"BPEDecoder","suffix":"</w>"},{"type":"WordPiece","prefix":"##","cleanup":true}]},
	  "model":{"type":"BPE","unk_token":"u","fuse_unk":true,"byte_fallback":true,"vocab":{"u":0,"a":1,"b":2,"ab":3,"<0x41>":4},"merges":["a b"]}}`,
	`{"normalizer":{"type":"BertNormalizer"},"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":true,"use_regex":false},
	  "post_processor":{"type":"BertProcessing","sep":["[SEP]",1],"cls":["[CLS]",0]},"decoder":{"type":"ByteLevel"},
	  "truncation":{"max_length":4,"strategy":"LongestFirst","direction":"Left","stride":0},
	  "padding":{"strategy":{"Fixed":6},"direction":"Right","pad_id":0,"pad_type_id":0,"pad_token":"[CLS]","pad_to_multiple_of":null},
	  "model":{"unk_token":"[UNK]","continuing_subword_prefix":"##","vocab":{"[CLS]":0,"[SEP]":1,"[UNK]":2,"a":3,"##b":4}}}`,
	`{"pre_tokenizer":{"type":"Metaspace","replacement":"▁","add_prefix_space":true},"decoder":{"type":"Metaspace","replacement":"▁","add_prefix_space":true},
	  "post_processor":{"type":"TemplateProcessing","single":"$A </s>","pair":"$A </s> $B:1 </s>:1","special_tokens":{"</s>":{"id":"</s>","ids":[1],"tokens":["</s>"]}}},
	  "model":{"unk_id":0,"vocab":[["<unk>",0],["</s>",0],["▁a",-1.5],["b",-2],["▁",-3]]}}`,
}

func FuzzLoad(f *testing.F) {
	for _, s := range fuzzSeedTokenizers {
		f.Add([]byte(s))
	}
	if root := fixtures.Root(); root != "" {
		for _, p := range []string{"aidreams260k-llama/tokenizer.json", "tiny-gpt2-cicd/tokenizer.json",
			"tokenizers/t5-small/tokenizer.json", "tokenizers/bert-base-uncased/tokenizer.json", "tokenizers/falcon/tokenizer.json"} {
			data, err := os.ReadFile(filepath.Join(root, p))
			if err != nil {
				continue
			}
			// truncated copies: the fuzzer works on small inputs
			for _, n := range []int{64, 700, 4096} {
				if n < len(data) {
					f.Add(data[:n])
				}
			}
			if len(data) < 20000 {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Parse(data, "fuzz.json")
		if err != nil {
			return
		}
		for _, s := range []string{"", "a b", "Hello <s> world! 123 ab\xff", "   ", "é\u0301 x-y"} {
			enc, err := tok.Encode(s, true)
			if err != nil {
				continue
			}
			if n := len(enc.IDs); len(enc.Tokens) != n || len(enc.Offsets) != n || len(enc.SpecialMask) != n {
				t.Fatalf("%q: %d ids, %d tokens, %d offsets, %d mask", s, n, len(enc.Tokens), len(enc.Offsets), len(enc.SpecialMask))
			}
			_, _ = tok.Decode(enc.IDs, false)
			_, _ = tok.Decode(enc.IDs, true)
		}
		_, _ = tok.Decode([]int{-1, 0, 1 << 30}, false)
	})
}

// FuzzRoundTrip: byte-level BPE (GPT-2) decodes any valid UTF-8 string back to itself.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "Hello world", "  leading", "tab\tsep", "emoji 👩\u200d💻", "<|endoftext|>x",
		"\x00\x7f", "é\u0301", "中文 English", "it's 'S", "\r\n\r\n", "\ufffd"} {
		f.Add(s)
	}
	root := fixtures.Root()
	if root == "" {
		f.Skip("shared fixtures not found (expected ../shared/fixtures beside the repository)")
	}
	tok, err := Load(filepath.Join(root, goldenTokenizers["gpt2"]))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		enc, err := tok.Encode(s, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tok.Decode(enc.IDs, false)
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Fatalf("round trip %q -> %v -> %q", s, enc.IDs, got)
		}
		prev := 0
		for i, o := range enc.Offsets {
			if o[0] < prev || o[1] < o[0] || o[1] > len(s) {
				t.Fatalf("%q: token %d %q has offsets %v (previous end %d)", s, i, enc.Tokens[i], o, prev)
			}
			prev = o[0]
		}
	})
}
