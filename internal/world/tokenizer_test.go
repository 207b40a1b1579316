package world

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// TestTokenizerRoundTrip: every train and eval sentence encodes to <bos> and exactly its
// words, never <unk>, and decodes back; a prompt's answer is one token.
func TestTokenizerRoundTrip(t *testing.T) {
	w := gen(t, DefaultConfig())
	data, err := w.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if m := raw["model"].(map[string]any); m["type"] != "WordLevel" || m["unk_token"] != "<unk>" {
		t.Fatalf("model %v", m["type"])
	}
	tok, err := tokenizer.Parse(data, "world tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Warnings()) != 0 {
		t.Errorf("warnings: %v", tok.Warnings())
	}
	if bos, ok := tok.BOS(); !ok || bos != BOSID {
		t.Fatalf("BOS %d %v", bos, ok)
	}
	for id, s := range specialTokens {
		if got, ok := tok.TokenToID(s); !ok || got != id {
			t.Fatalf("%s has id %d", s, got)
		}
	}
	if tok.VocabSize() != w.Stats().VocabSize {
		t.Fatalf("vocab size %d, stats %d", tok.VocabSize(), w.Stats().VocabSize)
	}
	check := func(text string) {
		enc, err := tok.Encode(text, true)
		if err != nil {
			t.Fatal(err)
		}
		words := strings.Fields(text)
		if len(enc.IDs) != len(words)+1 || enc.IDs[0] != BOSID {
			t.Fatalf("%q → %v", text, enc.Tokens)
		}
		for i, word := range words {
			if enc.Tokens[i+1] != word || enc.IDs[i+1] == UnkID {
				t.Fatalf("%q: token %d is %q, want %q", text, i+1, enc.Tokens[i+1], word)
			}
		}
		if s, err := tok.Decode(enc.IDs, true); err != nil || s != text {
			t.Fatalf("decode %q, want %q (%v)", s, text, err)
		}
		if s, _ := tok.Decode(enc.IDs, false); s != "<bos> "+text {
			t.Fatalf("decode with specials %q", s)
		}
	}
	seen := map[string]bool{}
	for _, s := range w.Train {
		if !seen[s.Text] {
			seen[s.Text] = true
			check(s.Text)
		}
	}
	for _, e := range w.EvalFacts {
		check(e.Prompt + " " + e.Answer)
		if enc, _ := tok.Encode(e.Answer, false); len(enc.IDs) != 1 {
			t.Fatalf("answer %q is %d tokens", e.Answer, len(enc.IDs))
		}
	}
	for _, e := range w.EvalFluency {
		check(e.Text)
	}
	if enc, _ := tok.Encode("Zzzqq", false); len(enc.IDs) != 1 || enc.IDs[0] != UnkID {
		t.Fatalf("unknown word → %v", enc.IDs)
	}
}
