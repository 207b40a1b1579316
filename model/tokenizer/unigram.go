package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// unigram is HF's Unigram model (SentencePiece unigram): Viterbi over the pieces' log
// probabilities, unknown characters scored min_score - 10 and (fuse_unk) merged.
type unigram struct {
	*vocab
	scores       []float64
	unkID        int
	hasUnk       bool
	byteFallback bool
	fuseUnk      bool
	minScore     float64
	trie         *byteTrie
}

// byteTrie answers common-prefix searches over the vocab.
type byteTrie struct {
	next  map[uint64]int32 // node<<8 | byte -> child
	leaf  []int32          // node -> piece id or -1
	nodes int32
}

func newByteTrie() *byteTrie { return &byteTrie{next: map[uint64]int32{}, leaf: []int32{-1}, nodes: 1} }

func (t *byteTrie) insert(s string, id int) {
	n := int32(0)
	for i := 0; i < len(s); i++ {
		k := uint64(n)<<8 | uint64(s[i])
		c, ok := t.next[k]
		if !ok {
			c = t.nodes
			t.nodes++
			t.next[k] = c
			t.leaf = append(t.leaf, -1)
		}
		n = c
	}
	t.leaf[n] = int32(id)
}

func parseUnigram(raw json.RawMessage) (*unigram, error) {
	var v struct {
		UnkID        *int                `json:"unk_id"`
		ByteFallback *bool               `json:"byte_fallback"`
		Vocab        [][]json.RawMessage `json:"vocab"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model Unigram: %v", err)
	}
	u := &unigram{byteFallback: boolOr(v.ByteFallback, false), fuseUnk: true, trie: newByteTrie(), minScore: math.Inf(1)}
	m := make(map[string]int, len(v.Vocab))
	u.scores = make([]float64, len(v.Vocab))
	for i, e := range v.Vocab {
		if len(e) != 2 {
			return nil, fmt.Errorf("model Unigram: vocab entry %d is not [piece, score]", i)
		}
		var piece string
		var score float64
		if err := json.Unmarshal(e[0], &piece); err != nil {
			return nil, fmt.Errorf("model Unigram: vocab entry %d: piece: %v", i, err)
		}
		if err := json.Unmarshal(e[1], &score); err != nil {
			return nil, fmt.Errorf("model Unigram: vocab entry %d: score: %v", i, err)
		}
		if _, dup := m[piece]; dup {
			return nil, fmt.Errorf("model Unigram: duplicate piece %q", piece)
		}
		m[piece] = i
		u.scores[i] = score
		u.trie.insert(piece, i)
		if score < u.minScore {
			u.minScore = score
		}
	}
	voc, err := newVocab(m)
	if err != nil {
		return nil, fmt.Errorf("model Unigram: %v", err)
	}
	u.vocab = voc
	if v.UnkID != nil {
		if *v.UnkID < 0 || *v.UnkID >= len(v.Vocab) {
			return nil, fmt.Errorf("model Unigram: unk_id %d is out of the vocab (size %d)", *v.UnkID, len(v.Vocab))
		}
		u.unkID, u.hasUnk = *v.UnkID, true
	}
	return u, nil
}

const unkPenalty = 10.0

type bestNode struct {
	id       int
	score    float64
	startsAt int // -1: unreached
}

// encode returns the Viterbi segmentation of s as substrings (HF encode_optimized).
func (u *unigram) encode(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	unkScore := u.minScore - unkPenalty
	best := make([]bestNode, len(s)+1)
	for i := range best {
		best[i].startsAt = -1
	}
	for start := 0; start < len(s); {
		base := best[start].score
		_, mblen := utf8.DecodeRuneInString(s[start:])
		hasSingle := false
		node := int32(0)
		for i := start; i < len(s); i++ {
			c, ok := u.trie.next[uint64(node)<<8|uint64(s[i])]
			if !ok {
				break
			}
			node = c
			id := u.trie.leaf[node]
			if id < 0 {
				continue
			}
			end := i + 1
			cand := u.scores[id] + base
			if t := &best[end]; t.startsAt < 0 || cand > t.score {
				t.score, t.startsAt, t.id = cand, start, int(id)
			}
			if end-start == mblen {
				hasSingle = true
			}
		}
		if !hasSingle {
			if !u.hasUnk {
				return nil, fmt.Errorf("Unigram: %q has no piece and the model has no unk_id", s[start:start+mblen])
			}
			cand := unkScore + base
			if t := &best[start+mblen]; t.startsAt < 0 || cand > t.score {
				t.score, t.startsAt, t.id = cand, start, u.unkID
			}
		}
		start += mblen
	}
	var rev []string
	fused := ""
	haveFused := false
	for end := len(s); end > 0; {
		n := best[end]
		if n.startsAt < 0 {
			return nil, fmt.Errorf("Unigram: no segmentation reaches byte %d of %q", end, s)
		}
		piece := s[n.startsAt:end]
		if u.fuseUnk && u.hasUnk && n.id == u.unkID {
			fused = piece + fused
			haveFused = true
		} else {
			if haveFused {
				rev = append(rev, fused)
				fused, haveFused = "", false
			}
			rev = append(rev, piece)
		}
		end = n.startsAt
	}
	if haveFused {
		rev = append(rev, fused)
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev, nil
}

func (u *unigram) tokenize(word string) ([]token, error) {
	pieces, err := u.encode(word)
	if err != nil {
		return nil, err
	}
	out := make([]token, 0, len(pieces))
	off := 0
	for _, p := range pieces {
		end := off + len(p)
		if id, ok := u.toID[p]; ok {
			out = append(out, token{id, p, off, end})
		} else {
			if u.byteFallback {
				ids := make([]int, 0, len(p))
				for k := 0; k < len(p); k++ {
					id, ok := u.toID[fmt.Sprintf("<0x%02X>", p[k])]
					if !ok {
						ids = nil
						break
					}
					ids = append(ids, id)
				}
				if ids != nil {
					for k, id := range ids {
						out = append(out, token{id, fmt.Sprintf("<0x%02X>", p[k]), off, end})
					}
					off = end
					continue
				}
			}
			if !u.hasUnk {
				return nil, fmt.Errorf("Unigram: %q is not in the vocab and the model has no unk_id", p)
			}
			out = append(out, token{u.unkID, p, off, end})
		}
		off = end
	}
	return out, nil
}

func (u *unigram) unknownID() (int, bool) { return u.unkID, u.hasUnk }
