package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// token is a model output: id, string and byte offsets inside the word it came from.
type token struct {
	id         int
	value      string
	start, end int
}

// tokModel is a tokenization model (BPE, WordPiece, WordLevel, Unigram).
type tokModel interface {
	tokenize(word string) ([]token, error)
	tokenToID(s string) (int, bool)
	idToToken(id int) (string, bool)
	vocabSize() int // highest id + 1
	vocabLen() int  // number of entries (HF get_vocab_size)
	unknownID() (int, bool)
}

// vocab is a token <-> id table shared by the models.
type vocab struct {
	toID  map[string]int
	toTok []string
	has   []bool
}

func newVocab(m map[string]int) (*vocab, error) {
	v := &vocab{toID: m}
	maxID := -1
	for tok, id := range m {
		if id < 0 {
			return nil, fmt.Errorf("token %q has negative id %d", tok, id)
		}
		if id > maxID {
			maxID = id
		}
	}
	if maxID >= 1<<26 {
		return nil, fmt.Errorf("token id %d is implausibly large", maxID)
	}
	v.toTok = make([]string, maxID+1)
	v.has = make([]bool, maxID+1)
	for tok, id := range m {
		if v.has[id] && v.toTok[id] < tok {
			continue // duplicate id: keep one deterministically
		}
		v.toTok[id] = tok
		v.has[id] = true
	}
	return v, nil
}

func (v *vocab) tokenToID(s string) (int, bool) { id, ok := v.toID[s]; return id, ok }
func (v *vocab) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(v.toTok) || !v.has[id] {
		return "", false
	}
	return v.toTok[id], true
}
func (v *vocab) vocabSize() int { return len(v.toTok) }
func (v *vocab) vocabLen() int  { return len(v.toID) }

// bpe is HF's BPE model.
type bpe struct {
	*vocab
	merges       map[uint64]mergeInfo
	unk          string
	hasUnk       bool
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	byteIDs      [256]int
	hasByteIDs   [256]bool

	cacheMu sync.RWMutex
	cache   map[string][]token

	mergeOps atomic.Int64 // heap pops, for the complexity test
}

type mergeInfo struct{ rank, newID int }

const (
	bpeCacheCapacity = 10000
	bpeCacheMaxWord  = 256
)

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func parseBPE(raw json.RawMessage) (*bpe, error) {
	var v struct {
		Dropout      *float64        `json:"dropout"`
		Unk          *string         `json:"unk_token"`
		Prefix       *string         `json:"continuing_subword_prefix"`
		Suffix       *string         `json:"end_of_word_suffix"`
		FuseUnk      *bool           `json:"fuse_unk"`
		ByteFallback *bool           `json:"byte_fallback"`
		IgnoreMerges *bool           `json:"ignore_merges"`
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model BPE: %v", err)
	}
	if v.Vocab == nil {
		return nil, fmt.Errorf("model BPE: missing vocab")
	}
	if v.Dropout != nil && *v.Dropout != 0 {
		return nil, fmt.Errorf("model BPE: dropout %v is not supported (encoding would be random)", *v.Dropout)
	}
	voc, err := newVocab(v.Vocab)
	if err != nil {
		return nil, fmt.Errorf("model BPE: %v", err)
	}
	m := &bpe{vocab: voc, fuseUnk: boolOr(v.FuseUnk, false), byteFallback: boolOr(v.ByteFallback, false),
		ignoreMerges: boolOr(v.IgnoreMerges, false), cache: map[string][]token{}}
	if v.Unk != nil {
		m.unk, m.hasUnk = *v.Unk, true
	}
	if v.Prefix != nil {
		m.prefix = *v.Prefix
	}
	if v.Suffix != nil {
		m.suffix = *v.Suffix
	}
	pairs, err := parseMerges(v.Merges)
	if err != nil {
		return nil, fmt.Errorf("model BPE: %v", err)
	}
	m.merges = make(map[uint64]mergeInfo, len(pairs))
	for rank, p := range pairs {
		a, ok := voc.toID[p[0]]
		if !ok {
			return nil, fmt.Errorf("model BPE: merge #%d %q %q: token %q is not in the vocab", rank+1, p[0], p[1], p[0])
		}
		b, ok := voc.toID[p[1]]
		if !ok {
			return nil, fmt.Errorf("model BPE: merge #%d %q %q: token %q is not in the vocab", rank+1, p[0], p[1], p[1])
		}
		right := p[1]
		if len(m.prefix) <= len(right) {
			right = right[len(m.prefix):]
		} else {
			return nil, fmt.Errorf("model BPE: merge #%d: %q is shorter than the continuing_subword_prefix", rank+1, p[1])
		}
		merged := p[0] + right
		id, ok := voc.toID[merged]
		if !ok {
			return nil, fmt.Errorf("model BPE: merge #%d %q %q: merged token %q is not in the vocab", rank+1, p[0], p[1], merged)
		}
		m.merges[pairKey(a, b)] = mergeInfo{rank, id}
	}
	for b := 0; b < 256; b++ {
		m.byteIDs[b], m.hasByteIDs[b] = voc.toID[fmt.Sprintf("<0x%02X>", b)]
	}
	return m, nil
}

// parseMerges accepts ["a b", ...] (lines starting with "#version" are skipped) and [["a","b"], ...].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err == nil {
		out := make([][2]string, 0, len(lines))
		for _, l := range lines {
			if strings.HasPrefix(l, "#version") {
				continue
			}
			parts := strings.Split(l, " ")
			if len(parts) != 2 {
				return nil, fmt.Errorf("merge #%d %q is not two space-separated tokens", len(out)+1, l)
			}
			out = append(out, [2]string{parts[0], parts[1]})
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("merges: want a list of \"a b\" strings or of [a, b] pairs: %v", err)
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge #%d has %d elements, want 2", i+1, len(p))
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

func (m *bpe) tokenize(word string) ([]token, error) {
	if word == "" {
		return nil, nil
	}
	if m.ignoreMerges {
		if id, ok := m.toID[word]; ok {
			return []token{{id, m.toTok[id], 0, len(word)}}, nil
		}
	}
	m.cacheMu.RLock()
	hit, ok := m.cache[word]
	m.cacheMu.RUnlock()
	if ok {
		return hit, nil // shared: callers never modify model output
	}
	toks, err := m.mergeWord(word)
	if err != nil {
		return nil, err
	}
	if len(word) < bpeCacheMaxWord {
		m.cacheMu.Lock()
		if len(m.cache) < bpeCacheCapacity {
			m.cache[strings.Clone(word)] = toks
		}
		m.cacheMu.Unlock()
	}
	return toks, nil
}

// symbol is one element of the doubly linked word being merged.
type symbol struct {
	id         int
	prev, next int
	length     int // bytes; 0 = merged away
}

// mergeWord is HF's merge_word + Word::merge_all (without dropout).
func (m *bpe) mergeWord(w string) ([]token, error) {
	syms := make([]symbol, 0, len(w))
	add := func(id, length int) {
		n := len(syms)
		syms = append(syms, symbol{id: id, prev: n - 1, next: -1, length: length})
		if n > 0 {
			syms[n-1].next = n
		}
	}
	unkID, unkLen, pendingUnk := 0, 0, false
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		end := i + size
		s := w[i:end]
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if end == len(w) && m.suffix != "" {
			s = s + m.suffix
		}
		if id, ok := m.toID[s]; ok {
			if pendingUnk {
				add(unkID, unkLen)
				pendingUnk = false
			}
			add(id, size)
			i = end
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(s); k++ {
				if !m.hasByteIDs[s[k]] {
					all = false
					break
				}
			}
			if all {
				for k := 0; k < len(s); k++ {
					add(m.byteIDs[s[k]], 1)
				}
				i = end
				continue
			}
		}
		if m.hasUnk {
			uid, ok := m.toID[m.unk]
			if !ok {
				return nil, fmt.Errorf("BPE unk_token %q is not in the vocab", m.unk)
			}
			switch {
			case pendingUnk && m.fuseUnk:
				unkLen += size
			case pendingUnk:
				add(unkID, unkLen)
				unkID, unkLen = uid, size
			default:
				unkID, unkLen, pendingUnk = uid, size, true
			}
		}
		i = end
	}
	if pendingUnk {
		add(unkID, unkLen)
	}
	m.mergeAll(syms)
	out := make([]token, 0, len(syms))
	off := 0
	for _, s := range syms {
		if s.length == 0 {
			continue
		}
		out = append(out, token{s.id, m.toTok[s.id], off, off + s.length})
		off += s.length
	}
	return out, nil
}

// mergeItem is a candidate merge in the priority queue: lowest rank first, then leftmost.
type mergeItem struct {
	pos, rank, newID int
}

func mergeLess(a, b mergeItem) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

type mergeHeap []mergeItem

func (h *mergeHeap) push(x mergeItem) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !mergeLess(s[i], s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeItem {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && mergeLess(s[r], s[l]) {
			c = r
		}
		if !mergeLess(s[c], s[i]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

func (m *bpe) mergeAll(syms []symbol) {
	if len(syms) < 2 {
		return
	}
	h := make(mergeHeap, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if mi, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(mergeItem{i, mi.rank, mi.newID})
		}
	}
	ops := int64(0)
	for len(h) > 0 {
		top := h.pop()
		ops++
		cur := &syms[top.pos]
		if cur.length == 0 || cur.next == -1 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		if mi, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mi.newID != top.newID {
			continue // stale entry
		}
		cur.id = top.newID
		cur.length += right.length
		cur.next = right.next
		syms[nextPos].length = 0
		if right.next > -1 && right.next < len(syms) {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mi, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				h.push(mergeItem{cur.prev, mi.rank, mi.newID})
			}
		}
		if cur.next >= 0 && cur.next < len(syms) {
			if mi, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				h.push(mergeItem{top.pos, mi.rank, mi.newID})
			}
		}
	}
	m.mergeOps.Add(ops)
}

func (m *bpe) unknownID() (int, bool) {
	if !m.hasUnk {
		return 0, false
	}
	id, ok := m.toID[m.unk]
	return id, ok
}
