package corpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// Encoder turns documents and prompts into a model's token ids under an explicit BOS policy.
type Encoder struct {
	// Tok is the model's tokenizer; nil means only token-id documents can be encoded.
	Tok *tokenizer.Tokenizer
	// Policy is the BOS policy for text: auto (as HF's add_special_tokens=True), always, never.
	Policy tokenizer.BOSPolicy
	// BOS is the model's BOS id (-1: none; then the tokenizer's own, for BOSAlways).
	BOS int
	// Vocab bounds every id: token ids must be in [0, Vocab).
	Vocab int
}

// NewEncoder returns the encoder of a model: its BOS id and vocabulary size, the tokenizer
// tok (nil: ids only) and the policy.
func NewEncoder(m *model.Model, tok *tokenizer.Tokenizer, policy tokenizer.BOSPolicy) Encoder {
	return Encoder{Tok: tok, Policy: policy, BOS: m.Config.BOS, Vocab: m.Config.DVocab}
}

// LoadTokenizer loads the tokenizer.json beside a model loaded from a directory. It returns
// (nil, nil) when the directory has none (or the model was not loaded from a directory).
func LoadTokenizer(m *model.Model) (*tokenizer.Tokenizer, error) {
	if m.Dir == "" {
		return nil, nil
	}
	path := filepath.Join(m.Dir, "tokenizer.json")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return tokenizer.Load(path)
}

// PolicyNote says how documents are tokenized, for provenance: the BOS policy, or that ids are
// used verbatim when there is no tokenizer.
func (e Encoder) PolicyNote() string {
	if e.Tok == nil {
		return "ids given verbatim (no tokenizer)"
	}
	return e.Policy.String()
}

// Encode returns a document's token ids: its text tokenized under the policy, or its ids
// verbatim. Every id must be in [0, Vocab); errors name the document.
func (e Encoder) Encode(d Document) ([]int, error) {
	ids := d.IDs
	if !d.HasIDs {
		if e.Tok == nil {
			return nil, fmt.Errorf("document %d has text, and the model has no tokenizer.json (give token ids instead)", d.Ordinal)
		}
		enc, err := e.Tok.EncodeWithBOS(d.Text, e.Policy, e.BOS)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", d.Ordinal, err)
		}
		ids = enc.IDs
	}
	if err := e.CheckIDs(ids); err != nil {
		return nil, fmt.Errorf("document %d: %w", d.Ordinal, err)
	}
	return ids, nil
}

// EncodeText tokenizes one text under the policy.
func (e Encoder) EncodeText(text string) (tokenizer.Encoding, error) {
	if e.Tok == nil {
		return tokenizer.Encoding{}, fmt.Errorf("text needs the model's tokenizer.json, and the model has none (give token ids instead)")
	}
	enc, err := e.Tok.EncodeWithBOS(text, e.Policy, e.BOS)
	if err != nil {
		return enc, err
	}
	return enc, e.CheckIDs(enc.IDs)
}

// CheckIDs checks that every id is in the vocabulary.
func (e Encoder) CheckIDs(ids []int) error {
	for _, id := range ids {
		if id < 0 || (e.Vocab > 0 && id >= e.Vocab) {
			return fmt.Errorf("token id %d is outside the vocabulary [0, %d)", id, e.Vocab)
		}
	}
	return nil
}

// leadingBOS counts the leading ids that are the BOS token.
func (e Encoder) leadingBOS(ids []int) int {
	n := 0
	for n < len(ids) && e.BOS >= 0 && ids[n] == e.BOS {
		n++
	}
	return n
}

// startsWithBOS reports whether a text document's ids begin with the BOS token that the
// policy put or kept there: continuation contexts of such a document start with BOS again.
func (e Encoder) startsWithBOS(d Document, ids []int) bool {
	return !d.HasIDs && e.BOS >= 0 && len(ids) > 0 && ids[0] == e.BOS && e.Policy != tokenizer.BOSNever
}
