package tokenizer

import (
	"encoding/json"
	"fmt"
	"unicode"
)

// normalizer is one HF normalizer step applied to a normalized string in place.
type normalizer interface {
	normalize(n *normString) error
}

type normalizerSeq []normalizer

func (s normalizerSeq) normalize(n *normString) error {
	for _, x := range s {
		if err := x.normalize(n); err != nil {
			return err
		}
	}
	return nil
}

type unicodeNormalizer struct{ compat, compose bool }

func (u unicodeNormalizer) normalize(n *normString) error {
	unicodeNormalize(n, u.compat, u.compose)
	return nil
}

type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(n *normString) error { n.lowercase(); return nil }

type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(n *normString) error {
	n.filter(func(r rune) bool { return !unicode.Is(unicode.Mn, r) })
	return nil
}

type stripNormalizer struct{ left, right bool }

func (s stripNormalizer) normalize(n *normString) error { n.strip(s.left, s.right); return nil }

type prependNormalizer struct{ prepend string }

func (p prependNormalizer) normalize(n *normString) error { n.prepend(p.prepend); return nil }

type replaceNormalizer struct {
	pat     pattern
	content string
}

func (r replaceNormalizer) normalize(n *normString) error { return n.replace(r.pat, r.content) }

type nmtNormalizer struct{}

func (nmtNormalizer) normalize(n *normString) error {
	n.filter(func(c rune) bool {
		switch {
		case 0x1 <= c && c <= 0x8, c == 0xB, 0xE <= c && c <= 0x1F, c == 0x7F, c == 0x8F, c == 0x9F:
			return false
		}
		return true
	})
	n.mapRunes(func(c rune) rune {
		switch {
		case c == 0x9, c == 0xA, c == 0xC, c == 0xD, c == 0x1680, 0x200B <= c && c <= 0x200F,
			c == 0x2028, c == 0x2029, c == 0x2581, c == 0xFEFF, c == 0xFFFD:
			return ' '
		}
		return c
	})
	return nil
}

type byteLevelNormalizer struct{}

func (byteLevelNormalizer) normalize(n *normString) error {
	n.byteLevelTransform()
	return nil
}

// bertNormalizer is HF's BertNormalizer.
type bertNormalizer struct {
	cleanText, chineseChars, stripAccents, lowercase bool
}

func (b bertNormalizer) normalize(n *normString) error {
	if b.cleanText {
		n.filter(func(c rune) bool { return !(c == 0 || c == 0xFFFD || isBertControl(c)) })
		n.mapRunes(func(c rune) rune {
			if isBertWhitespace(c) {
				return ' '
			}
			return c
		})
	}
	if b.chineseChars {
		has := false
		for _, c := range n.normalized {
			if isChineseChar(c) {
				has = true
				break
			}
		}
		if has {
			dest := make([]change, 0, len(n.normalized))
			for _, c := range n.normalized {
				if isChineseChar(c) {
					dest = append(dest, change{' ', 0}, change{c, 1}, change{' ', 1})
				} else {
					dest = append(dest, change{c, 0})
				}
			}
			n.transform(dest, 0)
		}
	}
	if b.stripAccents {
		unicodeNormalize(n, false, false)
		n.filter(func(r rune) bool { return !unicode.Is(unicode.Mn, r) })
	}
	if b.lowercase {
		n.lowercase()
	}
	return nil
}

type typeOnly struct {
	Type string `json:"type"`
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typeOnly
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("normalizer: %v", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Sequence: %v", err)
		}
		var seq normalizerSeq
		for i, r := range v.Normalizers {
			x, err := parseNormalizer(r)
			if err != nil {
				return nil, fmt.Errorf("normalizer Sequence[%d]: %w", i, err)
			}
			if x == nil {
				return nil, fmt.Errorf("normalizer Sequence[%d]: null", i)
			}
			seq = append(seq, x)
		}
		return seq, nil
	case "NFC":
		return unicodeNormalizer{compose: true}, nil
	case "NFD":
		return unicodeNormalizer{}, nil
	case "NFKC":
		return unicodeNormalizer{compat: true, compose: true}, nil
	case "NFKD":
		return unicodeNormalizer{compat: true}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "Nmt":
		return nmtNormalizer{}, nil
	case "ByteLevel":
		return byteLevelNormalizer{}, nil
	case "Strip":
		var v struct {
			Left  *bool `json:"strip_left"`
			Right *bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Strip: %v", err)
		}
		return stripNormalizer{left: boolOr(v.Left, true), right: boolOr(v.Right, true)}, nil
	case "Prepend":
		var v struct {
			Prepend *string `json:"prepend"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || v.Prepend == nil {
			return nil, fmt.Errorf("normalizer Prepend: want a \"prepend\" string")
		}
		return prependNormalizer{*v.Prepend}, nil
	case "Replace":
		var v struct {
			Pattern json.RawMessage `json:"pattern"`
			Content *string         `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || v.Content == nil {
			return nil, fmt.Errorf("normalizer Replace: want \"pattern\" and \"content\"")
		}
		p, err := parsePattern(v.Pattern)
		if err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		return replaceNormalizer{p, *v.Content}, nil
	case "BertNormalizer":
		var v struct {
			CleanText    *bool `json:"clean_text"`
			ChineseChars *bool `json:"handle_chinese_chars"`
			StripAccents *bool `json:"strip_accents"`
			Lowercase    *bool `json:"lowercase"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer BertNormalizer: %v", err)
		}
		b := bertNormalizer{
			cleanText:    boolOr(v.CleanText, true),
			chineseChars: boolOr(v.ChineseChars, true),
			lowercase:    boolOr(v.Lowercase, true),
		}
		b.stripAccents = boolOr(v.StripAccents, b.lowercase)
		return b, nil
	case "Precompiled":
		var v struct {
			Charsmap *string `json:"precompiled_charsmap"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Precompiled: %v", err)
		}
		if v.Charsmap == nil {
			return nil, fmt.Errorf("normalizer Precompiled: missing precompiled_charsmap")
		}
		p, err := newPrecompiled(*v.Charsmap)
		if err != nil {
			return nil, fmt.Errorf("normalizer Precompiled: %w", err)
		}
		return p, nil
	case "":
		return nil, fmt.Errorf("normalizer without a \"type\"")
	}
	return nil, fmt.Errorf("unsupported normalizer type %q", t.Type)
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func isNull(raw json.RawMessage) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == 'n'
	}
	return true
}

func truncateForError(raw []byte) string {
	if len(raw) > 80 {
		return string(raw[:80]) + "..."
	}
	return string(raw)
}
