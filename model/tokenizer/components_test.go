package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Component tests with expectations worked out from HF's semantics (the goldens cover the
// components the fixture tokenizers use; these cover the rest and the edge behaviour).

func mustParse(t *testing.T, doc string) *Tokenizer {
	t.Helper()
	tok, err := Parse([]byte(doc), "test.json")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func pieces(ss []*normString) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.normalized
	}
	return out
}

func TestSplitBehaviors(t *testing.T) {
	dash := charPattern(func(r rune) bool { return r == '-' })
	for _, c := range []struct {
		b    splitBehavior
		want []string
	}{
		{splitRemoved, []string{"the", "final", "countdown"}},
		{splitIsolated, []string{"the", "-", "final", "-", "-", "countdown"}},
		{splitMergedWithPrevious, []string{"the-", "final-", "-", "countdown"}},
		{splitMergedWithNext, []string{"the", "-final", "-", "-countdown"}},
		{splitContiguous, []string{"the", "-", "final", "--", "countdown"}},
	} {
		got, err := newNormString("the-final--countdown").splitBy(dash, c.b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pieces(got), c.want) {
			t.Errorf("behavior %d: got %q, want %q", c.b, pieces(got), c.want)
		}
	}
}

func preTokenizeString(t *testing.T, doc, s string) []string {
	t.Helper()
	pre, err := parsePreTokenizer(json.RawMessage(doc))
	if err != nil {
		t.Fatal(err)
	}
	pt := &preTokenized{splits: []pretokSplit{{n: newNormString(s)}}}
	if err := pre.preTokenize(pt); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sp := range pt.splits {
		out = append(out, sp.n.normalized)
	}
	return out
}

func TestPreTokenizers(t *testing.T) {
	for _, c := range []struct {
		doc, in string
		want    []string
	}{
		{`{"type":"Whitespace"}`, "Hey man!  How's it?", []string{"Hey", "man", "!", "How", "'", "s", "it", "?"}},
		{`{"type":"WhitespaceSplit"}`, " Hey\tman!\u3000x ", []string{"Hey", "man!", "x"}},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`, "Hey friend", []string{"▁Hey", "▁friend"}},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true}`, "Hey friend", []string{"Hey", "▁friend"}},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}`, "Hey  friend", []string{"▁Hey▁▁friend"}},
		{`{"type":"Metaspace","replacement":"▁","add_prefix_space":false}`, "a b", []string{"a", "▁b"}},
		{`{"type":"Digits","individual_digits":true}`, "a123b", []string{"a", "1", "2", "3", "b"}},
		{`{"type":"Digits","individual_digits":false}`, "a123b", []string{"a", "123", "b"}},
		{`{"type":"Punctuation","behavior":"Isolated"}`, "a,.b", []string{"a", ",", ".", "b"}},
		{`{"type":"CharDelimiterSplit","delimiter":"_"}`, "a_b__c", []string{"a", "b", "c"}},
		{`{"type":"Split","pattern":{"Regex":"\\d+"},"behavior":"Removed","invert":true}`, "ab12cd345", []string{"12", "345"}},
		{`{"type":"Split","pattern":{"String":"ab"},"behavior":"MergedWithPrevious","invert":false}`, "xabyab", []string{"xab", "yab"}},
		{`{"type":"BertPreTokenizer"}`, "Hello, world!  x", []string{"Hello", ",", "world", "!", "x"}},
		{`{"type":"ByteLevel","add_prefix_space":true,"use_regex":true}`, "Hi  there", []string{"ĠHi", "Ġ", "Ġthere"}},
		{`{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}`, "é x", []string{"Ã©Ġx"}},
	} {
		if got := preTokenizeString(t, c.doc, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s on %q: got %q, want %q", c.doc, c.in, got, c.want)
		}
	}
}

func TestMetaspaceFirstOnlyAtStart(t *testing.T) {
	pre, err := parsePreTokenizer(json.RawMessage(`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first"}`))
	if err != nil {
		t.Fatal(err)
	}
	whole := newNormString("ab cd")
	second, _ := whole.slice(3, 5) // shift 3: not the start of the input
	pt := &preTokenized{splits: []pretokSplit{{n: second}}}
	if err := pre.preTokenize(pt); err != nil {
		t.Fatal(err)
	}
	if got := pt.splits[0].n.normalized; got != "cd" {
		t.Errorf("prepend_scheme first on a later piece: got %q, want \"cd\"", got)
	}
}

func normalizeString(t *testing.T, doc, s string) *normString {
	t.Helper()
	nz, err := parseNormalizer(json.RawMessage(doc))
	if err != nil {
		t.Fatal(err)
	}
	n := newNormString(s)
	if err := nz.normalize(n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNormalizersAndAlignments(t *testing.T) {
	for _, c := range []struct {
		doc, in, want string
		align         []span
	}{
		// "ﬁ" (3 bytes) decomposes to "fi": both characters point at the ligature.
		{`{"type":"NFKC"}`, "ﬁx", "fix", []span{{0, 3}, {0, 3}, {3, 4}}},
		// e + combining acute composes; the composite keeps the alignment of the "e".
		{`{"type":"NFC"}`, "e\u0301!", "é!", []span{{0, 1}, {0, 1}, {3, 4}}},
		{`{"type":"NFD"}`, "é", "e\u0301", []span{{0, 2}, {0, 2}, {0, 2}}},
		{`{"type":"NFKD"}`, "²", "2", []span{{0, 2}}},
		// Rust's to_lowercase: İ becomes two characters.
		{`{"type":"Lowercase"}`, "İX", "i\u0307x", []span{{0, 2}, {0, 2}, {0, 2}, {2, 3}}},
		{`{"type":"Strip","strip_left":true,"strip_right":true}`, "  hi \t", "hi", []span{{2, 3}, {3, 4}}},
		{`{"type":"StripAccents"}`, "e\u0301a", "ea", []span{{0, 1}, {3, 4}}},
		{`{"type":"Replace","pattern":{"Regex":"\\s+"},"content":" "}`, "a \t b", "a b", []span{{0, 1}, {3, 4}, {4, 5}}},
		{`{"type":"Prepend","prepend":"▁"}`, "ab", "▁ab", []span{{0, 1}, {0, 1}, {0, 1}, {0, 1}, {1, 2}}},
		{`{"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"},{"type":"Lowercase"}]}`, "Ça", "ca", []span{{0, 2}, {2, 3}}},
		{`{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true}`,
			"A\u200b中", "a 中 ", []span{{0, 1}, {4, 7}, {4, 7}, {4, 7}, {4, 7}, {4, 7}}},
		{`{"type":"Nmt"}`, "a\x01\tb", "a b", []span{{0, 1}, {2, 3}, {3, 4}}},
	} {
		n := normalizeString(t, c.doc, c.in)
		if n.normalized != c.want || !reflect.DeepEqual(n.align, c.align) {
			t.Errorf("%s on %q:\n got  %q %v\n want %q %v", c.doc, c.in, n.normalized, n.align, c.want, c.align)
		}
	}
}

func TestDecoders(t *testing.T) {
	for _, c := range []struct {
		doc  string
		in   []string
		want string
	}{
		{`{"type":"ByteFallback"}`, []string{"<0xE2>", "<0x82>", "<0xAC>", "x"}, "€x"},
		{`{"type":"ByteFallback"}`, []string{"<0xE2>", "<0x82>", "y", "<0x41>"}, "\ufffd\ufffdyA"},
		{`{"type":"ByteLevel"}`, []string{"Hello", "Ġw", "Ã©", "âĤ"}, "Hello wé\ufffd"},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"always"}`, []string{"▁Hey", "▁friend"}, "Hey friend"},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"never"}`, []string{"▁Hey", "▁friend"}, " Hey friend"},
		// cleanup runs per token, so " do not" spanning two tokens is left alone
		{`{"type":"WordPiece","prefix":"##","cleanup":true}`, []string{"i", "do", "not", "like", "it", "##s", ".", "?"}, "i do not like its.?"},
		{`{"type":"Strip","content":"x","start":2,"stop":1}`, []string{"xxxaxx"}, "xax"},
		{`{"type":"BPEDecoder","suffix":"</w>"}`, []string{"hel", "lo</w>", "there</w>"}, "hello there"},
		{`{"type":"CTC","pad_token":"<pad>","word_delimiter_token":"|","cleanup":true}`, []string{"h", "h", "<pad>", "i", "|", "y", "o", "o"}, "hi yo"},
		{`{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}`,
			[]string{"▁a", "b", "▁c"}, "ab c"},
	} {
		d, err := parseDecoder(json.RawMessage(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		out, err := d.decodeChain(append([]string(nil), c.in...))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(out, ""); got != c.want {
			t.Errorf("%s on %q: got %q, want %q", c.doc, c.in, got, c.want)
		}
	}
}

func TestLossyUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"abc":          "abc",
		"a\xffb":       "a\ufffdb",
		"\xe2\x82":     "\ufffd",       // truncated sequence: one replacement
		"\xe2\x82x":    "\ufffdx",      //
		"\xf0\x80":     "\ufffd\ufffd", // F0 80 can never start a valid sequence
		"\xed\xa0\x80": "\ufffd\ufffd\ufffd",
		"\xf4\x90\x80": "\ufffd\ufffd\ufffd",
		"\xc3":         "\ufffd",
	} {
		if got := lossyUTF8([]byte(in)); got != want {
			t.Errorf("lossyUTF8(%q) = %q, want %q", in, got, want)
		}
	}
}

const wordLevelDoc = `{
  "added_tokens": [
    {"id": 4, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
    {"id": 5, "content": "<m>", "special": true, "normalized": false, "lstrip": true, "rstrip": false, "single_word": false},
    {"id": 6, "content": "[w]", "special": false, "normalized": false, "lstrip": false, "rstrip": true, "single_word": true}
  ],
  "pre_tokenizer": {"type": "WhitespaceSplit"},
  "post_processor": {"type": "TemplateProcessing", "single": "<s> $A", "pair": "<s> $A $B:1", "special_tokens": {"<s>": {"id": "<s>", "ids": [4], "tokens": ["<s>"]}}},
  "model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {"<unk>": 0, "ab": 1, "cd": 2, "x": 3}}
}`

func TestAddedTokenOptions(t *testing.T) {
	tok := mustParse(t, wordLevelDoc)
	for _, c := range []struct {
		in      string
		ids     []int
		tokens  []string
		offsets [][2]int
	}{
		// lstrip: the token takes the spaces before it
		{"ab  <m> cd", []int{1, 5, 2}, []string{"ab", "  <m>", "cd"}, [][2]int{{0, 2}, {2, 7}, {8, 10}}},
		// single_word: not matched inside a word
		{"x[w]x [w]  cd", []int{0, 6, 2}, []string{"<unk>", "[w]  ", "cd"}, [][2]int{{0, 5}, {6, 11}, {11, 13}}},
		{"<s>x", []int{4, 3}, []string{"<s>", "x"}, [][2]int{{0, 3}, {3, 4}}},
	} {
		enc, err := tok.Encode(c.in, false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(enc.IDs, c.ids) || !reflect.DeepEqual(enc.Tokens, c.tokens) || !reflect.DeepEqual(enc.Offsets, c.offsets) {
			t.Errorf("%q: got %v %q %v, want %v %q %v", c.in, enc.IDs, enc.Tokens, enc.Offsets, c.ids, c.tokens, c.offsets)
		}
	}
	if n := tok.VocabSize(); n != 7 {
		t.Errorf("VocabSize = %d, want 7", n)
	}
	if id, ok := tok.TokenToID("<m>"); !ok || id != 5 {
		t.Errorf("TokenToID(<m>) = %d %v", id, ok)
	}
	if s, ok := tok.IDToToken(2); !ok || s != "cd" {
		t.Errorf("IDToToken(2) = %q %v", s, ok)
	}
	if _, err := tok.Decode([]int{1, 99}, false); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("Decode out of range: err = %v", err)
	}
	if s, err := tok.Decode([]int{4, 1, 6, 2}, true); err != nil || s != "ab [w] cd" {
		t.Errorf("Decode skip special = %q, %v", s, err)
	}
}

// HF (and so this package) ignores the ids that tokenizer.json gives tokens that are not in the
// model vocab: they get the next free ids in file order. A disagreement is reported in Warnings.
func TestAddedTokenIDsAreAssigned(t *testing.T) {
	tok := mustParse(t, `{"added_tokens": [{"id": 10, "content": "<x>", "special": true}],
	  "model": {"type": "WordLevel", "unk_token": "u", "vocab": {"u": 0, "a": 1}}}`)
	if id, _ := tok.TokenToID("<x>"); id != 2 {
		t.Errorf("id = %d, want 2", id)
	}
	if w := tok.Warnings(); len(w) != 1 || !strings.Contains(w[0], "<x>") {
		t.Errorf("Warnings() = %q", w)
	}
}

func TestInvalidUTF8(t *testing.T) {
	tok := mustParse(t, wordLevelDoc)
	in := "ab \xff\xfe cd\xe2\x82"
	enc, err := tok.Encode(in, false)
	if err != nil {
		t.Fatal(err)
	}
	// \xff and \xfe are two maximal invalid subsequences -> two U+FFFD; \xe2\x82 is one.
	wantTok := []string{"ab", "<unk>", "<unk>"}
	wantOff := [][2]int{{0, 2}, {3, 5}, {6, 10}}
	if !reflect.DeepEqual(enc.Tokens, wantTok) || !reflect.DeepEqual(enc.Offsets, wantOff) {
		t.Fatalf("got %q %v, want %q %v", enc.Tokens, enc.Offsets, wantTok, wantOff)
	}
	if in[6:10] != "cd\xe2\x82" {
		t.Fatal("offsets must index the original bytes")
	}
}

func TestBOSPolicy(t *testing.T) {
	tok := mustParse(t, wordLevelDoc)
	if id, ok := tok.BOS(); !ok || id != 4 {
		t.Fatalf("BOS() = %d %v, want 4 true", id, ok)
	}
	for _, c := range []struct {
		in   string
		p    BOSPolicy
		bos  int
		want []int
	}{
		{"ab", BOSAuto, -1, []int{4, 1}},
		{"ab", BOSNever, -1, []int{1}},
		{"ab", BOSAlways, -1, []int{4, 1}},
		{"<s> ab", BOSNever, -1, []int{4, 1}}, // the typed <s> stays
		{"ab", BOSAlways, 3, []int{3, 4, 1}},
	} {
		enc, err := tok.EncodeWithBOS(c.in, c.p, c.bos)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(enc.IDs, c.want) || len(enc.Tokens) != len(c.want) || len(enc.Offsets) != len(c.want) || len(enc.SpecialMask) != len(c.want) {
			t.Errorf("%q %v bos=%d: got %v, want %v", c.in, c.p, c.bos, enc.IDs, c.want)
		}
	}
	noBOS := mustParse(t, `{"model":{"type":"WordLevel","unk_token":"u","vocab":{"u":0,"a":1}}}`)
	if _, err := noBOS.EncodeWithBOS("a", BOSAlways, -1); err == nil || !strings.Contains(err.Error(), "--bos always") {
		t.Errorf("always without BOS: err = %v", err)
	}
	if enc, err := noBOS.EncodeWithBOS("a", BOSNever, -1); err != nil || !reflect.DeepEqual(enc.IDs, []int{1}) {
		t.Errorf("never without BOS: %v %v", enc.IDs, err)
	}
	for _, s := range []string{"auto", "always", "never"} {
		p, err := ParseBOSPolicy(s)
		if err != nil || p.String() != s {
			t.Errorf("ParseBOSPolicy(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParseBOSPolicy("sometimes"); err == nil || !strings.Contains(err.Error(), "--bos") {
		t.Errorf("ParseBOSPolicy(sometimes): err = %v", err)
	}
}

func TestModelInference(t *testing.T) {
	for doc, want := range map[string]string{
		`{"model":{"vocab":[["<unk>",0],["a",-1]],"unk_id":0}}`:                                      "*tokenizer.unigram",
		`{"model":{"vocab":{"a":0,"[UNK]":1},"unk_token":"[UNK]","continuing_subword_prefix":"##"}}`: "*tokenizer.wordPiece",
		`{"model":{"vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`:                                  "*tokenizer.bpe",
		`{"model":{"vocab":{"a":0},"unk_token":"a"}}`:                                                "*tokenizer.wordLevel",
	} {
		tok := mustParse(t, doc)
		if got := reflect.TypeOf(tok.model).String(); got != want {
			t.Errorf("%s: model %s, want %s", doc, got, want)
		}
	}
}

func TestBPEMergePairForms(t *testing.T) {
	for _, merges := range []string{`["a b", "ab c"]`, `[["a","b"],["ab","c"]]`} {
		tok := mustParse(t, `{"model":{"type":"BPE","vocab":{"a":0,"b":1,"c":2,"ab":3,"abc":4},"merges":`+merges+`}}`)
		enc, err := tok.Encode("abcab", false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(enc.IDs, []int{4, 3}) {
			t.Errorf("merges %s: got %v, want [4 3]", merges, enc.IDs)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for doc, want := range map[string][]string{
		`{"normalizer":{"type":"Fancy"},"model":{"vocab":{"a":0},"unk_token":"a"}}`:                                                                       {"bad.json", `normalizer type "Fancy"`},
		`{"pre_tokenizer":{"type":"UnicodeScripts"},"model":{"vocab":{"a":0},"unk_token":"a"}}`:                                                           {"bad.json", `pre_tokenizer type "UnicodeScripts"`},
		`{"decoder":{"type":"Sequence","decoders":[{"type":"Nope"}]},"model":{"vocab":{"a":0},"unk_token":"a"}}`:                                          {"decoder Sequence[0]", `"Nope"`},
		`{"post_processor":{"type":"Mystery"},"model":{"vocab":{"a":0},"unk_token":"a"}}`:                                                                 {`post_processor type "Mystery"`},
		`{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}}`:                                                                                 {`merged token "ab" is not in the vocab`},
		`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a zz"]}}`:                                                                                      {`token "zz" is not in the vocab`},
		`{"model":{"type":"Magic","vocab":{}}}`:                                                                                                           {`model type "Magic"`},
		`{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"dropout":0.1}}`:                                                                              {"dropout"},
		`{"post_processor":{"type":"TemplateProcessing","single":"<x> $A","pair":"$A $B","special_tokens":{}},"model":{"vocab":{"a":0},"unk_token":"a"}}`: {`"<x>"`},
		`not json`: {"bad.json", "not a tokenizer.json"},
		`{}`:       {`no "model"`},
	} {
		_, err := Parse([]byte(doc), "bad.json")
		if err == nil {
			t.Errorf("%s: no error", doc)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", doc, err, w)
			}
		}
	}
	missing := filepath.Join(t.TempDir(), "nope", "tokenizer.json")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing): err = %v", err)
	}
	bad := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(bad, []byte(`{"model":{"type":"Nope"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("Load(bad): err = %v", err)
	}
}

func TestTruncationAndPadding(t *testing.T) {
	tok := mustParse(t, `{
	  "truncation": {"max_length": 3, "strategy": "LongestFirst", "direction": "Right", "stride": 0},
	  "padding": {"strategy": {"Fixed": 5}, "direction": "Left", "pad_id": 0, "pad_type_id": 0, "pad_token": "<pad>", "pad_to_multiple_of": null},
	  "pre_tokenizer": {"type": "WhitespaceSplit"},
	  "post_processor": {"type": "BertProcessing", "sep": ["</s>", 2], "cls": ["<s>", 1]},
	  "model": {"type": "WordLevel", "unk_token": "<pad>", "vocab": {"<pad>": 0, "<s>": 1, "</s>": 2, "a": 3, "b": 4, "c": 5}}}`)
	enc, err := tok.Encode("a b c a", true)
	if err != nil {
		t.Fatal(err)
	}
	// 3 - 2 special tokens leaves one sequence token; then left padding to 5
	if want := []int{0, 0, 1, 3, 2}; !reflect.DeepEqual(enc.IDs, want) {
		t.Errorf("with specials: got %v, want %v", enc.IDs, want)
	}
	if want := []bool{true, true, true, false, true}; !reflect.DeepEqual(enc.SpecialMask, want) {
		t.Errorf("mask: got %v, want %v", enc.SpecialMask, want)
	}
	enc, err = tok.Encode("a b c a", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 0, 3, 4, 5}; !reflect.DeepEqual(enc.IDs, want) {
		t.Errorf("without specials: got %v, want %v", enc.IDs, want)
	}
}

func TestByteLevelTrimOffsets(t *testing.T) {
	// RoBERTa-style: ByteLevel pre-tokenizer with prefix space, offsets trimmed by the
	// post-processor.
	tok := mustParse(t, `{
	  "added_tokens": [
	    {"id": 0, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
	    {"id": 2, "content": "</s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}],
	  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
	  "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": true, "add_prefix_space": true},
	  "decoder": {"type": "ByteLevel"},
	  "model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 2, "Ġ": 3, "h": 4, "i": 5, "Ġh": 6, "Ġhi": 7}, "merges": ["Ġ h", "Ġh i"]}}`)
	enc, err := tok.Encode("hi  hi", true)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []int{0, 7, 3, 7, 2}
	wantOff := [][2]int{{0, 0}, {0, 2}, {3, 3}, {4, 6}, {0, 0}}
	if !reflect.DeepEqual(enc.IDs, wantIDs) || !reflect.DeepEqual(enc.Offsets, wantOff) {
		t.Errorf("got %v %v, want %v %v", enc.IDs, enc.Offsets, wantIDs, wantOff)
	}
	if s, _ := tok.Decode(enc.IDs, true); s != " hi  hi" {
		t.Errorf("decode = %q", s)
	}
}

func TestUnigramTiny(t *testing.T) {
	tok := mustParse(t, `{
	  "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
	  "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
	  "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0], ["▁ab", -1], ["▁a", -1.5], ["b", -1.5], ["c", -3], ["▁", -2]]}}`)
	enc, err := tok.Encode("ab abc xyz", false)
	if err != nil {
		t.Fatal(err)
	}
	// "▁ab" (-1) beats "▁a"+"b" (-3); unknown characters are fused into one <unk> piece
	wantTok := []string{"▁ab", "▁ab", "c", "▁", "xyz"}
	wantIDs := []int{1, 1, 4, 5, 0}
	if !reflect.DeepEqual(enc.Tokens, wantTok) || !reflect.DeepEqual(enc.IDs, wantIDs) {
		t.Errorf("got %q %v, want %q %v", enc.Tokens, enc.IDs, wantTok, wantIDs)
	}
	if want := [][2]int{{0, 2}, {2, 5}, {5, 6}, {6, 7}, {7, 10}}; !reflect.DeepEqual(enc.Offsets, want) {
		t.Errorf("offsets %v, want %v", enc.Offsets, want)
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := loadFixtureTokenizer(t, "gpt2")
	text := prose(20_000)
	want, err := tok.Encode(text, false)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			got, err := tok.Encode(text, false)
			if err == nil && !reflect.DeepEqual(got.IDs, want.IDs) {
				err = errorString("concurrent encode differs")
			}
			done <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestFixturesLoadWithoutWarnings(t *testing.T) {
	for name := range goldenTokenizers {
		if w := loadFixtureTokenizer(t, name).Warnings(); len(w) > 0 {
			t.Errorf("%s: %q", name, w)
		}
	}
}
