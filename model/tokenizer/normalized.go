package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// span is a half-open byte range [start, end).
type span struct{ start, end int }

// change is one output character of a transformation together with how it relates to the
// characters it replaces, exactly as in HF's NormalizedString::transform_range:
//
//	c == 0  the rune replaces the next input character
//	c > 0   the rune is inserted (it takes the alignment of the previous byte)
//	c < 0   the rune replaces the next input character and -c further characters are removed
type change struct {
	r rune
	c int
}

// normString mirrors HF's NormalizedString: the original text, the normalized text, and for
// every byte of the normalized text the byte range of the original it came from. shift is the
// position of original inside the whole input (HF's original_shift).
type normString struct {
	original   string
	normalized string
	align      []span
	shift      int
}

func newNormString(s string) *normString {
	al := make([]span, len(s))
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		for k := 0; k < n; k++ {
			al[i+k] = span{i, i + n}
		}
		i += n
	}
	return &normString{original: s, normalized: s, align: al}
}

// offsetsOriginal is HF's offsets_original: where this piece sits in the whole input.
func (n *normString) offsetsOriginal() (int, int) { return n.shift, n.shift + len(n.original) }

// convertNormalized maps a normalized byte range to an original byte range (HF convert_offsets
// with Range::Normalized). An empty range is returned unchanged, as HF does.
func (n *normString) convertNormalized(start, end int) (int, int, bool) {
	if start == end {
		return start, end, true
	}
	if start > end || start < 0 || end > len(n.align) {
		return 0, 0, false
	}
	return n.align[start].start, n.align[end-1].end, true
}

// convertOriginal maps an original byte range to a normalized byte range (HF convert_offsets
// with Range::Original), including its handling of zero-width alignments.
func (n *normString) convertOriginal(start, end int) (int, int, bool) {
	if start == end {
		return start, end, true
	}
	if start > end {
		return 0, 0, false
	}
	s, e := -1, -1
	for i, a := range n.align {
		if end < a.end {
			break
		}
		if s < 0 && start <= a.start && a.start != a.end {
			s = i
		}
		e = i + 1
	}
	switch {
	case s >= 0 && e >= 0:
		return s, e, true
	case s >= 0:
		return s, s, true
	case e >= 0:
		return e, e, true
	}
	return 0, 0, false
}

// transformRange replaces the normalized bytes [start, end) by dest (HF transform_range).
// initialOffset characters at the start of the range are removed before dest is applied.
func (n *normString) transformRange(start, end int, dest []change, initialOffset int) {
	replaced := n.normalized[start:end]
	pos := 0
	nextReplaced := func() int {
		if pos >= len(replaced) {
			return 0
		}
		_, sz := utf8.DecodeRuneInString(replaced[pos:])
		pos += sz
		return sz
	}
	offset := start
	for i := 0; i < initialOffset; i++ {
		offset += nextReplaced()
	}
	var sb strings.Builder
	newAlign := make([]span, 0, len(dest))
	for _, d := range dest {
		idx := offset
		var al span
		if d.c > 0 {
			if idx >= 1 && idx-1 < len(n.align) {
				al = n.align[idx-1]
			} else if idx >= 1 && len(n.align) > 0 {
				al = n.align[len(n.align)-1]
			}
		} else if idx < len(n.align) {
			al = n.align[idx]
		} else if len(n.align) > 0 {
			// HF would index out of bounds here; stay total instead of panicking.
			al = n.align[len(n.align)-1]
		}
		if d.c <= 0 {
			offset += nextReplaced()
		}
		for k := 0; k < -d.c; k++ {
			offset += nextReplaced()
		}
		r := d.r
		if !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		sz := utf8.RuneLen(r)
		sb.WriteRune(r)
		for k := 0; k < sz; k++ {
			newAlign = append(newAlign, al)
		}
	}
	ns := sb.String()
	al := make([]span, 0, len(n.align)-(end-start)+len(newAlign))
	al = append(al, n.align[:start]...)
	al = append(al, newAlign...)
	al = append(al, n.align[end:]...)
	n.align = al
	n.normalized = n.normalized[:start] + ns + n.normalized[end:]
}

// transform applies dest to the whole string (HF transform = transform_range(Original(..))).
func (n *normString) transform(dest []change, initialOffset int) {
	s, e, ok := n.convertOriginal(0, len(n.original))
	if !ok {
		return
	}
	n.transformRange(s, e, dest, initialOffset)
}

// slice returns the sub-string covering the normalized byte range [start, end) (HF slice).
func (n *normString) slice(start, end int) (*normString, bool) {
	if start < 0 || end > len(n.normalized) || start > end {
		return nil, false
	}
	os, oe, ok := n.convertNormalized(start, end)
	if !ok {
		return nil, false
	}
	if start == 0 && end == len(n.normalized) && os == 0 && oe == len(n.original) {
		// the whole string: alignments would be copied unchanged (they are never modified
		// in place, so they can be shared)
		return &normString{original: n.original, normalized: n.normalized, align: n.align, shift: n.shift}, true
	}
	orig := ""
	if os >= 0 && os <= oe && oe <= len(n.original) && isBoundary(n.original, os) && isBoundary(n.original, oe) {
		orig = n.original[os:oe]
	}
	norm := ""
	if isBoundary(n.normalized, start) && isBoundary(n.normalized, end) {
		norm = n.normalized[start:end]
	}
	al := make([]span, end-start)
	for i, a := range n.align[start:end] {
		al[i] = span{a.start - os, a.end - os}
	}
	return &normString{original: orig, normalized: norm, align: al, shift: n.shift + os}, true
}

func isBoundary(s string, i int) bool {
	if i == 0 || i == len(s) {
		return true
	}
	if i < 0 || i > len(s) {
		return false
	}
	return utf8.RuneStart(s[i])
}

// prepend inserts s before the first character (HF prepend); no-op on an empty string.
func (n *normString) prepend(s string) {
	if n.normalized == "" {
		return
	}
	r, size := utf8.DecodeRuneInString(n.normalized)
	dest := make([]change, 0, len(s)+1)
	i := 0
	for _, c := range s {
		dest = append(dest, change{c, b2i(i != 0)})
		i++
	}
	dest = append(dest, change{r, 1})
	n.transformRange(0, size, dest, 0)
}

// replace substitutes every match of p by content (HF NormalizedString::replace). It is done in
// one pass but gives the alignments HF's repeated transform_range calls give: every inserted
// character takes the alignment of the byte just before the end of its match.
func (n *normString) replace(p pattern, content string) error {
	matches, err := p.findMatches(n.normalized)
	if err != nil {
		return err
	}
	any := false
	for _, m := range matches {
		if m.match {
			any = true
			break
		}
	}
	if !any {
		return nil
	}
	var sb strings.Builder
	sb.Grow(len(n.normalized))
	al := make([]span, 0, len(n.align))
	for _, m := range matches {
		if !m.match {
			sb.WriteString(n.normalized[m.start:m.end])
			al = append(al, n.align[m.start:m.end]...)
			continue
		}
		var a span
		if m.end > m.start {
			a = n.align[m.end-1]
		} else if len(al) > 0 {
			a = al[len(al)-1]
		}
		sb.WriteString(content)
		for k := 0; k < len(content); k++ {
			al = append(al, a)
		}
	}
	n.normalized = sb.String()
	n.align = al
	return nil
}

// filter keeps the characters for which keep is true (HF filter).
func (n *normString) filter(keep func(rune) bool) {
	removed := 0
	removedStart := 0
	dest := make([]change, 0, len(n.normalized))
	var last rune
	haveLast := false
	for _, c := range n.normalized {
		if keep(c) {
			if haveLast {
				dest = append(dest, change{last, -removed})
			} else {
				removedStart = removed
			}
			last = c
			haveLast = true
			removed = 0
		} else {
			removed++
		}
	}
	if haveLast {
		dest = append(dest, change{last, -removed})
	}
	n.transform(dest, removedStart)
}

// mapRunes replaces every character by f(c) (HF map).
func (n *normString) mapRunes(f func(rune) rune) {
	dest := make([]change, 0, len(n.normalized))
	for _, c := range n.normalized {
		dest = append(dest, change{f(c), 0})
	}
	n.transform(dest, 0)
}

// lowercase is HF lowercase: Rust char::to_lowercase, which can yield several characters.
func (n *normString) lowercase() {
	ascii := true
	for i := 0; i < len(n.normalized); i++ {
		c := n.normalized[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// Same result as the generic path (one change 0 per character), without the work.
		b := []byte(n.normalized)
		changed := false
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 32
				changed = true
			}
		}
		if changed {
			n.normalized = string(b)
		}
		return
	}
	dest := make([]change, 0, len(n.normalized))
	for _, c := range n.normalized {
		for i, l := range rustToLower(c) {
			dest = append(dest, change{l, b2i(i > 0)})
		}
	}
	n.transform(dest, 0)
}

// strip removes leading and/or trailing whitespace (HF lrstrip, including its use of the byte
// length where a character count is meant, which only matters for the last kept character).
func (n *normString) strip(left, right bool) {
	runes := []rune(n.normalized)
	lead, trail := 0, 0
	if left {
		for lead < len(runes) && rustIsWhitespace(runes[lead]) {
			lead++
		}
	}
	if right {
		for trail < len(runes) && rustIsWhitespace(runes[len(runes)-1-trail]) {
			trail++
		}
	}
	if lead == 0 && trail == 0 {
		return
	}
	count := len(runes)
	dest := make([]change, 0, count)
	for i, c := range runes {
		switch {
		case i < lead || i >= count-trail:
		case i == len(n.normalized)-trail-1:
			dest = append(dest, change{c, -trail})
		default:
			dest = append(dest, change{c, 0})
		}
	}
	n.transform(dest, lead)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
