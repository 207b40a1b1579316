package main

import (
	"fmt"

	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/spf13/cobra"
)

// datasetFlags choose a dataset streamed through --model (decompose snmf, sae train, sae eval):
// documents cut into contexts by corpus.Contexts, as 'neuronscope profile' reads them.
type datasetFlags struct {
	data      string
	ctx       int
	perPass   int
	maxTokens int64
	bos       string
}

// register adds --data, --ctx, --max-tokens, --bos and (under passFlag) the contexts per
// forward pass.
func (f *datasetFlags) register(cmd *cobra.Command, passFlag string) {
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "dataset to stream through --model: FILE.txt (a document per line) or FILE.jsonl")
	fl.IntVar(&f.ctx, "ctx", 64, "--data: context length in tokens (at most the model's positions)")
	fl.IntVar(&f.perPass, passFlag, 8, "--data: contexts per forward pass")
	fl.Int64Var(&f.maxTokens, "max-tokens", 0, "--data: read at most this many tokens (0: the whole dataset)")
	fl.StringVar(&f.bos, "bos", "auto", "--data: BOS policy for text documents: auto (as HF's add_special_tokens), always, never")
}

// dataset is an opened --data: its contexts (re-tokenized on every call) and a description
// for provenance.
type dataset struct {
	contexts func(yield func(corpus.Context) error) error
	desc     string
}

// open checks the flags against m and returns the dataset's contexts.
func (f *datasetFlags) open(cmd *cobra.Command, m *model.Model, passFlag string) (*dataset, error) {
	if !corpus.IsDataFile(f.data) {
		return nil, usagef("--data %s: must end in .jsonl or .txt", f.data)
	}
	if err := checkRanges(intAtLeast("--ctx", f.ctx, 2), intAtLeast("--"+passFlag, f.perPass, 1),
		intAtLeast("--max-tokens", int(min(f.maxTokens, 1<<40)), 0)); err != nil {
		return nil, err
	}
	if f.ctx > m.Config.MaxPos {
		if cmd.Flags().Changed("ctx") {
			return nil, usagef("--ctx %d is longer than the model's %d positions", f.ctx, m.Config.MaxPos)
		}
		f.ctx = m.Config.MaxPos
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return nil, usagef("--bos: %v", err)
	}
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		return nil, err
	}
	sum, err := fileSHA256(f.data)
	if err != nil {
		return nil, err
	}
	enc := corpus.NewEncoder(m, tok, policy)
	copt := corpus.ContextOptions{Ctx: f.ctx, MaxTokens: f.maxTokens}
	return &dataset{
		contexts: func(yield func(corpus.Context) error) error {
			return corpus.Contexts(corpus.FileDocuments(f.data), enc, copt, yield)
		},
		desc: fmt.Sprintf("%s (sha256 %s) in contexts of at most %d tokens (bos %s, max tokens %d)", f.data, sum, f.ctx, f.bos, f.maxTokens),
	}, nil
}

// sequences tokenizes the whole dataset into its contexts' token ids and the number of leading
// BOS positions of each (corpus.Context.BOS). Token ids are all that is held: the activations
// are produced from them batch by batch.
func (d *dataset) sequences() (seqs [][]int, leading []int, tokens int64, err error) {
	err = d.contexts(func(c corpus.Context) error {
		if c.BOS >= len(c.IDs) {
			return nil // a context of BOS alone has no token to produce
		}
		seqs = append(seqs, c.IDs)
		leading = append(leading, c.BOS)
		tokens += int64(len(c.IDs))
		return nil
	})
	return seqs, leading, tokens, inputError(err)
}

// modelTap resolves --layer and --hook to a [batch, pos, units] hook point of m.
func modelTap(m *model.Model, layer int, hook string) (hooks.Point, error) {
	if layer < -1 {
		return hooks.Point{}, usagef("--layer %d: must be ≥ 0", layer)
	}
	if layer >= m.Config.NLayers {
		return hooks.Point{}, usagef("--layer %d is out of range: %s has layers 0..%d", layer, m.Dir, m.Config.NLayers-1)
	}
	name, err := decompose.HookName(layer, hook)
	if err != nil {
		if layer < 0 {
			return hooks.Point{}, usagef("--layer is required (or give a full hook name to --hook, e.g. blocks.2.mlp.hook_post)")
		}
		return hooks.Point{}, usagef("--hook/--layer: %v", err)
	}
	return unitsPoint(m, name)
}

// unitsPoint checks that name is a hook point of m laid out [batch, pos, units].
func unitsPoint(m *model.Model, name string) (hooks.Point, error) {
	p, err := hooks.Parse(name)
	if err != nil || !m.Catalog().Has(p) {
		return hooks.Point{}, usagef("--hook %s: %s has no such hook point (see neuronscope inspect)", name, m.Dir)
	}
	if len(m.Catalog().Shape(p)) != 1 || !p.Site.PerPosition() {
		return hooks.Point{}, usagef("--hook %s has shape %v after [batch, pos]; want [batch, pos, units]", name, m.Catalog().Shape(p))
	}
	return p, nil
}
