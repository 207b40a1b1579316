package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Tokenizer is a loaded tokenizer.json. It is safe for concurrent use.
type Tokenizer struct {
	name       string
	normalizer normalizer
	preTok     preTokenizer
	model      tokModel
	post       postProcessor
	decoder    decoder
	added      *addedVocab
	trunc      *truncation
	pad        *padding
}

// Encoding is the result of Encode.
type Encoding struct {
	IDs     []int
	Tokens  []string
	Offsets [][2]int // UTF-8 byte offsets into the original input [start, end)
	// SpecialMask is true for the tokens the post-processor (or padding) added, as HF's
	// special_tokens_mask. Special added tokens found in the text itself are false, as in HF.
	SpecialMask []bool
}

// Load reads a tokenizer.json file. Errors name the file and the problem.
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return Parse(data, path)
}

type fileJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
}

// Parse parses tokenizer.json bytes; name is used in error messages.
func Parse(data []byte, name string) (*Tokenizer, error) {
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	t.name = name
	return t, nil
}

func parse(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %v", err)
	}
	if isNull(f.Model) {
		return nil, errors.New("no \"model\"")
	}
	t := &Tokenizer{}
	var err error
	if t.model, err = parseModel(f.Model); err != nil {
		return nil, err
	}
	if t.normalizer, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.preTok, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if t.decoder, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	if t.trunc, err = parseTruncation(f.Truncation); err != nil {
		return nil, err
	}
	if t.pad, err = parsePadding(f.Padding); err != nil {
		return nil, err
	}
	if t.added, err = newAddedVocab(f.AddedTokens, t.model, t.normalizer); err != nil {
		return nil, err
	}
	return t, nil
}

// parseModel reads "model", inferring the type when "type" is absent as HF does.
func parseModel(raw json.RawMessage) (tokModel, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("model: %v", err)
	}
	typ := ""
	if r, ok := fields["type"]; ok {
		if err := json.Unmarshal(r, &typ); err != nil {
			return nil, fmt.Errorf("model type: %v", err)
		}
	} else {
		v := strings.TrimLeft(string(fields["vocab"]), " \t\r\n")
		_, hasMerges := fields["merges"]
		_, hasPrefix := fields["continuing_subword_prefix"]
		_, hasMaxChars := fields["max_input_chars_per_word"]
		switch {
		case strings.HasPrefix(v, "["):
			typ = "Unigram"
		case hasMerges:
			typ = "BPE"
		case hasPrefix || hasMaxChars:
			typ = "WordPiece"
		default:
			typ = "WordLevel"
		}
	}
	switch typ {
	case "BPE":
		return parseBPE(raw)
	case "WordPiece":
		return parseWordPiece(raw)
	case "WordLevel":
		return parseWordLevel(raw)
	case "Unigram":
		return parseUnigram(raw)
	}
	return nil, fmt.Errorf("unsupported model type %q", typ)
}

// Warnings lists the oddities HF only logs when it loads the file (such as added-token ids
// that HF reassigns).
func (t *Tokenizer) Warnings() []string { return append([]string(nil), t.added.warnings...) }

// Encode tokenizes text. With addSpecialTokens the post-processor adds its special tokens
// (BOS/EOS/CLS/SEP...), as HF's encode(text, add_special_tokens=True).
func (t *Tokenizer) Encode(text string, addSpecialTokens bool) (Encoding, error) {
	var posMap []int
	if !utf8.ValidString(text) {
		text, posMap = sanitizeUTF8(text)
	}
	enc, err := t.encode(text, addSpecialTokens)
	if err != nil {
		return Encoding{}, fmt.Errorf("tokenizer %s: %w", t.name, err)
	}
	out := Encoding{IDs: enc.ids, Tokens: enc.tokens, Offsets: enc.offsets, SpecialMask: enc.special}
	if posMap != nil {
		for i, o := range out.Offsets {
			out.Offsets[i] = [2]int{mapPos(posMap, o[0]), mapPos(posMap, o[1])}
		}
	}
	if out.IDs == nil {
		out.IDs, out.Tokens, out.Offsets, out.SpecialMask = []int{}, []string{}, [][2]int{}, []bool{}
	}
	return out, nil
}

func (t *Tokenizer) encode(text string, addSpecial bool) (*encoding, error) {
	pt, err := t.added.extractAndNormalize(t.normalizer, text)
	if err != nil {
		return nil, err
	}
	if t.preTok != nil {
		if err := t.preTok.preTokenize(pt); err != nil {
			return nil, err
		}
	}
	total := 0
	for i := range pt.splits {
		s := &pt.splits[i]
		if !s.done {
			toks, err := t.model.tokenize(s.n.normalized)
			if err != nil {
				return nil, err
			}
			s.tokens, s.done = toks, true
		}
		total += len(s.tokens)
	}
	enc := &encoding{text: text, ids: make([]int, 0, total), tokens: make([]string, 0, total),
		offsets: make([][2]int, 0, total), special: make([]bool, 0, total)}
	for i := range pt.splits {
		s := &pt.splits[i]
		for _, tok := range s.tokens {
			a, b := tok.start, tok.end
			if x, y, ok := s.n.convertNormalized(tok.start, tok.end); ok {
				a, b = s.n.shift+x, s.n.shift+y
			}
			enc.ids = append(enc.ids, tok.id)
			enc.tokens = append(enc.tokens, tok.value)
			enc.offsets = append(enc.offsets, [2]int{a, b})
			enc.special = append(enc.special, false)
		}
	}
	return t.postProcess(enc, addSpecial)
}

func (t *Tokenizer) postProcess(enc *encoding, addSpecial bool) (*encoding, error) {
	if t.trunc != nil {
		n := 0
		if addSpecial && t.post != nil {
			n = t.post.added()
		}
		if err := t.trunc.apply(enc, n); err != nil {
			return nil, err
		}
	}
	parts := []*encoding{enc}
	if t.post != nil {
		var err error
		if parts, err = t.post.process(parts, addSpecial); err != nil {
			return nil, err
		}
	}
	var out *encoding
	if len(parts) == 1 {
		out = parts[0]
	} else {
		out = &encoding{text: enc.text}
		for _, p := range parts {
			out.append(p)
		}
	}
	if t.pad != nil {
		t.pad.apply(out)
	}
	return out, nil
}

// Decode turns ids back into text. An id that is neither in the model nor an added token is
// an error.
func (t *Tokenizer) Decode(ids []int, skipSpecialTokens bool) (string, error) {
	toks := make([]string, 0, len(ids))
	for i, id := range ids {
		tok, ok := t.IDToToken(id)
		if !ok {
			return "", fmt.Errorf("tokenizer %s: decode: id %d (position %d) is out of the vocabulary (size %d)", t.name, id, i, t.VocabSize())
		}
		if skipSpecialTokens && t.added.special[tok] {
			continue
		}
		toks = append(toks, tok)
	}
	if t.decoder == nil {
		return strings.Join(toks, " "), nil
	}
	out, err := t.decoder.decodeChain(toks)
	if err != nil {
		return "", fmt.Errorf("tokenizer %s: decode: %w", t.name, err)
	}
	return strings.Join(out, ""), nil
}

// VocabSize is the number of ids, including added tokens (highest id + 1).
func (t *Tokenizer) VocabSize() int {
	n := t.model.vocabSize()
	for id := range t.added.byID {
		if id+1 > n {
			n = id + 1
		}
	}
	return n
}

// TokenToID looks a token up among the added tokens, then in the model vocab.
func (t *Tokenizer) TokenToID(tok string) (int, bool) {
	if id, ok := t.added.byContent[tok]; ok {
		return id, true
	}
	return t.model.tokenToID(tok)
}

// IDToToken is the inverse of TokenToID.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	if a, ok := t.added.byID[id]; ok {
		return a.Content, true
	}
	return t.model.idToToken(id)
}

// BOS is the id the post-processor puts in front of a single sequence (Llama <s>, BERT
// [CLS]), if it adds one. GPT-2 (ByteLevel post-processor) and T5 (only </s> at the end) have
// UnknownID returns the id of the model's unknown token (WordLevel, WordPiece and BPE
// unk_token, Unigram unk_id), if it has one: text outside the vocabulary encodes to it.
func (t *Tokenizer) UnknownID() (int, bool) { return t.model.unknownID() }

// none.
func (t *Tokenizer) BOS() (id int, ok bool) {
	if t.post == nil {
		return 0, false
	}
	return t.post.bos()
}

// sanitizeUTF8 replaces every maximal invalid UTF-8 subsequence by U+FFFD (like Rust's
// from_utf8_lossy). posMap maps byte positions of the result to byte positions of s.
func sanitizeUTF8(s string) (string, []int) {
	var sb strings.Builder
	posMap := make([]int, 0, len(s)+4)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			n := invalidPrefixLen([]byte(s[i:min(len(s), i+4)]))
			sb.WriteRune(utf8.RuneError)
			posMap = append(posMap, i, i+n, i+n)
			i += n
			continue
		}
		sb.WriteString(s[i : i+size])
		for k := 0; k < size; k++ {
			posMap = append(posMap, i+k)
		}
		i += size
	}
	posMap = append(posMap, len(s))
	return sb.String(), posMap
}

func mapPos(posMap []int, p int) int {
	if p < 0 {
		return p
	}
	if p >= len(posMap) {
		return posMap[len(posMap)-1]
	}
	return posMap[p]
}
