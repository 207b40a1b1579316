package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// GPT-2's byte <-> printable character table: printable Latin-1 bytes map to themselves, the
// other 68 bytes to U+0100.. in byte order.
var (
	byteToChar  [256]rune
	byteToStr   [256]string
	charToByte  = map[rune]byte{}
	gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF {
			byteToChar[b] = rune(b)
		} else {
			byteToChar[b] = rune(256 + n)
			n++
		}
		byteToStr[b] = string(byteToChar[b])
		charToByte[byteToChar[b]] = byte(b)
	}
}

// byteLevelChanges is the ByteLevel transformation of s: every byte becomes its printable
// character; the first byte of a character replaces it, the others are inserted.
func byteLevelChanges(s string) []change {
	dest := make([]change, 0, len(s))
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		for k := 0; k < size; k++ {
			dest = append(dest, change{byteToChar[s[i+k]], b2i(k > 0)})
		}
		i += size
	}
	return dest
}

// byteLevelTransform is n.transform(byteLevelChanges(n.normalized), 0) done directly for the
// usual case where the transformation covers the whole string: the first byte-character of a
// character takes that character's first-byte alignment, the inserted ones the alignment of its
// last byte (what transform_range gives them).
func (n *normString) byteLevelTransform() {
	if n.normalized == "" {
		return
	}
	s, e, ok := n.convertOriginal(0, len(n.original))
	if !ok || s != 0 || e != len(n.normalized) {
		n.transform(byteLevelChanges(n.normalized), 0)
		return
	}
	src := n.normalized
	out := make([]byte, 0, 2*len(src))
	al := make([]span, 0, 2*len(src))
	for i := 0; i < len(src); {
		size := 1
		if src[i] >= utf8.RuneSelf {
			_, size = utf8.DecodeRuneInString(src[i:])
		}
		for k := 0; k < size; k++ {
			a := n.align[i]
			if k > 0 {
				a = n.align[i+size-1]
			}
			bs := byteToStr[src[i+k]]
			out = append(out, bs...)
			for range len(bs) {
				al = append(al, a)
			}
		}
		i += size
	}
	n.normalized = string(out)
	n.align = al
}

// Character classes of the GPT-2 pre-tokenization regex.
const (
	clsOther = iota
	clsLetter
	clsNumber
	clsSpace
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		asciiClass[c] = uint8(classOf(rune(c)))
	}
}

func classOf(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

func fastClass(r rune) int {
	if r < utf8.RuneSelf {
		return int(asciiClass[r])
	}
	return classOf(r)
}

// gpt2Segments runs the GPT-2 pre-tokenization regex
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// as a hand-written scanner. Every character belongs to some match, so the result is a list of
// adjacent matches. The tests check it against the regex engine.
func gpt2Segments(s string) []segment {
	out := make([]segment, 0, len(s)/4+1)
	i := 0
	for i < len(s) {
		end := gpt2MatchAt(s, i)
		out = append(out, segment{i, end, true})
		i = end
	}
	return out
}

// runOf returns the end of the run of characters of class cls starting at i.
func runOf(s string, i, cls int) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if int(asciiClass[c]) != cls {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if classOf(r) != cls {
			return i
		}
		i += size
	}
	return i
}

func gpt2MatchAt(s string, i int) int {
	c := s[i]
	if c == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	r, size := rune(c), 1
	if c >= utf8.RuneSelf {
		r, size = utf8.DecodeRuneInString(s[i:])
	}
	cls := fastClass(r)
	if c == ' ' && i+1 < len(s) {
		r2, size2 := rune(s[i+1]), 1
		if r2 >= utf8.RuneSelf {
			r2, size2 = utf8.DecodeRuneInString(s[i+1:])
		}
		if cls2 := fastClass(r2); cls2 != clsSpace {
			return runOf(s, i+1+size2, cls2)
		}
	}
	if cls != clsSpace {
		return runOf(s, i+size, cls)
	}
	// whitespace: \s+(?!\S) takes the run minus its last character unless the run ends the
	// string; a single whitespace character before a non-space falls through to \s+.
	end := i + size
	last := i
	for end < len(s) {
		r2, size2 := rune(s[end]), 1
		if r2 >= utf8.RuneSelf {
			r2, size2 = utf8.DecodeRuneInString(s[end:])
		}
		if !unicode.IsSpace(r2) {
			break
		}
		last = end
		end += size2
	}
	if end == len(s) || last == i {
		return end
	}
	return last
}
