package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/safetensors"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/spf13/cobra"
)

// inputFlags are the prompt flags of trace and generate: token ids, or text through the
// checkpoint's tokenizer.json.
type inputFlags struct {
	ids   []string
	texts []string
	jsonl string
	bos   string
	pad   string
	tok   *tokenizer.Tokenizer // loaded when text was given
}

func (f *inputFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.ids, "ids", nil, `token ids of one prompt, comma-separated ("1,2,3"); repeat for a batch`)
	cmd.Flags().StringArrayVar(&f.texts, "text", nil, "prompt text (tokenized with the model's tokenizer.json); repeat for a batch")
	cmd.Flags().StringVar(&f.jsonl, "jsonl", "", `file of prompts, one per line: a JSON string, {"text": ...}, {"ids"|"input_ids": [...]} or an array of ids`)
	cmd.Flags().StringVar(&f.bos, "bos", "auto", "BOS policy for text prompts: auto (as HF's add_special_tokens), always, never")
}

// bosPolicy names the BOS policy for provenance.
func (f *inputFlags) bosPolicy() string {
	if f.tok == nil {
		return "ids given verbatim (no BOS added)"
	}
	return f.bos
}

func (f *inputFlags) prompts(m *model.Model) ([][]int, error) {
	n := 0
	for _, given := range []bool{len(f.ids) > 0, len(f.texts) > 0, f.jsonl != ""} {
		if given {
			n++
		}
	}
	if n != 1 {
		return nil, usagef("give prompts with exactly one of --ids, --text or --jsonl")
	}
	var seqs [][]int
	var err error
	if len(f.ids) > 0 {
		seqs, err = parseIDs(f.ids)
	} else {
		seqs, err = f.encodeTexts(m)
	}
	if err != nil {
		return nil, err
	}
	for i, s := range seqs {
		for _, id := range s {
			if id < 0 || id >= m.Config.DVocab {
				return nil, usagef("prompt #%d: token id %d is outside the vocabulary [0, %d)", i+1, id, m.Config.DVocab)
			}
		}
		if len(s) > m.Config.MaxPos {
			return nil, usagef("prompt #%d: %d tokens is longer than the model's %d positions", i+1, len(s), m.Config.MaxPos)
		}
	}
	return seqs, nil
}

func (f *inputFlags) encodeTexts(m *model.Model) ([][]int, error) {
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return nil, usageError{err}
	}
	docs := corpus.TextDocuments(f.texts)
	if f.jsonl != "" {
		if !strings.HasSuffix(f.jsonl, ".jsonl") {
			return nil, usagef("--jsonl %s: must end in .jsonl", f.jsonl)
		}
		docs = corpus.FileDocuments(f.jsonl)
	}
	var enc corpus.Encoder
	var seqs [][]int
	err = docs(func(d corpus.Document) error {
		if !d.HasIDs && f.tok == nil {
			if f.tok, err = loadTokenizer(m); err != nil {
				return err
			}
			enc = corpus.NewEncoder(m, f.tok, policy)
		}
		if d.HasIDs {
			seqs = append(seqs, d.IDs) // checked against the vocabulary by prompts
			return nil
		}
		ids, err := enc.Encode(d)
		if err != nil {
			return &corpus.InputError{Path: d.Source, Line: d.Line, Err: fmt.Errorf("prompt #%d: %w", len(seqs)+1, err)}
		}
		if len(ids) == 0 {
			return usagef("prompt #%d is empty after tokenization", len(seqs)+1)
		}
		seqs = append(seqs, ids)
		return nil
	})
	var ie *corpus.InputError
	if errors.As(err, &ie) && f.jsonl != "" {
		return nil, usagef("--jsonl: %v", err)
	}
	if err != nil {
		return nil, inputError(err)
	}
	if len(seqs) == 0 {
		return nil, usagef("--jsonl %s has no prompts", f.jsonl)
	}
	return seqs, nil
}

func newTraceCmd() *cobra.Command {
	var mf modelFlags
	var in inputFlags
	var hookPats []string
	var im imageFlags
	var out string
	cmd := &cobra.Command{
		Use:   "trace --model DIR (--ids 1,2,3 | --text STR | --jsonl FILE | --image FILE | --images FILE.jsonl) [--pad right|left] [--hooks GLOB[,GLOB]] --out FILE.safetensors",
		Short: "Run a batch (prompts, or images for an image model) and write logits and captured hook activations to a safetensors file",
		Example: `  neuronscope trace --model testdata/tiny-llama --ids 1,5,9,13 --ids 1,7,2 --pad left --hooks 'blocks.*.mlp.hook_post' --out acts.safetensors
  neuronscope trace --model testdata/world-llama --text "Rofa bilo" --hooks 'blocks.*.hook_resid_post' --out resid.safetensors
  neuronscope trace --model testdata/world-llama --jsonl prompts.jsonl --out acts.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			if !strings.HasSuffix(out, ".safetensors") {
				return usagef("--out %s: must end in .safetensors", out)
			}
			if err := checkOutFile("--out", out); err != nil {
				return err
			}
			pad, err := model.ParsePad(in.pad)
			if err != nil {
				return usageError{err}
			}
			m, err := mf.load(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			if im.given() || m.Config.ImageModel() {
				if err := checkPromptFlags(&in, &im); err != nil {
					return err
				}
				return runTraceImages(cmd, m, &im, splitPatterns(hookPats), out)
			}
			seqs, err := in.prompts(m)
			if err != nil {
				return err
			}
			return runTrace(cmd, m, seqs, pad, in.bosPolicy(), splitPatterns(hookPats), out)
		},
	}
	mf.register(cmd)
	in.register(cmd)
	cmd.Flags().StringVar(&in.pad, "pad", "right", "padding side for prompts of different lengths: right or left")
	cmd.Flags().StringArrayVar(&hookPats, "hooks", nil, "hook points to capture: TransformerLens names, HF aliases or globs, comma-separated")
	cmd.Flags().StringVar(&out, "out", "", "output .safetensors file")
	im.register(cmd, true)
	return cmd
}

// captureOptions checks --hooks patterns against the model and returns the capture option.
func captureOptions(m *model.Model, pats []string) ([]hooks.Option, error) {
	if len(pats) == 0 {
		return nil, nil
	}
	if _, err := m.Catalog().MatchAll(pats); err != nil {
		return nil, usagef("--hooks: %v", err)
	}
	return []hooks.Option{hooks.Capture(pats...)}, nil
}

// writeTrace writes the tensors, then every captured activation under its TransformerLens
// name, to out with the provenance (hooks asked and fired filled in); it returns out's absolute
// path.
func writeTrace(out string, tensors []safetensors.WriteTensor, res *model.Result, pats []string, prov report.Provenance) (string, error) {
	for _, p := range res.Cache.Points() {
		t, _ := res.Cache.Get(p)
		tensors = append(tensors, safetensors.F32(p.String(), t.Shape, t.Data))
	}
	prov.HooksAsked = pats
	prov.HooksFired = pointNames(res.Fired)
	pj, _ := json.Marshal(prov)
	if err := safetensors.WriteFile(out, tensors, map[string]string{"neuronscope": string(pj)}); err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(out)
	return abs, nil
}

// runTraceImages is trace for an image model: the images' pixel values, class logits
// [n, n_classes] and the captured activations ([n, tokens, ...], token 0 = CLS).
func runTraceImages(cmd *cobra.Command, m *model.Model, im *imageFlags, pats []string, out string) error {
	set, err := im.load(m)
	if err != nil {
		return err
	}
	images, px := set.files, set.pixels
	opts, err := captureOptions(m, pats)
	if err != nil {
		return err
	}
	res, err := m.ForwardImages(px, opts...)
	if err != nil {
		return err
	}
	tensors := []safetensors.WriteTensor{
		safetensors.F32("logits", res.Logits.Shape, res.Logits.Data),
		safetensors.F32("pixel_values", px.Shape, px.Data),
	}
	prov := m.Provenance()
	prov.Dataset = strings.Join(images, ",")
	abs, err := writeTrace(out, tensors, res, pats, prov)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: logits [%d, %d] and %d hook tensors (%s)\n",
		abs, px.Shape[0], m.Config.DVocab, res.Cache.Len(), strings.Join(prov.HooksFired, ", "))
	correct := 0
	for i := 0; i < px.Shape[0]; i++ {
		best := model.Argmax(res.Logits.Row(i))
		label := ""
		if l := set.labels[i]; l >= 0 {
			label = ", label " + className(m, l)
			if l == best {
				correct++
			}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: class %s%s\n", images[i], className(m, best), label)
	}
	if im.list != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "accuracy %d/%d on the labelled images\n", correct, px.Shape[0])
	}
	return nil
}

func runTrace(cmd *cobra.Command, m *model.Model, seqs [][]int, pad model.Pad, bos string, pats []string, out string) error {
	padID := max(m.Config.Pad, 0)
	b, err := model.NewBatch(seqs, pad, padID)
	if err != nil {
		return err
	}
	opts, err := captureOptions(m, pats)
	if err != nil {
		return err
	}
	res, err := m.Forward(b, opts...)
	if err != nil {
		return err
	}
	ids := make([]int64, len(b.IDs))
	for i, v := range b.IDs {
		ids[i] = int64(v)
	}
	tensors := []safetensors.WriteTensor{
		safetensors.F32("logits", res.Logits.Shape, res.Logits.Data),
		safetensors.I64("input_ids", []int{b.Size, b.Len}, ids),
		safetensors.I64("attention_mask", []int{b.Size, b.Len}, b.MaskInt64()),
	}
	prov := m.Provenance()
	prov.Padding = pad.String()
	prov.BOSPolicy = bos
	abs, err := writeTrace(out, tensors, res, pats, prov)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: logits [%d, %d, %d] and %d hook tensors (%s)\n",
		abs, b.Size, b.Len, m.Config.DVocab, res.Cache.Len(), strings.Join(prov.HooksFired, ", "))
	return nil
}
