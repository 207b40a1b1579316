package world

import (
	"bufio"
	"bytes"
	"encoding/json"
)

// specialTokens get ids 0..3 in this order.
var specialTokens = []string{"<pad>", "<unk>", "<bos>", "<eos>"}

// Special token ids of the world's tokenizer.
const (
	PadID = 0
	UnkID = 1
	BOSID = 2
	EOSID = 3
)

// orderedVocab marshals as a JSON object in id order (as HF writes vocabularies).
type orderedVocab []string

func (v orderedVocab) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for id, tok := range v {
		if id > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(tok)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(itoa(id))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func itoa(i int) string {
	k, _ := json.Marshal(i)
	return string(k)
}

type addedTokenJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type typed struct {
	Type string `json:"type"`
}

type pieceJSON struct {
	SpecialToken *pieceID `json:"SpecialToken,omitempty"`
	Sequence     *pieceID `json:"Sequence,omitempty"`
}

type pieceID struct {
	ID     string `json:"id"`
	TypeID int    `json:"type_id"`
}

type specialJSON struct {
	ID     string   `json:"id"`
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

// Tokenizer returns a Hugging Face tokenizer.json for the world: a WordLevel model over
// <pad> <unk> <bos> <eos> (ids 0–3) and Vocabulary() (ids 4...), the WhitespaceSplit
// pre-tokenizer, a TemplateProcessing post-processor that puts <bos> first, and a WordPiece
// decoder (prefix "##", cleanup false) that joins tokens with single spaces — no world word
// starts with "##". Every entity name and every word is exactly one token.
func (w *World) Tokenizer() ([]byte, error) {
	vocab := orderedVocab(append(append([]string(nil), specialTokens...), w.Vocabulary()...))
	var added []addedTokenJSON
	for id, s := range specialTokens {
		added = append(added, addedTokenJSON{ID: id, Content: s, Special: true})
	}
	bos := pieceJSON{SpecialToken: &pieceID{ID: "<bos>"}}
	file := struct {
		Version       string           `json:"version"`
		Truncation    any              `json:"truncation"`
		Padding       any              `json:"padding"`
		AddedTokens   []addedTokenJSON `json:"added_tokens"`
		Normalizer    any              `json:"normalizer"`
		PreTokenizer  typed            `json:"pre_tokenizer"`
		PostProcessor any              `json:"post_processor"`
		Decoder       any              `json:"decoder"`
		Model         any              `json:"model"`
	}{
		Version:      "1.0",
		AddedTokens:  added,
		PreTokenizer: typed{"WhitespaceSplit"},
		PostProcessor: struct {
			Type     string                 `json:"type"`
			Single   []pieceJSON            `json:"single"`
			Pair     []pieceJSON            `json:"pair"`
			Specials map[string]specialJSON `json:"special_tokens"`
		}{
			Type:     "TemplateProcessing",
			Single:   []pieceJSON{bos, {Sequence: &pieceID{ID: "A"}}},
			Pair:     []pieceJSON{bos, {Sequence: &pieceID{ID: "A"}}, bos, {Sequence: &pieceID{ID: "B", TypeID: 1}}},
			Specials: map[string]specialJSON{"<bos>": {ID: "<bos>", IDs: []int{BOSID}, Tokens: []string{"<bos>"}}},
		},
		Decoder: struct {
			Type    string `json:"type"`
			Prefix  string `json:"prefix"`
			Cleanup bool   `json:"cleanup"`
		}{"WordPiece", "##", false},
		Model: struct {
			Type  string       `json:"type"`
			Vocab orderedVocab `json:"vocab"`
			Unk   string       `json:"unk_token"`
		}{"WordLevel", vocab, "<unk>"},
	}
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := writeJSON(bw, file, true); err != nil {
		return nil, err
	}
	bw.Flush()
	return buf.Bytes(), nil
}
