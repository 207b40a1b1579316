package train

import (
	"fmt"

	"github.com/neuronscope/neuronscope/model"
)

// Greedy returns, for every prompt, the model's most likely next token after its last token.
// Prompts are run in left-padded batches of batchSize (0 means 256) with padding id padID.
func Greedy(m *model.Model, prompts [][]int, padID, batchSize int) ([]int, error) {
	if batchSize <= 0 {
		batchSize = 256
	}
	out := make([]int, 0, len(prompts))
	for lo := 0; lo < len(prompts); lo += batchSize {
		hi := min(lo+batchSize, len(prompts))
		b, err := model.NewBatch(prompts[lo:hi], model.PadLeft, padID)
		if err != nil {
			return nil, fmt.Errorf("prompts %d..%d: %w", lo, hi-1, err)
		}
		res, err := m.Forward(b)
		if err != nil {
			return nil, fmt.Errorf("prompts %d..%d: %w", lo, hi-1, err)
		}
		v := m.Config.DVocab
		logits := res.Logits.Data
		for i := 0; i < b.Size; i++ {
			row := logits[((i+1)*b.Len-1)*v : (i+1)*b.Len*v]
			best := 0
			for j, x := range row {
				if x > row[best] {
					best = j
				}
			}
			out = append(out, best)
		}
	}
	return out, nil
}
