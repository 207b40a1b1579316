package tokenizer

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// precompiled is SentencePiece's precompiled character map normalizer (HF "Precompiled"): a
// darts-clone double array keyed by UTF-8 byte strings whose values are offsets into a blob of
// NUL-terminated replacement strings.
//
// Layout of the decoded charsmap: u32 little-endian trie size in bytes, the trie as u32 units,
// then the replacement blob.
type precompiled struct {
	units []uint32
	blob  string
}

func newPrecompiled(b64 string) (*precompiled, error) {
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("precompiled_charsmap is not base64: %v", err)
	}
	if len(data) < 4 {
		return nil, errors.New("precompiled_charsmap too short")
	}
	size := int(binary.LittleEndian.Uint32(data))
	if size%4 != 0 || size > len(data)-4 {
		return nil, fmt.Errorf("precompiled_charsmap: trie size %d does not fit %d bytes", size, len(data))
	}
	units := make([]uint32, size/4)
	for i := range units {
		units[i] = binary.LittleEndian.Uint32(data[4+4*i:])
	}
	blob := data[4+size:]
	if !utf8.Valid(blob) {
		return nil, errors.New("precompiled_charsmap: normalization blob is not UTF-8")
	}
	if len(units) == 0 {
		return nil, errors.New("precompiled_charsmap: empty trie")
	}
	return &precompiled{units: units, blob: string(blob)}, nil
}

// darts-clone unit accessors.
func dartsHasLeaf(u uint32) bool  { return (u>>8)&1 == 1 }
func dartsValue(u uint32) uint32  { return u & (1<<31 - 1) }
func dartsLabel(u uint32) uint32  { return u & (1<<31 | 0xFF) }
func dartsOffset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }

// firstPrefixValue returns the value of the shortest key that is a prefix of key (HF's
// Precompiled::transform uses the first common-prefix-search result).
func (p *precompiled) firstPrefixValue(key string) (uint32, bool) {
	pos := uint32(0)
	unit := p.units[0]
	pos ^= dartsOffset(unit)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c == 0 {
			break
		}
		pos ^= uint32(c)
		if int(pos) >= len(p.units) {
			return 0, false
		}
		unit = p.units[pos]
		if dartsLabel(unit) != uint32(c) {
			return 0, false
		}
		pos ^= dartsOffset(unit)
		if dartsHasLeaf(unit) {
			if int(pos) >= len(p.units) {
				return 0, false
			}
			return dartsValue(p.units[pos]), true
		}
	}
	return 0, false
}

func (p *precompiled) transform(chunk string) (string, bool) {
	v, ok := p.firstPrefixValue(chunk)
	if !ok {
		return "", false
	}
	i := int(v)
	if i > len(p.blob) {
		return "", false
	}
	j := i
	for j < len(p.blob) && p.blob[j] != 0 {
		j++
	}
	s := p.blob[i:j]
	if !utf8.ValidString(s) {
		// The blob is valid UTF-8 as a whole; a value pointing inside a character would make
		// Rust panic on the slice. Treat it as no mapping.
		return "", false
	}
	return s, true
}

func (p *precompiled) normalize(n *normString) error {
	dest := make([]change, 0, len(n.normalized))
	modified := false
	replace := func(old, repl string) {
		oldCount := utf8.RuneCountInString(old)
		newCount := 0
		for _, c := range repl {
			dest = append(dest, change{c, 0})
			newCount++
		}
		diff := newCount - oldCount
		switch {
		case diff > 0:
			for k := 0; k < diff && k < len(dest); k++ {
				dest[len(dest)-1-k].c = 1
			}
		case diff < 0:
			if len(dest) > 0 {
				dest[len(dest)-1].c += diff
			}
		}
	}
	state := -1
	rest := n.normalized
	for len(rest) > 0 {
		var g string
		g, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if len(g) < 6 {
			if repl, ok := p.transform(g); ok {
				modified = true
				replace(g, repl)
				continue
			}
		}
		for i := 0; i < len(g); {
			c, size := utf8.DecodeRuneInString(g[i:])
			part := g[i : i+size]
			if repl, ok := p.transform(part); ok {
				modified = true
				replace(part, repl)
			} else {
				dest = append(dest, change{c, 0})
			}
			i += size
		}
	}
	if modified {
		n.transform(dest, 0)
	}
	return nil
}
