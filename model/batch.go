package model

import "fmt"

// Pad says which side of a batch row padding goes on.
type Pad int

const (
	PadRight Pad = iota // real tokens first, then padding
	PadLeft             // padding first, real tokens last (natural for generation)
)

// ParsePad reads "right" or "left".
func ParsePad(s string) (Pad, error) {
	switch s {
	case "right", "":
		return PadRight, nil
	case "left":
		return PadLeft, nil
	}
	return 0, fmt.Errorf("--pad must be right or left, got %q", s)
}

func (p Pad) String() string {
	if p == PadLeft {
		return "left"
	}
	return "right"
}

// Batch is a padded batch of token ids, [batch, pos] row-major. Mask is true at real tokens.
// Position ids are cumsum(mask)-1 clamped at 0, so a padded row computes exactly what the
// unpadded prompt computes at its real positions.
type Batch struct {
	Size, Len int
	IDs       []int
	Mask      []bool
}

// NewBatch pads sequences to the longest one. padID fills pad slots (any valid id: pads are
// masked out and never seen by real tokens).
func NewBatch(seqs [][]int, pad Pad, padID int) (Batch, error) {
	if len(seqs) == 0 {
		return Batch{}, fmt.Errorf("empty batch: give at least one prompt")
	}
	t := 0
	for i, s := range seqs {
		if len(s) == 0 {
			return Batch{}, fmt.Errorf("prompt %d is empty", i)
		}
		t = max(t, len(s))
	}
	b := Batch{Size: len(seqs), Len: t, IDs: make([]int, len(seqs)*t), Mask: make([]bool, len(seqs)*t)}
	for i, s := range seqs {
		off := 0
		if pad == PadLeft {
			off = t - len(s)
		}
		for j := 0; j < t; j++ {
			b.IDs[i*t+j] = padID
		}
		for j, id := range s {
			b.IDs[i*t+off+j] = id
			b.Mask[i*t+off+j] = true
		}
	}
	return b, nil
}

// Row returns the real tokens of batch row i.
func (b Batch) Row(i int) []int {
	var out []int
	for j := 0; j < b.Len; j++ {
		if b.Mask[i*b.Len+j] {
			out = append(out, b.IDs[i*b.Len+j])
		}
	}
	return out
}

// MaskInt64 returns the attention mask as 0/1 int64, [batch, pos].
func (b Batch) MaskInt64() []int64 {
	out := make([]int64, len(b.Mask))
	for i, m := range b.Mask {
		if m {
			out[i] = 1
		}
	}
	return out
}

// validate checks token ids and lengths against the model.
func (c *Config) validateBatch(b Batch, past int) error {
	if b.Size <= 0 || b.Len <= 0 || len(b.IDs) != b.Size*b.Len || len(b.Mask) != len(b.IDs) {
		return fmt.Errorf("malformed batch: %d×%d with %d ids and %d mask entries", b.Size, b.Len, len(b.IDs), len(b.Mask))
	}
	if past+b.Len > c.MaxPos {
		return fmt.Errorf("input of %d tokens is longer than the model's %d positions (max_position_embeddings)", past+b.Len, c.MaxPos)
	}
	if c.SlidingWindow > 0 && past+b.Len > c.SlidingWindow {
		return fmt.Errorf("input of %d tokens is longer than the sliding window of %d, which neuronscope does not implement", past+b.Len, c.SlidingWindow)
	}
	for i, id := range b.IDs {
		if b.Mask[i] && (id < 0 || id >= c.DVocab) {
			return fmt.Errorf("token id %d (batch row %d, position %d) is outside the vocabulary [0, %d)", id, i/b.Len, i%b.Len, c.DVocab)
		}
	}
	return nil
}
