package corpus

import (
	"fmt"
	"slices"
	"sort"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

// DefaultPromptBatch is the number of prompts per forward pass when none is given.
const DefaultPromptBatch = 64

// PromptBatches splits prompts into forward passes: prompts ordered by length (then index), so
// rows of a batch pad little, size at a time. It returns the prompt indices of each batch; the
// split depends only on the lengths and size (0: DefaultPromptBatch).
func PromptBatches(prompts [][]int, size int) [][]int {
	if size <= 0 {
		size = DefaultPromptBatch
	}
	order := make([]int, len(prompts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(prompts[order[a]]) < len(prompts[order[b]]) })
	var out [][]int
	for lo := 0; lo < len(order); lo += size {
		out = append(out, order[lo:min(lo+size, len(order))])
	}
	return out
}

// ForEachPromptBatch runs prompts through the model in PromptBatches, left-padded so every
// row's last position is the batch's last (position ids follow the mask, so padding changes no
// real position), with the hook options hooksFor returns for each batch (given the prompt
// indices of its rows; hooksFor may be nil), and hands each result to fn with those indices.
func ForEachPromptBatch(m *model.Model, prompts [][]int, size, padID int, hooksFor func(rows []int, b model.Batch) []hooks.Option,
	fn func(rows []int, b model.Batch, res *model.Result) error) error {
	if len(prompts) == 0 {
		return fmt.Errorf("no prompts")
	}
	for _, rows := range PromptBatches(prompts, size) {
		b, err := batchOf(prompts, rows, padID)
		if err != nil {
			return err
		}
		var o []hooks.Option
		if hooksFor != nil {
			o = hooksFor(rows, b)
		}
		res, err := m.Forward(b, o...)
		if err != nil {
			return err
		}
		if err := fn(rows, b, res); err != nil {
			return err
		}
	}
	return nil
}

func batchOf(prompts [][]int, rows []int, padID int) (model.Batch, error) {
	seqs := make([][]int, len(rows))
	for k, i := range rows {
		seqs[k] = prompts[i]
	}
	b, err := model.NewBatch(seqs, model.PadLeft, padID)
	if err != nil {
		return b, fmt.Errorf("prompt %d: %w", rows[0], err)
	}
	return b, nil
}

// GenerateOptions configure Generate.
type GenerateOptions struct {
	// MaxNew is the number of tokens generated per prompt (1: the next-token prediction).
	MaxNew int
	// BatchSize is the number of prompts per forward pass (0: DefaultPromptBatch).
	BatchSize int
	// Hooks apply to every forward pass: the prompt's, then one per generated token, each
	// firing its points with pos = the new positions only.
	Hooks []hooks.Option
	// Stop lists token ids that end a prompt's continuation (e.g. the model's EOS): the
	// stop token is the last one returned. Nil: every prompt gets MaxNew tokens.
	Stop []int
	// Sampling, when not nil, draws each token at random (Sampler) instead of taking the
	// argmax.
	Sampling *Sampling
}

// Generate continues every prompt by up to opt.MaxNew tokens and returns them, in prompt
// order: greedily (argmax, the lowest id on ties) unless opt.Sampling, stopping after a token
// of opt.Stop. It is the one evaluator that fact-question accuracy, training evaluation and the
// generate command share. Prompts run in PromptBatches, left-padded with a KV cache (as
// model.Generate), so each row generates what it would generate alone; with Sampling, prompt i
// draws from its own stream (NewSampler(*opt.Sampling, i)), so its continuation depends on the
// seed and the prompt only, not on the batching.
func Generate(m *model.Model, prompts [][]int, opt GenerateOptions) ([][]int, error) {
	if opt.MaxNew < 0 {
		return nil, fmt.Errorf("cannot generate %d tokens", opt.MaxNew)
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("no prompts")
	}
	if opt.Sampling != nil {
		if err := opt.Sampling.Check(); err != nil {
			return nil, err
		}
	}
	out := make([][]int, len(prompts))
	for _, rows := range PromptBatches(prompts, opt.BatchSize) {
		if err := generateBatch(m, prompts, rows, opt, out); err != nil {
			return nil, fmt.Errorf("prompt %d: %w", rows[0], err)
		}
	}
	return out, nil
}

// generateBatch continues the prompts of rows, left-padded in one batch (model.Decode), into
// out: greedily or with each prompt's own sampler, each row stopping at a stop token.
func generateBatch(m *model.Model, prompts [][]int, rows []int, opt GenerateOptions, out [][]int) error {
	seqs := make([][]int, len(rows))
	for k, i := range rows {
		seqs[k] = prompts[i]
	}
	var samplers []*Sampler
	if opt.Sampling != nil {
		samplers = make([]*Sampler, len(rows))
		for k, i := range rows {
			samplers[k] = NewSampler(*opt.Sampling, uint64(i))
		}
	}
	gen, err := m.Decode(seqs, opt.MaxNew, func(k int, logits []float32) (int, bool) {
		tok := 0
		if samplers != nil {
			tok = samplers[k].Next(logits)
		} else {
			tok = model.Argmax(logits)
		}
		return tok, slices.Contains(opt.Stop, tok)
	}, opt.Hooks...)
	if err != nil {
		return err
	}
	for k, i := range rows {
		out[i] = gen[k]
	}
	return nil
}

// Next returns every prompt's greedy next token (Generate with MaxNew 1).
func Next(m *model.Model, prompts [][]int, batchSize int, opts ...hooks.Option) ([]int, error) {
	gen, err := Generate(m, prompts, GenerateOptions{MaxNew: 1, BatchSize: batchSize, Hooks: opts})
	if err != nil {
		return nil, err
	}
	out := make([]int, len(gen))
	for i, g := range gen {
		out[i] = g[0]
	}
	return out, nil
}

// Argmax is the index of the largest value, the lowest on ties.
func Argmax(v []float32) int { return model.Argmax(v) }
