package tokenizer

import (
	"fmt"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's "added_tokens".
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedVocab is HF's AddedVocabulary: tokens matched in the raw input (normalized=false) or in
// the normalized input (normalized=true) before the pre-tokenizer and model run.
type addedVocab struct {
	byContent map[string]int
	byID      map[int]*addedToken
	special   map[string]bool
	raw       *matcher // tokens with normalized=false
	norm      *matcher // tokens with normalized=true, matched against their normalized form
	warnings  []string
}

// newAddedVocab assigns ids the way HF's add_tokens does when it loads a tokenizer.json: a
// token already in the model vocab keeps that id, a new one gets the next free id.
func newAddedVocab(tokens []addedToken, m tokModel, nz normalizer) (*addedVocab, error) {
	a := &addedVocab{byContent: map[string]int{}, byID: map[int]*addedToken{}, special: map[string]bool{}}
	var specialList, plainList []*addedToken
	for i := range tokens {
		t := &tokens[i]
		if t.Special && t.Content != "" && !a.special[t.Content] {
			a.special[t.Content] = true
			specialList = append(specialList, t)
		}
	}
	maxAdded := -1
	for i := range tokens {
		t := &tokens[i]
		if t.Content == "" {
			continue
		}
		if old, ok := a.byContent[t.Content]; ok {
			prev := *a.byID[old]
			prev.ID = t.ID
			if prev == *t {
				continue
			}
		}
		id, ok := a.byContent[t.Content]
		if !ok {
			id, ok = m.tokenToID(t.Content)
		}
		if !ok {
			vs := m.vocabLen()
			switch {
			case maxAdded < 0:
				id = vs
			case maxAdded >= vs || vs == 0:
				id = maxAdded + 1
			default:
				id = vs
			}
		}
		if id != t.ID {
			a.warnings = append(a.warnings, fmt.Sprintf("added token %q: tokenizer.json gives id %d, HF assigns %d (used)", t.Content, t.ID, id))
		}
		a.byContent[t.Content] = id
		if id > maxAdded {
			maxAdded = id
		}
		cp := *t
		cp.ID = id
		a.byID[id] = &cp
		if !a.special[t.Content] {
			plainList = append(plainList, &cp)
		}
	}
	var rawPats, normPats []string
	var rawIDs, normIDs []int
	for _, t := range append(specialList, plainList...) {
		id := a.byContent[t.Content]
		if !t.Normalized {
			rawPats = append(rawPats, t.Content)
			rawIDs = append(rawIDs, id)
			continue
		}
		n := newNormString(t.Content)
		if nz != nil {
			if err := nz.normalize(n); err != nil {
				return nil, fmt.Errorf("added token %q: %w", t.Content, err)
			}
		}
		normPats = append(normPats, n.normalized)
		normIDs = append(normIDs, id)
	}
	a.raw = newMatcher(rawPats, rawIDs)
	a.norm = newMatcher(normPats, normIDs)
	return a, nil
}

// matcher finds non-overlapping leftmost-longest matches of a set of strings (what HF gets
// from aho-corasick with MatchKind::LeftmostLongest; equal patterns: the first one wins).
type matcher struct {
	next  map[uint64]int32
	out   []int32 // node -> pattern index or -1
	ids   []int
	first [256]bool
	empty bool
}

func newMatcher(pats []string, ids []int) *matcher {
	m := &matcher{next: map[uint64]int32{}, out: []int32{-1}, ids: ids, empty: true}
	for pi, p := range pats {
		if p == "" {
			continue
		}
		m.empty = false
		m.first[p[0]] = true
		n := int32(0)
		for i := 0; i < len(p); i++ {
			k := uint64(n)<<8 | uint64(p[i])
			c, ok := m.next[k]
			if !ok {
				c = int32(len(m.out))
				m.out = append(m.out, -1)
				m.next[k] = c
			}
			n = c
		}
		if m.out[n] < 0 {
			m.out[n] = int32(pi)
		}
	}
	return m
}

type addedMatch struct {
	start, end int
	id         int
}

func (m *matcher) find(s string) []addedMatch {
	if m.empty {
		return nil
	}
	var out []addedMatch
	for i := 0; i < len(s); {
		if !m.first[s[i]] {
			i++
			continue
		}
		n := int32(0)
		best, bestEnd := int32(-1), 0
		for j := i; j < len(s); j++ {
			c, ok := m.next[uint64(n)<<8|uint64(s[j])]
			if !ok {
				break
			}
			n = c
			if m.out[n] >= 0 {
				best, bestEnd = m.out[n], j+1
			}
		}
		if best >= 0 {
			out = append(out, addedMatch{i, bestEnd, m.ids[best]})
			i = bestEnd
		} else {
			i++
		}
	}
	return out
}

// findMatches is HF AddedVocabulary::find_matches: the matches with single_word, lstrip and
// rstrip applied, as (id or -1, range) pieces covering s.
func (a *addedVocab) findMatches(s string, m *matcher) []addedMatch {
	if s == "" {
		return []addedMatch{{0, 0, -1}}
	}
	var out []addedMatch
	startOffset := 0
	for _, mt := range m.find(s) {
		start, stop := mt.start, mt.end
		t := a.byID[mt.id]
		if t.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if t.LStrip {
			newStart := spaceLeftmostAtEnd(s[:start])
			start = max(newStart, startOffset)
		}
		if t.RStrip {
			stop += spaceRightmostAtStart(s[stop:])
		}
		if startOffset < start {
			out = append(out, addedMatch{startOffset, start, -1})
		}
		out = append(out, addedMatch{start, stop, mt.id})
		startOffset = stop
	}
	if startOffset != len(s) {
		out = append(out, addedMatch{startOffset, len(s), -1})
	}
	return out
}

func endsWithWord(s string) bool {
	r, size := utf8.DecodeLastRuneInString(s)
	return size > 0 && regexWordChar(r)
}

func startsWithWord(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return size > 0 && regexWordChar(r)
}

// spaceLeftmostAtEnd is the start of the trailing whitespace of s (regex \s*$).
func spaceLeftmostAtEnd(s string) int {
	i := len(s)
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if !rustIsWhitespace(r) {
			break
		}
		i -= size
	}
	return i
}

// spaceRightmostAtStart is the length of the leading whitespace of s (regex ^\s*).
func spaceRightmostAtStart(s string) int {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !rustIsWhitespace(r) {
			break
		}
		i += size
	}
	return i
}

// splitWithIndices is HF split_with_indices: slice n along the added-token matches.
func (a *addedVocab) splitWithIndices(n *normString, m *matcher) ([]pretokSplit, error) {
	matches := a.findMatches(n.normalized, m)
	out := make([]pretokSplit, 0, len(matches))
	for _, mt := range matches {
		sl, ok := n.slice(mt.start, mt.end)
		if !ok {
			return nil, fmt.Errorf("added vocabulary: bad split [%d,%d)", mt.start, mt.end)
		}
		if mt.id >= 0 {
			v := sl.normalized
			out = append(out, pretokSplit{n: sl, tokens: []token{{mt.id, v, 0, len(v)}}, done: true})
		} else {
			out = append(out, pretokSplit{n: sl})
		}
	}
	return out, nil
}

// extractAndNormalize is HF extract_and_normalize: split on raw added tokens, normalize the
// rest, then split on normalized added tokens.
func (a *addedVocab) extractAndNormalize(nz normalizer, s string) (*preTokenized, error) {
	p := &preTokenized{splits: []pretokSplit{{n: newNormString(s)}}}
	if err := p.split(func(n *normString) ([]pretokSplit, error) { return a.splitWithIndices(n, a.raw) }); err != nil {
		return nil, err
	}
	err := p.split(func(n *normString) ([]pretokSplit, error) {
		if nz != nil {
			if err := nz.normalize(n); err != nil {
				return nil, err
			}
		}
		return a.splitWithIndices(n, a.norm)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}
