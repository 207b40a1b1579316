package tokenizer

import (
	"encoding/json"
	"fmt"
)

// wordLevel is HF's WordLevel model: one token per word, or the unk token.
type wordLevel struct {
	*vocab
	unk string
}

func parseWordLevel(raw json.RawMessage) (*wordLevel, error) {
	var v struct {
		Unk   *string        `json:"unk_token"`
		Vocab map[string]int `json:"vocab"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model WordLevel: %v", err)
	}
	if v.Vocab == nil {
		return nil, fmt.Errorf("model WordLevel: missing vocab")
	}
	voc, err := newVocab(v.Vocab)
	if err != nil {
		return nil, fmt.Errorf("model WordLevel: %v", err)
	}
	w := &wordLevel{vocab: voc, unk: "<unk>"}
	if v.Unk != nil {
		w.unk = *v.Unk
	}
	return w, nil
}

func (w *wordLevel) tokenize(word string) ([]token, error) {
	if id, ok := w.toID[word]; ok {
		return []token{{id, w.toTok[id], 0, len(word)}}, nil
	}
	if id, ok := w.toID[w.unk]; ok {
		return []token{{id, w.unk, 0, len(word)}}, nil
	}
	return nil, fmt.Errorf("WordLevel: %q is not in the vocab and unk_token %q is missing", word, w.unk)
}

func (w *wordLevel) unknownID() (int, bool) {
	id, ok := w.toID[w.unk]
	return id, ok
}
