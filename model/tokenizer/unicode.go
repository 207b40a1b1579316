package tokenizer

import (
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Character classes as the Rust side of HF tokenizers defines them.

// rustIsWhitespace is Rust's char::is_whitespace (the White_Space property).
func rustIsWhitespace(r rune) bool { return unicode.IsSpace(r) }

// rustIsNumeric is Rust's char::is_numeric (general categories Nd, Nl, No).
func rustIsNumeric(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsNumber(r)
}

// rustIsAlphabetic is Rust's char::is_alphabetic (the Alphabetic property).
func rustIsAlphabetic(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r)
}

// regexWordChar is \w of the Rust regex crate (Alphabetic, M, Nd, Pc, Join_Control).
func regexWordChar(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'
	}
	return rustIsAlphabetic(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Join_Control, r)
}

// isBertPunct is HF's is_bert_punc: ASCII punctuation or a Unicode P* character.
func isBertPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return '!' <= r && r <= '/' || ':' <= r && r <= '@' || '[' <= r && r <= '`' || '{' <= r && r <= '~'
	}
	return unicode.IsPunct(r)
}

// isBertControl is HF BertNormalizer's is_control: Cc, Cf, Co, Cs except \t \n \r.
func isBertControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// isBertWhitespace is HF BertNormalizer's is_whitespace.
func isBertWhitespace(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return true
	}
	return rustIsWhitespace(r)
}

func isChineseChar(r rune) bool {
	switch {
	case 0x4E00 <= r && r <= 0x9FFF, 0x3400 <= r && r <= 0x4DBF, 0x20000 <= r && r <= 0x2A6DF,
		0x2A700 <= r && r <= 0x2B73F, 0x2B740 <= r && r <= 0x2B81F, 0x2B920 <= r && r <= 0x2CEAF,
		0xF900 <= r && r <= 0xFAFF, 0x2F800 <= r && r <= 0x2FA1F:
		return true
	}
	return false
}

// rustToLower is Rust's char::to_lowercase: the simple mapping plus the one unconditional
// multi-character mapping of SpecialCasing.txt (U+0130 -> "i\u0307").
func rustToLower(r rune) []rune {
	if r == 0x130 {
		return []rune{'i', 0x307}
	}
	return []rune{unicode.ToLower(r)}
}

// Unicode normalization that also reports, per output character, how it relates to the input
// characters (the unicode-normalization-alignments crate HF uses): decomposed characters after
// the first of their source get +1, a composition of k characters gets 1-k relative changes.

type normChar struct {
	r   rune
	c   int
	ccc uint8
}

const (
	hangulSBase  = 0xAC00
	hangulLBase  = 0x1100
	hangulVBase  = 0x1161
	hangulTBase  = 0x11A7
	hangulLCount = 19
	hangulVCount = 21
	hangulTCount = 28
	hangulNCount = hangulVCount * hangulTCount
	hangulSCount = hangulLCount * hangulNCount
)

func cccOf(r rune) uint8 {
	if r < 0x300 {
		return 0
	}
	var buf [4]byte
	n := utf8.EncodeRune(buf[:], r)
	return norm.NFD.Properties(buf[:n]).CCC()
}

// decomposeChanges decomposes s (canonically or, with compat, compatibly) and puts every run of
// non-starters in canonical order (a stable sort on the combining class).
func decomposeChanges(s string, compat bool) []normChar {
	form := norm.NFD
	if compat {
		form = norm.NFKD
	}
	out := make([]normChar, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if hangulSBase <= r && r < hangulSBase+hangulSCount {
			si := r - hangulSBase
			out = append(out, normChar{hangulLBase + si/hangulNCount, 0, 0})
			out = append(out, normChar{hangulVBase + (si%hangulNCount)/hangulTCount, 1, 0})
			if t := si % hangulTCount; t != 0 {
				out = append(out, normChar{hangulTBase + t, 1, 0})
			}
		} else if d := form.Properties([]byte(s[i : i+size])).Decomposition(); len(d) > 0 {
			first := true
			for _, dr := range string(d) {
				out = append(out, normChar{dr, b2i(!first), cccOf(dr)})
				first = false
			}
		} else {
			out = append(out, normChar{r, 0, cccOf(r)})
		}
		i += size
	}
	// canonical ordering: stable insertion sort within each run of non-starters
	for i := 1; i < len(out); i++ {
		if out[i].ccc == 0 {
			continue
		}
		for j := i; j > 0 && out[j-1].ccc > out[j].ccc && out[j-1].ccc != 0; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out
}

var composeCache sync.Map // [2]rune -> rune (or -1)

// composePair returns the primary composite of a and b, if any.
func composePair(a, b rune) (rune, bool) {
	// Hangul LV and LV+T
	if hangulLBase <= a && a < hangulLBase+hangulLCount && hangulVBase <= b && b < hangulVBase+hangulVCount {
		return hangulSBase + ((a-hangulLBase)*hangulVCount+(b-hangulVBase))*hangulTCount, true
	}
	if hangulSBase <= a && a < hangulSBase+hangulSCount && (a-hangulSBase)%hangulTCount == 0 &&
		hangulTBase < b && b < hangulTBase+hangulTCount {
		return a + (b - hangulTBase), true
	}
	key := [2]rune{a, b}
	if v, ok := composeCache.Load(key); ok {
		r := v.(rune)
		return r, r >= 0
	}
	res := rune(-1)
	s := norm.NFC.String(string([]rune{a, b}))
	if r, size := utf8.DecodeRuneInString(s); size == len(s) && r != utf8.RuneError {
		res = r
	}
	composeCache.Store(key, res)
	return res, res >= 0
}

// recomposeChanges is the canonical composition step of NFC/NFKC, carrying the changes along.
func recomposeChanges(in []normChar) []change {
	out := make([]change, 0, len(in))
	var buffer []change
	var composee *change
	var comp change
	lastCCC := -1
	for _, nc := range in {
		ch, chg := nc.r, nc.c
		class := int(nc.ccc)
		if composee == nil {
			if class != 0 {
				out = append(out, change{ch, chg})
				continue
			}
			comp = change{ch, chg}
			composee = &comp
			continue
		}
		k := *composee
		if lastCCC < 0 {
			if r, ok := composePair(k.r, ch); ok {
				comp = change{r, k.c + chg - 1}
				continue
			}
			if class == 0 {
				out = append(out, k)
				comp = change{ch, chg}
				continue
			}
			buffer = append(buffer, change{ch, chg})
			lastCCC = class
			continue
		}
		if lastCCC >= class {
			if class == 0 {
				out = append(out, k)
				out = append(out, buffer...)
				buffer = buffer[:0]
				comp = change{ch, chg}
				lastCCC = -1
				continue
			}
			buffer = append(buffer, change{ch, chg})
			lastCCC = class
			continue
		}
		if r, ok := composePair(k.r, ch); ok {
			comp = change{r, k.c + chg - 1}
			continue
		}
		buffer = append(buffer, change{ch, chg})
		lastCCC = class
	}
	if composee != nil {
		out = append(out, *composee)
	}
	out = append(out, buffer...)
	return out
}

// unicodeNormalize applies NFD/NFKD/NFC/NFKC to n as HF does.
func unicodeNormalize(n *normString, compat, compose bool) {
	var form norm.Form
	switch {
	case compat && compose:
		form = norm.NFKC
	case compat:
		form = norm.NFKD
	case compose:
		form = norm.NFC
	default:
		form = norm.NFD
	}
	if form.IsNormalString(n.normalized) {
		// HF would transform every character into itself: alignments stay the same.
		return
	}
	dec := decomposeChanges(n.normalized, compat)
	var dest []change
	if compose {
		dest = recomposeChanges(dec)
	} else {
		dest = make([]change, len(dec))
		for i, d := range dec {
			dest[i] = change{d.r, d.c}
		}
	}
	n.transform(dest, 0)
}
