package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// encoding is the internal form of Encoding while post-processing; text is the (UTF-8 valid)
// input the byte offsets refer to.
type encoding struct {
	ids     []int
	tokens  []string
	offsets [][2]int
	special []bool
	text    string
}

func (e *encoding) append(o *encoding) {
	e.ids = append(e.ids, o.ids...)
	e.tokens = append(e.tokens, o.tokens...)
	e.offsets = append(e.offsets, o.offsets...)
	e.special = append(e.special, o.special...)
}

func specialEncoding(ids []int, toks []string, text string) *encoding {
	e := &encoding{ids: append([]int(nil), ids...), tokens: append([]string(nil), toks...), text: text}
	e.offsets = make([][2]int, len(ids))
	e.special = make([]bool, len(ids))
	for i := range e.special {
		e.special[i] = true
	}
	return e
}

type postProcessor interface {
	// process turns the sequence encodings into the list of encodings to concatenate.
	process(encs []*encoding, addSpecial bool) ([]*encoding, error)
	// bos is the id the processor puts before the first sequence, if any.
	bos() (int, bool)
	// added is the number of tokens added to a single sequence (for truncation).
	added() int
}

// trimOffsets is HF's process_offsets (ByteLevel / Roberta trim_offsets): leading and trailing
// spaces of a token (Ġ or whitespace characters) are removed from its offsets. HF does this on
// character offsets; here the same number of characters is stepped over in the input.
func trimOffsets(e *encoding, addPrefixSpace bool) {
	isSpace := func(r rune) bool { return r == 'Ġ' || unicode.IsSpace(r) }
	for i, tok := range e.tokens {
		lead := 0
		for _, r := range tok {
			if !isSpace(r) {
				break
			}
			lead++
		}
		trail := 0
		for j := len(tok); j > 0; {
			r, size := utf8.DecodeLastRuneInString(tok[:j])
			if !isSpace(r) {
				break
			}
			trail++
			j -= size
		}
		if lead == 0 && trail == 0 {
			continue
		}
		s, end := e.offsets[i][0], e.offsets[i][1]
		if lead > 0 {
			if (i == 0 || s == 0) && addPrefixSpace && lead == 1 {
				lead = 0
			}
			for k := 0; k < lead && s < end && s < len(e.text); k++ {
				_, size := utf8.DecodeRuneInString(e.text[s:])
				s += size
			}
			if s > end {
				s = end
			}
		}
		if trail > 0 {
			p, k := end, 0
			for ; k < trail && p > 0 && p <= len(e.text); k++ {
				_, size := utf8.DecodeLastRuneInString(e.text[:p])
				p -= size
			}
			if k == trail {
				end = max(p, s)
			}
		}
		e.offsets[i] = [2]int{s, end}
	}
}

type byteLevelPost struct{ trim, addPrefixSpace bool }

func (b byteLevelPost) process(encs []*encoding, _ bool) ([]*encoding, error) {
	if b.trim {
		for _, e := range encs {
			trimOffsets(e, b.addPrefixSpace)
		}
	}
	return encs, nil
}
func (byteLevelPost) bos() (int, bool) { return 0, false }
func (byteLevelPost) added() int       { return 0 }

type tokID struct {
	tok string
	id  int
}

func (t *tokID) UnmarshalJSON(b []byte) error {
	var v []json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil || len(v) != 2 {
		return fmt.Errorf("want [token, id], got %s", truncateForError(b))
	}
	if err := json.Unmarshal(v[0], &t.tok); err != nil {
		return fmt.Errorf("want [token, id]: %v", err)
	}
	if err := json.Unmarshal(v[1], &t.id); err != nil {
		return fmt.Errorf("want [token, id]: %v", err)
	}
	return nil
}

// bertPost is BertProcessing ([CLS] A [SEP]) and, with roberta set, RobertaProcessing.
type bertPost struct {
	cls, sep       tokID
	roberta        bool
	trim, addSpace bool
}

func (b bertPost) process(encs []*encoding, addSpecial bool) ([]*encoding, error) {
	if b.roberta && b.trim {
		for _, e := range encs {
			trimOffsets(e, b.addSpace)
		}
	}
	if !addSpecial {
		return encs, nil
	}
	if len(encs) != 1 {
		return nil, fmt.Errorf("post-processor: %d sequences, want 1", len(encs))
	}
	text := encs[0].text
	return []*encoding{
		specialEncoding([]int{b.cls.id}, []string{b.cls.tok}, text),
		encs[0],
		specialEncoding([]int{b.sep.id}, []string{b.sep.tok}, text),
	}, nil
}
func (b bertPost) bos() (int, bool) { return b.cls.id, true }
func (b bertPost) added() int       { return 2 }

// templatePiece is $A / $B (seq "A"/"B") or a special token.
type templatePiece struct {
	seq     string
	special string
	typeID  int
}

type specialTokenDef struct {
	ID     string   `json:"id"`
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

type templatePost struct {
	single, pair []templatePiece
	specials     map[string]specialTokenDef
}

func (t templatePost) process(encs []*encoding, addSpecial bool) ([]*encoding, error) {
	if len(encs) != 1 {
		return nil, fmt.Errorf("post-processor: %d sequences, want 1", len(encs))
	}
	var out []*encoding
	for _, p := range t.single {
		if p.seq != "" {
			if p.seq != "A" {
				return nil, fmt.Errorf("TemplateProcessing: single template uses $%s", p.seq)
			}
			out = append(out, encs[0])
			continue
		}
		if addSpecial {
			d := t.specials[p.special]
			out = append(out, specialEncoding(d.IDs, d.Tokens, encs[0].text))
		}
	}
	return out, nil
}

func (t templatePost) bos() (int, bool) {
	for _, p := range t.single {
		if p.seq != "" {
			return 0, false
		}
		if d := t.specials[p.special]; len(d.IDs) > 0 {
			return d.IDs[0], true
		}
	}
	return 0, false
}

func (t templatePost) added() int {
	n := 0
	for _, p := range t.single {
		if p.seq == "" {
			n += len(t.specials[p.special].IDs)
		}
	}
	return n
}

type postSeq []postProcessor

func (s postSeq) process(encs []*encoding, addSpecial bool) ([]*encoding, error) {
	var err error
	for _, p := range s {
		if encs, err = p.process(encs, addSpecial); err != nil {
			return nil, err
		}
	}
	return encs, nil
}

func (s postSeq) bos() (int, bool) {
	for _, p := range s {
		if id, ok := p.bos(); ok {
			return id, true
		}
	}
	return 0, false
}

func (s postSeq) added() int {
	n := 0
	for _, p := range s {
		n += p.added()
	}
	return n
}

// parseTemplate reads a template either as HF serializes it ([{"Sequence": {...}}, ...]) or
// in the string form ("[CLS]:0 $A:0 [SEP]:0").
func parseTemplate(raw json.RawMessage) ([]templatePiece, error) {
	if isNull(raw) {
		return nil, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		var out []templatePiece
		for _, f := range strings.Fields(str) {
			p, err := parsePieceString(f)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("template: %v", err)
	}
	var out []templatePiece
	for _, item := range list {
		var s string
		if err := json.Unmarshal(item, &s); err == nil {
			p, err := parsePieceString(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
			continue
		}
		var v struct {
			Sequence *struct {
				ID     string `json:"id"`
				TypeID int    `json:"type_id"`
			} `json:"Sequence"`
			SpecialToken *struct {
				ID     string `json:"id"`
				TypeID int    `json:"type_id"`
			} `json:"SpecialToken"`
		}
		if err := json.Unmarshal(item, &v); err != nil {
			return nil, fmt.Errorf("template piece %s: %v", truncateForError(item), err)
		}
		switch {
		case v.Sequence != nil && v.SpecialToken == nil:
			if v.Sequence.ID != "A" && v.Sequence.ID != "B" {
				return nil, fmt.Errorf("template piece: sequence id %q, want A or B", v.Sequence.ID)
			}
			out = append(out, templatePiece{seq: v.Sequence.ID, typeID: v.Sequence.TypeID})
		case v.SpecialToken != nil && v.Sequence == nil:
			out = append(out, templatePiece{special: v.SpecialToken.ID, typeID: v.SpecialToken.TypeID})
		default:
			return nil, fmt.Errorf("template piece %s: want Sequence or SpecialToken", truncateForError(item))
		}
	}
	return out, nil
}

func parsePieceString(s string) (templatePiece, error) {
	name, typ := s, 0
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		n, err := strconv.Atoi(s[i+1:])
		if err == nil {
			name, typ = s[:i], n
		}
	}
	if strings.HasPrefix(name, "$") {
		switch name {
		case "$", "$A", "$a":
			return templatePiece{seq: "A", typeID: typ}, nil
		case "$B", "$b":
			return templatePiece{seq: "B", typeID: typ}, nil
		}
		if n, err := strconv.Atoi(name[1:]); err == nil {
			return templatePiece{seq: "A", typeID: n}, nil
		}
		return templatePiece{}, fmt.Errorf("template piece %q", s)
	}
	return templatePiece{special: name, typeID: typ}, nil
}

func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typeOnly
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("post_processor: %v", err)
	}
	switch t.Type {
	case "ByteLevel":
		var v struct {
			Trim           *bool `json:"trim_offsets"`
			AddPrefixSpace *bool `json:"add_prefix_space"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor ByteLevel: %v", err)
		}
		return byteLevelPost{trim: boolOr(v.Trim, true), addPrefixSpace: boolOr(v.AddPrefixSpace, true)}, nil
	case "BertProcessing", "RobertaProcessing":
		var v struct {
			Sep            *tokID `json:"sep"`
			Cls            *tokID `json:"cls"`
			Trim           *bool  `json:"trim_offsets"`
			AddPrefixSpace *bool  `json:"add_prefix_space"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor %s: %v", t.Type, err)
		}
		if v.Sep == nil || v.Cls == nil {
			return nil, fmt.Errorf("post_processor %s: want sep and cls", t.Type)
		}
		return bertPost{cls: *v.Cls, sep: *v.Sep, roberta: t.Type == "RobertaProcessing",
			trim: boolOr(v.Trim, true), addSpace: boolOr(v.AddPrefixSpace, true)}, nil
	case "TemplateProcessing":
		var v struct {
			Single   json.RawMessage            `json:"single"`
			Pair     json.RawMessage            `json:"pair"`
			Specials map[string]specialTokenDef `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor TemplateProcessing: %v", err)
		}
		tp := templatePost{specials: v.Specials}
		var err error
		if tp.single, err = parseTemplate(v.Single); err != nil {
			return nil, fmt.Errorf("post_processor TemplateProcessing single: %w", err)
		}
		if tp.pair, err = parseTemplate(v.Pair); err != nil {
			return nil, fmt.Errorf("post_processor TemplateProcessing pair: %w", err)
		}
		for _, p := range append(append([]templatePiece(nil), tp.single...), tp.pair...) {
			if p.seq != "" {
				continue
			}
			d, ok := tp.specials[p.special]
			if !ok {
				return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q is not in special_tokens", p.special)
			}
			if len(d.IDs) != len(d.Tokens) {
				return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q has %d ids and %d tokens", p.special, len(d.IDs), len(d.Tokens))
			}
		}
		return tp, nil
	case "Sequence":
		var v struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor Sequence: %v", err)
		}
		var seq postSeq
		for i, r := range v.Processors {
			p, err := parsePostProcessor(r)
			if err != nil {
				return nil, fmt.Errorf("post_processor Sequence[%d]: %w", i, err)
			}
			if p == nil {
				return nil, fmt.Errorf("post_processor Sequence[%d]: null", i)
			}
			seq = append(seq, p)
		}
		return seq, nil
	case "":
		return nil, fmt.Errorf("post_processor without a \"type\"")
	}
	return nil, fmt.Errorf("unsupported post_processor type %q", t.Type)
}
