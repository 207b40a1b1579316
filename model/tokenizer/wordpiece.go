package tokenizer

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// wordPiece is HF's WordPiece model: greedy longest-match-first over the vocab.
type wordPiece struct {
	*vocab
	unk      string
	prefix   string
	maxChars int
}

func parseWordPiece(raw json.RawMessage) (*wordPiece, error) {
	var v struct {
		Unk      *string        `json:"unk_token"`
		Prefix   *string        `json:"continuing_subword_prefix"`
		MaxChars *int           `json:"max_input_chars_per_word"`
		Vocab    map[string]int `json:"vocab"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model WordPiece: %v", err)
	}
	if v.Vocab == nil {
		return nil, fmt.Errorf("model WordPiece: missing vocab")
	}
	voc, err := newVocab(v.Vocab)
	if err != nil {
		return nil, fmt.Errorf("model WordPiece: %v", err)
	}
	w := &wordPiece{vocab: voc, unk: "[UNK]", prefix: "##", maxChars: 100}
	if v.Unk != nil {
		w.unk = *v.Unk
	}
	if v.Prefix != nil {
		w.prefix = *v.Prefix
	}
	if v.MaxChars != nil {
		w.maxChars = *v.MaxChars
	}
	return w, nil
}

func (w *wordPiece) unkToken(word string) ([]token, error) {
	id, ok := w.toID[w.unk]
	if !ok {
		return nil, fmt.Errorf("WordPiece unk_token %q is not in the vocab", w.unk)
	}
	return []token{{id, w.unk, 0, len(word)}}, nil
}

func (w *wordPiece) tokenize(word string) ([]token, error) {
	if utf8.RuneCountInString(word) > w.maxChars {
		return w.unkToken(word)
	}
	var out []token
	start := 0
	for start < len(word) {
		end := len(word)
		found := false
		for start < end {
			sub := word[start:end]
			if start > 0 {
				sub = w.prefix + sub
			}
			if id, ok := w.toID[sub]; ok {
				out = append(out, token{id, w.toTok[id], start, end})
				found = true
				break
			}
			_, size := utf8.DecodeLastRuneInString(sub)
			if size == 0 {
				size = 1
			}
			end -= size
		}
		if !found {
			return w.unkToken(word)
		}
		start = end
	}
	return out, nil
}

func (w *wordPiece) unknownID() (int, bool) {
	id, ok := w.toID[w.unk]
	return id, ok
}
