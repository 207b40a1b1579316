package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decoder is one HF decoder step: a list of token strings in, a list out; the final list is
// concatenated.
type decoder interface {
	decodeChain(toks []string) ([]string, error)
}

type decoderSeq []decoder

func (s decoderSeq) decodeChain(toks []string) ([]string, error) {
	var err error
	for _, d := range s {
		if toks, err = d.decodeChain(toks); err != nil {
			return nil, err
		}
	}
	return toks, nil
}

// byteLevelDec maps the byte-level characters back to bytes; a token with a character outside
// the table is taken as raw UTF-8. The whole output is then decoded like from_utf8_lossy.
type byteLevelDec struct{}

func (byteLevelDec) decodeChain(toks []string) ([]string, error) {
	var buf []byte
	for _, t := range toks {
		start := len(buf)
		ok := true
		for _, r := range t {
			b, in := charToByte[r]
			if !in {
				ok = false
				break
			}
			buf = append(buf, b)
		}
		if !ok {
			buf = append(buf[:start], t...)
		}
	}
	return []string{lossyUTF8(buf)}, nil
}

// metaspaceDec turns the replacement character back into spaces; in the first token it is
// dropped unless the prepend scheme is "never".
type metaspaceDec struct {
	replacement rune
	scheme      string
}

func (m metaspaceDec) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		var sb strings.Builder
		for _, r := range t {
			if r == m.replacement {
				if i == 0 && m.scheme != "never" {
					continue
				}
				sb.WriteByte(' ')
			} else {
				sb.WriteRune(r)
			}
		}
		out[i] = sb.String()
	}
	return out, nil
}

type replaceDec struct {
	pat     pattern
	content string
}

func (r replaceDec) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		segs, err := r.pat.findMatches(t)
		if err != nil {
			return nil, err
		}
		var sb strings.Builder
		for _, s := range segs {
			if s.match {
				sb.WriteString(r.content)
			} else {
				sb.WriteString(t[s.start:s.end])
			}
		}
		out[i] = sb.String()
	}
	return out, nil
}

// byteFallbackDec turns runs of <0xXX> tokens back into text; an invalid UTF-8 run becomes one
// U+FFFD per byte.
type byteFallbackDec struct{}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	h := t[3:5]
	// Rust's u8::from_str_radix accepts a leading '+'.
	if h[0] == '+' {
		h = h[1:]
	}
	var v byte
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case '0' <= c && c <= '9':
			v = v*16 + c - '0'
		case 'a' <= c && c <= 'f':
			v = v*16 + c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = v*16 + c - 'A' + 10
		default:
			return 0, false
		}
	}
	return v, true
}

func (byteFallbackDec) decodeChain(toks []string) ([]string, error) {
	out := make([]string, 0, len(toks))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range toks {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out, nil
}

type fuseDec struct{}

func (fuseDec) decodeChain(toks []string) ([]string, error) {
	return []string{strings.Join(toks, "")}, nil
}

// stripDec removes up to start leading and stop trailing occurrences of content per token.
type stripDec struct {
	content     rune
	start, stop int
}

func (s stripDec) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		rs := []rune(t)
		startCut := 0
		for j := 0; j < s.start && j < len(rs); j++ {
			if rs[j] != s.content {
				break
			}
			startCut = j + 1
		}
		stopCut := len(rs)
		for j := 0; j < s.stop && j < len(rs); j++ {
			k := len(rs) - j - 1
			if rs[k] != s.content {
				break
			}
			stopCut = k
		}
		if stopCut < startCut {
			stopCut = startCut
		}
		out[i] = string(rs[startCut:stopCut])
	}
	return out, nil
}

type wordPieceDec struct {
	prefix  string
	cleanup bool
}

func wordPieceCleanup(s string) string {
	for _, p := range [][2]string{
		{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
		{" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
	} {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

func (w wordPieceDec) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		if i != 0 {
			if strings.HasPrefix(t, w.prefix) {
				t = strings.Replace(t, w.prefix, "", 1)
			} else {
				t = " " + t
			}
		}
		if w.cleanup {
			t = wordPieceCleanup(t)
		}
		out[i] = t
	}
	return out, nil
}

// bpeDec is HF's BPEDecoder: the end-of-word suffix becomes a space (none after the last token).
type bpeDec struct{ suffix string }

func (b bpeDec) decodeChain(toks []string) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		rep := " "
		if i == len(toks)-1 {
			rep = ""
		}
		out[i] = strings.ReplaceAll(t, b.suffix, rep)
	}
	return out, nil
}

// ctcDec is HF's CTC decoder: collapse repeats, drop the pad token, word delimiter -> space.
type ctcDec struct {
	pad, delim string
	cleanup    bool
}

func (c ctcDec) decodeChain(toks []string) ([]string, error) {
	var out []string
	for i, t := range toks {
		if i > 0 && toks[i-1] == t {
			continue
		}
		t = strings.ReplaceAll(t, c.pad, "")
		if c.cleanup {
			t = strings.ReplaceAll(wordPieceCleanup(t), c.delim, " ")
		}
		if t != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// lossyUTF8 is Rust's String::from_utf8_lossy: every maximal invalid subsequence (as the
// Unicode "substitution of maximal subparts" practice defines it) becomes one U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			sb.Write(b[i : i+size])
			i += size
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += invalidPrefixLen(b[i:])
	}
	return sb.String()
}

// invalidPrefixLen is the length of the maximal prefix of b that starts a valid UTF-8
// sequence but cannot be completed (at least 1).
func invalidPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case 0xC2 <= c && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case 0xE1 <= c && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case 0xF1 <= c && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 {
			if x < lo || x > hi {
				return n
			}
		} else if x < 0x80 || x > 0xBF {
			return n
		}
		n++
	}
	return n
}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typeOnly
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decoder: %v", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder Sequence: %v", err)
		}
		var seq decoderSeq
		for i, r := range v.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, fmt.Errorf("decoder Sequence[%d]: %w", i, err)
			}
			if d == nil {
				return nil, fmt.Errorf("decoder Sequence[%d]: null", i)
			}
			seq = append(seq, d)
		}
		return seq, nil
	case "ByteLevel":
		return byteLevelDec{}, nil
	case "Metaspace":
		m, err := parseMetaspace(raw)
		if err != nil {
			return nil, fmt.Errorf("decoder Metaspace: %w", err)
		}
		return metaspaceDec{replacement: m.replacement, scheme: m.scheme}, nil
	case "Replace":
		var v struct {
			Pattern json.RawMessage `json:"pattern"`
			Content *string         `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || v.Content == nil {
			return nil, fmt.Errorf("decoder Replace: want \"pattern\" and \"content\"")
		}
		p, err := parsePattern(v.Pattern)
		if err != nil {
			return nil, fmt.Errorf("decoder Replace: %w", err)
		}
		return replaceDec{p, *v.Content}, nil
	case "ByteFallback":
		return byteFallbackDec{}, nil
	case "Fuse":
		return fuseDec{}, nil
	case "Strip":
		var v struct {
			Content *string `json:"content"`
			Start   int     `json:"start"`
			Stop    int     `json:"stop"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || v.Content == nil || utf8.RuneCountInString(*v.Content) != 1 {
			return nil, fmt.Errorf("decoder Strip: want a one-character \"content\", \"start\" and \"stop\"")
		}
		if v.Start < 0 || v.Stop < 0 {
			return nil, fmt.Errorf("decoder Strip: negative start/stop")
		}
		r, _ := utf8.DecodeRuneInString(*v.Content)
		return stripDec{r, v.Start, v.Stop}, nil
	case "WordPiece":
		var v struct {
			Prefix  *string `json:"prefix"`
			Cleanup *bool   `json:"cleanup"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder WordPiece: %v", err)
		}
		p := "##"
		if v.Prefix != nil {
			p = *v.Prefix
		}
		return wordPieceDec{prefix: p, cleanup: boolOr(v.Cleanup, true)}, nil
	case "BPEDecoder":
		var v struct {
			Suffix *string `json:"suffix"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder BPEDecoder: %v", err)
		}
		s := "</w>"
		if v.Suffix != nil {
			s = *v.Suffix
		}
		return bpeDec{s}, nil
	case "CTC":
		var v struct {
			Pad     *string `json:"pad_token"`
			Delim   *string `json:"word_delimiter_token"`
			Cleanup *bool   `json:"cleanup"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder CTC: %v", err)
		}
		c := ctcDec{pad: "<pad>", delim: "|", cleanup: boolOr(v.Cleanup, true)}
		if v.Pad != nil {
			c.pad = *v.Pad
		}
		if v.Delim != nil {
			c.delim = *v.Delim
		}
		return c, nil
	case "":
		return nil, fmt.Errorf("decoder without a \"type\"")
	}
	return nil, fmt.Errorf("unsupported decoder type %q", t.Type)
}
