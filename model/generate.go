package model

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
)

// Generate continues each prompt greedily (Argmax) by exactly maxNew tokens (Decode with the
// argmax choice and no stop token). corpus.Generate runs many prompts through Decode in
// batches, greedily or sampling.
func (m *Model) Generate(prompts [][]int, maxNew int, opts ...hooks.Option) ([][]int, error) {
	return m.Decode(prompts, maxNew, func(_ int, logits []float32) (int, bool) { return Argmax(logits), false }, opts...)
}

// Decode continues each prompt by up to maxNew tokens with a KV cache: the model's one decoding
// loop. Prompts are left-padded into one batch; position ids follow the real tokens, so each
// row generates what it would generate alone. After every step, choose picks row r's next token
// from its logits [d_vocab] and says whether the row is done (it stops receiving tokens; the
// loop ends when every row is done). Hook edits in opts apply at every step (each step fires its
// points with pos = the new tokens only).
func (m *Model) Decode(prompts [][]int, maxNew int, choose func(row int, logits []float32) (tok int, stop bool), opts ...hooks.Option) ([][]int, error) {
	if err := m.textOnly(); err != nil {
		return nil, err
	}
	if maxNew < 0 {
		return nil, fmt.Errorf("cannot generate %d tokens", maxNew)
	}
	b, err := NewBatch(prompts, PadLeft, 0)
	if err != nil {
		return nil, err
	}
	c := m.Config
	if err := c.validateBatch(b, 0); err != nil {
		return nil, err
	}
	if b.Len+maxNew > c.MaxPos {
		return nil, fmt.Errorf("prompt of %d tokens plus %d new tokens exceeds the model's %d positions", b.Len, maxNew, c.MaxPos)
	}
	if c.SlidingWindow > 0 && b.Len+maxNew > c.SlidingWindow {
		return nil, fmt.Errorf("prompt of %d tokens plus %d new tokens exceeds the sliding window of %d", b.Len, maxNew, c.SlidingWindow)
	}
	out := make([][]int, b.Size)
	if maxNew == 0 {
		return out, nil
	}
	done := make([]bool, b.Size)
	left := b.Size
	kv := m.NewKVCache(b.Size, b.Len+maxNew)
	step := b
	for i := 0; i < maxNew && left > 0; i++ {
		call, err := hooks.NewCall(m.catalog, opts...)
		if err != nil {
			return nil, err
		}
		logits, err := m.forward(step, kv, call, nil)
		if err != nil {
			return nil, err
		}
		if err := call.Check(); err != nil {
			return nil, err
		}
		next := Batch{Size: b.Size, Len: 1, IDs: make([]int, b.Size), Mask: make([]bool, b.Size)}
		for r := 0; r < b.Size; r++ {
			last := logits[((r+1)*step.Len-1)*c.DVocab : (r+1)*step.Len*c.DVocab]
			tok, stop := choose(r, last)
			if !done[r] {
				out[r] = append(out[r], tok)
				if stop {
					done[r] = true
					left--
				}
			}
			next.IDs[r], next.Mask[r] = tok, true
		}
		step = next
	}
	return out, nil
}

// Argmax is the index of the largest value, the lowest on ties: the greedy choice.
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func argmax(v []float32) int { return Argmax(v) }
