package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// pretokSplit is one piece of HF's PreTokenizedString: a normalized string and, once the
// model (or the added vocabulary) has run, its tokens.
type pretokSplit struct {
	n      *normString
	tokens []token
	done   bool
}

type preTokenized struct {
	splits []pretokSplit
}

// split replaces every not-yet-tokenized piece by the pieces f returns, dropping empty ones
// (HF PreTokenizedString::split).
func (p *preTokenized) split(f func(n *normString) ([]pretokSplit, error)) error {
	if len(p.splits) == 1 && !p.splits[0].done {
		// common case (the whole input): keep f's slice, dropping empty pieces in place
		parts, err := f(p.splits[0].n)
		if err != nil {
			return err
		}
		out := parts[:0]
		for _, x := range parts {
			if x.n.normalized != "" {
				out = append(out, x)
			}
		}
		p.splits = out
		return nil
	}
	out := make([]pretokSplit, 0, len(p.splits))
	for _, s := range p.splits {
		if s.done {
			out = append(out, s)
			continue
		}
		parts, err := f(s.n)
		if err != nil {
			return err
		}
		for _, x := range parts {
			if x.n.normalized != "" {
				out = append(out, x)
			}
		}
	}
	p.splits = out
	return nil
}

func (p *preTokenized) splitNorm(f func(n *normString) ([]*normString, error)) error {
	return p.split(func(n *normString) ([]pretokSplit, error) {
		parts, err := f(n)
		if err != nil {
			return nil, err
		}
		out := make([]pretokSplit, len(parts))
		for i, x := range parts {
			out[i] = pretokSplit{n: x}
		}
		return out, nil
	})
}

func (p *preTokenized) splitPattern(pat pattern, b splitBehavior) error {
	return p.splitNorm(func(n *normString) ([]*normString, error) { return n.splitBy(pat, b) })
}

type preTokenizer interface {
	preTokenize(p *preTokenized) error
}

type preTokenizerSeq []preTokenizer

func (s preTokenizerSeq) preTokenize(p *preTokenized) error {
	for _, x := range s {
		if err := x.preTokenize(p); err != nil {
			return err
		}
	}
	return nil
}

var gpt2Regex = mustRegex(gpt2Pattern)

func mustRegex(src string) *regexPattern {
	p, err := compileRegex(src)
	if err != nil {
		panic(err)
	}
	return p
}

// byteLevelPre is HF's ByteLevel pre-tokenizer.
type byteLevelPre struct{ addPrefixSpace, useRegex bool }

func (b byteLevelPre) preTokenize(p *preTokenized) error {
	if b.addPrefixSpace || b.useRegex {
		err := p.splitNorm(func(n *normString) ([]*normString, error) {
			if b.addPrefixSpace && !strings.HasPrefix(n.normalized, " ") {
				n.prepend(" ")
			}
			if b.useRegex {
				return n.splitBy(gpt2Regex, splitIsolated)
			}
			return []*normString{n}, nil
		})
		if err != nil {
			return err
		}
	}
	for i := range p.splits {
		if s := &p.splits[i]; !s.done && s.n.normalized != "" {
			s.n.byteLevelTransform()
		}
	}
	return nil
}

// metaspacePre is HF's Metaspace pre-tokenizer.
type metaspacePre struct {
	replacement rune
	repl        string
	scheme      string // always | first | never
	split       bool
}

func (m metaspacePre) preTokenize(p *preTokenized) error {
	space := charPattern(func(r rune) bool { return r == ' ' })
	sep := charPattern(func(r rune) bool { return r == m.replacement })
	return p.splitNorm(func(n *normString) ([]*normString, error) {
		if err := n.replace(space, m.repl); err != nil {
			return nil, err
		}
		switch m.scheme {
		case "always":
			if !strings.HasPrefix(n.normalized, m.repl) {
				n.prepend(m.repl)
			}
		case "first":
			if !strings.HasPrefix(n.normalized, m.repl) && n.shift == 0 {
				n.prepend(m.repl)
			}
		}
		if m.split {
			return n.splitBy(sep, splitMergedWithNext)
		}
		return []*normString{n}, nil
	})
}

// wordRunsPattern matches runs of \w and runs of [^\w\s] (HF Whitespace's \w+|[^\w\s]+).
type wordRunsPattern struct{}

func onigWord(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r)
}

func (wordRunsPattern) findMatches(s string) ([]segment, error) {
	if s == "" {
		return []segment{{0, 0, false}}, nil
	}
	var out []segment
	kind := func(r rune) int {
		switch {
		case onigWord(r):
			return 1
		case unicode.IsSpace(r):
			return 0
		}
		return 2
	}
	prev := 0
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		k := kind(r)
		if k == 0 {
			i += size
			continue
		}
		j := i + size
		for j < len(s) {
			r2, s2 := utf8.DecodeRuneInString(s[j:])
			if kind(r2) != k {
				break
			}
			j += s2
		}
		if prev != i {
			out = append(out, segment{prev, i, false})
		}
		out = append(out, segment{i, j, true})
		prev = j
		i = j
	}
	if prev != len(s) {
		out = append(out, segment{prev, len(s), false})
	}
	return out, nil
}

type whitespacePre struct{}

func (whitespacePre) preTokenize(p *preTokenized) error {
	return p.splitPattern(invertPattern{wordRunsPattern{}}, splitRemoved)
}

type whitespaceSplitPre struct{}

func (whitespaceSplitPre) preTokenize(p *preTokenized) error {
	return p.splitPattern(charPattern(rustIsWhitespace), splitRemoved)
}

type bertPre struct{}

func (bertPre) preTokenize(p *preTokenized) error {
	if err := p.splitPattern(charPattern(rustIsWhitespace), splitRemoved); err != nil {
		return err
	}
	return p.splitPattern(charPattern(isBertPunct), splitIsolated)
}

type punctuationPre struct{ behavior splitBehavior }

func (x punctuationPre) preTokenize(p *preTokenized) error {
	return p.splitPattern(charPattern(isBertPunct), x.behavior)
}

type digitsPre struct{ individual bool }

func (d digitsPre) preTokenize(p *preTokenized) error {
	if d.individual {
		return p.splitPattern(charPattern(rustIsNumeric), splitIsolated)
	}
	return p.splitPattern(charPattern(rustIsNumeric), splitContiguous)
}

type splitPre struct {
	pat      pattern
	behavior splitBehavior
	invert   bool
}

func (s splitPre) preTokenize(p *preTokenized) error {
	pat := s.pat
	if s.invert {
		pat = invertPattern{pat}
	}
	return p.splitPattern(pat, s.behavior)
}

type charDelimiterPre struct{ delim rune }

func (c charDelimiterPre) preTokenize(p *preTokenized) error {
	return p.splitPattern(charPattern(func(r rune) bool { return r == c.delim }), splitRemoved)
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typeOnly
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %v", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			Pretokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Sequence: %v", err)
		}
		var seq preTokenizerSeq
		for i, r := range v.Pretokenizers {
			x, err := parsePreTokenizer(r)
			if err != nil {
				return nil, fmt.Errorf("pre_tokenizer Sequence[%d]: %w", i, err)
			}
			if x == nil {
				return nil, fmt.Errorf("pre_tokenizer Sequence[%d]: null", i)
			}
			seq = append(seq, x)
		}
		return seq, nil
	case "ByteLevel":
		var v struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer ByteLevel: %v", err)
		}
		return byteLevelPre{addPrefixSpace: boolOr(v.AddPrefixSpace, true), useRegex: boolOr(v.UseRegex, true)}, nil
	case "Metaspace":
		m, err := parseMetaspace(raw)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Metaspace: %w", err)
		}
		return m, nil
	case "Whitespace":
		return whitespacePre{}, nil
	case "WhitespaceSplit":
		return whitespaceSplitPre{}, nil
	case "BertPreTokenizer":
		return bertPre{}, nil
	case "Punctuation":
		var v struct {
			Behavior *string `json:"behavior"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Punctuation: %v", err)
		}
		b := splitIsolated
		if v.Behavior != nil {
			var err error
			if b, err = parseBehavior(*v.Behavior); err != nil {
				return nil, fmt.Errorf("pre_tokenizer Punctuation: %w", err)
			}
		}
		return punctuationPre{b}, nil
	case "Digits":
		var v struct {
			Individual *bool `json:"individual_digits"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Digits: %v", err)
		}
		return digitsPre{boolOr(v.Individual, false)}, nil
	case "Split":
		var v struct {
			Pattern  json.RawMessage `json:"pattern"`
			Behavior *string         `json:"behavior"`
			Invert   *bool           `json:"invert"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %v", err)
		}
		if v.Behavior == nil {
			return nil, fmt.Errorf("pre_tokenizer Split: missing behavior")
		}
		b, err := parseBehavior(*v.Behavior)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		p, err := parsePattern(v.Pattern)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		return splitPre{pat: p, behavior: b, invert: boolOr(v.Invert, false)}, nil
	case "CharDelimiterSplit":
		var v struct {
			Delimiter string `json:"delimiter"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || utf8.RuneCountInString(v.Delimiter) != 1 {
			return nil, fmt.Errorf("pre_tokenizer CharDelimiterSplit: want a one-character delimiter")
		}
		r, _ := utf8.DecodeRuneInString(v.Delimiter)
		return charDelimiterPre{r}, nil
	case "":
		return nil, fmt.Errorf("pre_tokenizer without a \"type\"")
	}
	return nil, fmt.Errorf("unsupported pre_tokenizer type %q", t.Type)
}

// parseMetaspace reads both the current (prepend_scheme, split) and the legacy
// (add_prefix_space) Metaspace forms; it serves the pre-tokenizer and the decoder.
func parseMetaspace(raw json.RawMessage) (metaspacePre, error) {
	var v struct {
		Replacement    *string `json:"replacement"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		PrependScheme  *string `json:"prepend_scheme"`
		Split          *bool   `json:"split"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return metaspacePre{}, err
	}
	if v.Replacement == nil || utf8.RuneCountInString(*v.Replacement) != 1 {
		return metaspacePre{}, fmt.Errorf("want a one-character \"replacement\"")
	}
	r, _ := utf8.DecodeRuneInString(*v.Replacement)
	m := metaspacePre{replacement: r, repl: *v.Replacement, scheme: "always", split: boolOr(v.Split, true)}
	if v.PrependScheme != nil {
		switch *v.PrependScheme {
		case "always", "first", "never":
			m.scheme = *v.PrependScheme
		default:
			return metaspacePre{}, fmt.Errorf("unknown prepend_scheme %q", *v.PrependScheme)
		}
	} else if v.AddPrefixSpace != nil && !*v.AddPrefixSpace {
		m.scheme = "never"
	}
	return m, nil
}
