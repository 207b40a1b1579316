package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// segment is one piece of HF's Pattern::find_matches: the string is covered by consecutive
// segments, each either a match or the text between matches.
type segment struct {
	start, end int
	match      bool
}

type pattern interface {
	findMatches(s string) ([]segment, error)
}

// charPattern matches every single character for which the predicate holds.
type charPattern func(rune) bool

func (f charPattern) findMatches(s string) ([]segment, error) {
	if s == "" {
		return []segment{{0, 0, false}}, nil
	}
	var out []segment
	last := 0
	for i, c := range s {
		if f(c) {
			if last < i {
				out = append(out, segment{last, i, false})
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			end := i + size
			out = append(out, segment{i, end, true})
			last = end
		}
	}
	if last < len(s) {
		out = append(out, segment{last, len(s), false})
	}
	return out, nil
}

// literalPattern is a non-empty literal string (HF escapes it into a regex; a literal search
// finds the same leftmost non-overlapping matches).
type literalPattern string

func (p literalPattern) findMatches(s string) ([]segment, error) {
	if s == "" {
		return []segment{{0, 0, false}}, nil
	}
	lit := string(p)
	var out []segment
	prev := 0
	for prev <= len(s) {
		i := strings.Index(s[prev:], lit)
		if i < 0 {
			break
		}
		start := prev + i
		if prev != start {
			out = append(out, segment{prev, start, false})
		}
		out = append(out, segment{start, start + len(lit), true})
		prev = start + len(lit)
	}
	if prev != len(s) {
		out = append(out, segment{prev, len(s), false})
	}
	return out, nil
}

// regexPattern is an Oniguruma-style regex run with regexp2. Matches are iterated the way the
// onig crate's find_iter does (an empty match right after the previous match is skipped).
type regexPattern struct {
	src string
	re  *regexp2.Regexp
}

func compileRegex(src string) (*regexPattern, error) {
	re, err := regexp2.Compile(src, regexp2.Multiline)
	if err != nil {
		return nil, err
	}
	return &regexPattern{src: src, re: re}, nil
}

func (p *regexPattern) findMatches(s string) ([]segment, error) {
	if s == "" {
		return []segment{{0, 0, false}}, nil
	}
	if p.src == gpt2Pattern {
		return gpt2Segments(s), nil
	}
	runes := []rune(s)
	boff := make([]int, len(runes)+1)
	b := 0
	for i, r := range runes {
		boff[i] = b
		b += utf8.RuneLen(r)
	}
	boff[len(runes)] = b
	var out []segment
	prev := 0
	lastEnd := 0
	lastMatchEnd := -1
	for lastEnd <= len(runes) {
		m, err := p.re.FindRunesMatchStartingAt(runes, lastEnd)
		if err != nil {
			return nil, fmt.Errorf("regex %q: %w", p.src, err)
		}
		if m == nil {
			break
		}
		ms, me := m.Index, m.Index+m.Length
		if ms == me && lastMatchEnd == me {
			lastEnd++
			continue
		}
		lastEnd, lastMatchEnd = me, me
		bs, be := boff[ms], boff[me]
		if prev != bs {
			out = append(out, segment{prev, bs, false})
		}
		out = append(out, segment{bs, be, true})
		prev = be
	}
	if prev != len(s) {
		out = append(out, segment{prev, len(s), false})
	}
	return out, nil
}

// invertPattern flips match / non-match (HF Invert).
type invertPattern struct{ p pattern }

func (p invertPattern) findMatches(s string) ([]segment, error) {
	segs, err := p.p.findMatches(s)
	for i := range segs {
		segs[i].match = !segs[i].match
	}
	return segs, err
}

// patternJSON is HF's {"String": "..."} | {"Regex": "..."}.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func parsePattern(raw json.RawMessage) (pattern, error) {
	var pj patternJSON
	if err := json.Unmarshal(raw, &pj); err != nil {
		return nil, fmt.Errorf("pattern: %v", err)
	}
	switch {
	case pj.String != nil && pj.Regex == nil:
		if *pj.String == "" {
			return compileRegex("")
		}
		return literalPattern(*pj.String), nil
	case pj.Regex != nil && pj.String == nil:
		p, err := compileRegex(*pj.Regex)
		if err != nil {
			return nil, fmt.Errorf("pattern: bad regex %q: %v", *pj.Regex, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("pattern: want exactly one of String or Regex, got %s", truncateForError(raw))
}

// splitBehavior is HF's SplitDelimiterBehavior.
type splitBehavior int

const (
	splitRemoved splitBehavior = iota
	splitIsolated
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

func parseBehavior(s string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return splitRemoved, nil
	case "Isolated":
		return splitIsolated, nil
	case "MergedWithPrevious":
		return splitMergedWithPrevious, nil
	case "MergedWithNext":
		return splitMergedWithNext, nil
	case "Contiguous":
		return splitContiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

// splitBy is HF NormalizedString::split: apply a pattern and a delimiter behaviour.
func (n *normString) splitBy(p pattern, b splitBehavior) ([]*normString, error) {
	segs, err := p.findMatches(n.normalized)
	if err != nil {
		return nil, err
	}
	type piece struct {
		start, end int
		remove     bool
	}
	pieces := make([]piece, 0, len(segs))
	switch b {
	case splitIsolated:
		for _, s := range segs {
			pieces = append(pieces, piece{s.start, s.end, false})
		}
	case splitRemoved:
		for _, s := range segs {
			pieces = append(pieces, piece{s.start, s.end, s.match})
		}
	case splitContiguous:
		prevMatch := false
		for _, s := range segs {
			if s.match == prevMatch && len(pieces) > 0 {
				pieces[len(pieces)-1].end = s.end
			} else {
				pieces = append(pieces, piece{s.start, s.end, false})
			}
			prevMatch = s.match
		}
	case splitMergedWithPrevious:
		prevMatch := false
		for _, s := range segs {
			if s.match && !prevMatch && len(pieces) > 0 {
				pieces[len(pieces)-1].end = s.end
			} else {
				pieces = append(pieces, piece{s.start, s.end, false})
			}
			prevMatch = s.match
		}
	case splitMergedWithNext:
		prevMatch := false
		for i := len(segs) - 1; i >= 0; i-- {
			s := segs[i]
			if s.match && !prevMatch && len(pieces) > 0 {
				pieces[len(pieces)-1].start = s.start
			} else {
				pieces = append(pieces, piece{s.start, s.end, false})
			}
			prevMatch = s.match
		}
		for i, j := 0, len(pieces)-1; i < j; i, j = i+1, j-1 {
			pieces[i], pieces[j] = pieces[j], pieces[i]
		}
	}
	out := make([]*normString, 0, len(pieces))
	for _, p := range pieces {
		if p.remove {
			continue
		}
		sl, ok := n.slice(p.start, p.end)
		if !ok {
			return nil, fmt.Errorf("bad split [%d,%d) of %q", p.start, p.end, n.normalized)
		}
		out = append(out, sl)
	}
	return out, nil
}
