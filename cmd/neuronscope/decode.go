package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/profile"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newDecodeCmd) }

// newDecodeCmd is `neuronscope decode`: LM-head decoding of every MLP neuron's weights.
func newDecodeCmd() *cobra.Command {
	var mf modelFlags
	var in inputFlags
	var im imageFlags
	var top int
	var layerSpec, out string
	var normWeight, resid, asJSON bool
	cmd := &cobra.Command{
		Use:   "decode --model DIR [--top 10] [--layers 0,3] [--norm-weight=true] --out FILE.json | decode --resid --model DIR (--text STR | --ids 1,2,3 | --jsonl FILE | --image FILE) [--top 5] [--layers 0-3] [--json] [--out FILE.json]",
		Short: "Decode MLP neuron weights through the unembedding, or (--resid) a prompt's residual stream after every layer: the logit lens",
		Long: `Decode MLP neurons through the LM head (Davies 2025; the logit lens on weights, Geva et al. 2022),
or, with --resid, the residual stream of one prompt (the logit lens, nostalgebraist 2020).

--resid: for every layer L (--layers to choose) and prompt position t, the residual stream
after block L (blocks.L.hook_resid_post) goes through the model's own final norm, with its
per-position scale, and the unembedding: logits_L[t] = W_U · ln_final(resid_post_L[t]). The
table shows each layer's most probable token per position with its probability; the JSON
(--json, or --out) has the --top tokens (default 5 with --resid) with logits, probabilities and
ranks, and the rank of the prompt's own next token. The last layer's lens is the model's output.
For an image classifier (ViT) give --image FILE: the class lens, the CLS token's residual
stream after each block through the final LayerNorm and the classifier, the most probable
classes per layer and the rank of the class the model predicts.

Weights (without --resid):

For each neuron the read direction (gate_proj / W_in row), the up direction (gated MLPs) and the
write direction (down_proj / W_out column) are multiplied by the unembedding W_U [d_vocab, d_model];
the report keeps the --top highest and lowest scoring tokens of each. With --norm-weight (default)
each vector first goes through the linear part of the final norm: centered for LayerNorm models,
then multiplied by the norm weight (Gemma: 1 + weight). Token strings come from DIR/tokenizer.json
when there is one. One GEMM per chunk of neurons; build with OpenBLAS (make build) for large models.`,
		Example: `  neuronscope decode --model testdata/world-llama --top 10 --out decode.json
  neuronscope decode --model testdata/world-llama --layers 2-3 --norm-weight=false --out decode-raw.json
  neuronscope decode --resid --model testdata/world-llama --text "Rofa bilo"
  neuronscope decode --resid --model testdata/world-llama --text "Mara kra kan hokot got" --layers 2-3 --top 10 --out lens.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if resid {
				if cmd.Flags().Changed("norm-weight") {
					return usagef("--norm-weight applies to weight decoding; the logit lens (--resid) always applies the whole final norm")
				}
				if !cmd.Flags().Changed("top") {
					top = 5
				}
			} else {
				for _, f := range []string{"ids", "text", "jsonl", "bos", "json", "image"} {
					if cmd.Flags().Changed(f) {
						return usagef("--%s applies to the logit lens: give --resid", f)
					}
				}
				if out == "" {
					return usagef("--out is required")
				}
			}
			if top <= 0 {
				return usagef("--top must be positive, got %d", top)
			}
			if out != "" {
				if err := checkOutFile("--out", out); err != nil {
					return err
				}
			}
			m, err := mf.load(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			layers, err := parseLayers(layerSpec, m.Config.NLayers)
			if err != nil {
				return err
			}
			if resid && (im.given() || m.Config.ImageModel()) {
				if err := checkPromptFlags(&in, &im); err != nil {
					return err
				}
				return runClassLens(cmd, m, &im, layers, top, asJSON, out)
			}
			if resid {
				return runLens(cmd, m, &in, layers, top, asJSON, out)
			}
			if err := textOnly(m, "decode (of neuron weights into the vocabulary)"); err != nil {
				return err
			}
			return runDecode(cmd, m, layers, top, normWeight, out)
		},
	}
	mf.register(cmd)
	in.register(cmd)
	im.register(cmd, false)
	cmd.Flags().BoolVar(&resid, "resid", false, "the logit lens: decode a prompt's residual stream after every layer instead of the neuron weights")
	cmd.Flags().BoolVar(&asJSON, "json", false, "with --resid: print the JSON report instead of the table")
	cmd.Flags().IntVar(&top, "top", 10, "tokens kept per list (top and bottom; with --resid the most probable, default 5)")
	cmd.Flags().StringVar(&layerSpec, "layers", "", `layers to decode, comma-separated, ranges allowed ("0,3", "2-5"); default every layer`)
	cmd.Flags().BoolVar(&normWeight, "norm-weight", true, "apply the final norm's centering (LayerNorm) and weight before the unembedding")
	cmd.Flags().StringVar(&out, "out", "", "output JSON file")
	return cmd
}

func runDecode(cmd *cobra.Command, m *model.Model, layers []int, top int, normWeight bool, out string) error {
	c := m.Config
	name, tokNote := tokenNamer(cmd, m.Dir)
	opt := attribute.DecodeOptions{K: top, Layers: layers, NormWeight: normWeight}
	nLayers := len(layers)
	if layers == nil {
		nLayers = c.NLayers
	}
	dirs := 2
	if c.Gated {
		dirs = 3
	}
	// A bar only for runs that take a while: about 10 GFLOP or more.
	if work := 2 * float64(nLayers*dirs*c.DMLP) * float64(c.DVocab) * float64(c.DModel); work >= 1e10 {
		bar := newBar(cmd, int64(nLayers*dirs*c.DMLP), "decoding neuron weights", "vectors")
		opt.Progress = func(done, _ int) { _ = bar.Set(done) }
		defer bar.Close()
	}
	res, err := attribute.Decode(m, opt, name, tokNote)
	if err != nil {
		return err
	}
	if err := report.WriteJSONFile(out, res); err != nil {
		return err
	}
	abs, _ := filepath.Abs(out)
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d neurons in %d layers, top/bottom %d tokens per direction, %.2f s\n",
		abs, len(res.Layers)*c.DMLP, len(res.Layers), res.Top, res.Seconds)
	return nil
}

// runLens is `decode --resid`: the logit lens of one prompt.
func runLens(cmd *cobra.Command, m *model.Model, in *inputFlags, layers []int, top int, asJSON bool, out string) error {
	seqs, err := in.prompts(m)
	if err != nil {
		return err
	}
	if len(seqs) != 1 {
		return usagef("the logit lens takes one prompt, got %d", len(seqs))
	}
	var name func(int) (string, bool)
	if tok, err := corpus.LoadTokenizer(m); err == nil && tok != nil {
		show := profile.TokenNames(tok) // byte-level BPE "Ġthe" shows as " the"
		name = func(id int) (string, bool) { return show(id), true }
	}
	rep, err := attribute.LogitLens(m, seqs[0], attribute.LensOptions{K: top, Layers: layers}, name)
	if err != nil {
		return err
	}
	rep.Provenance.BOSPolicy = in.bosPolicy()
	return emitLens(cmd, rep, asJSON, out)
}

// tokenNamer returns a function naming token ids from DIR/tokenizer.json, or nil when the
// checkpoint has none or it cannot be loaded (a warning, not an error: the decoding itself does
// not need it), and a note for the report saying which.
func tokenNamer(cmd *cobra.Command, dir string) (func(int) (string, bool), string) {
	path := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(path); err != nil {
		return nil, "absent: " + dir + " has no tokenizer.json; token ids only"
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v; writing token ids only\n", err)
		return nil, fmt.Sprintf("unavailable: %v; token ids only", err)
	}
	return tok.IDToToken, "from " + path + " (vocabulary entries as stored, e.g. Ġ for a leading space in byte-level BPE)"
}

// parseLayers reads --layers: "" for every layer (nil), else comma-separated indices and
// inclusive ranges "a-b".
func parseLayers(spec string, n int) ([]int, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var out []int
	seen := map[int]bool{}
	add := func(l int) error {
		if l < 0 || l >= n {
			return usagef("--layers: layer %d does not exist (the model has %d layers, 0-%d)", l, n, n-1)
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
		return nil
	}
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, b, isRange := strings.Cut(f, "-")
		lo, err1 := strconv.Atoi(strings.TrimSpace(a))
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.Atoi(strings.TrimSpace(b))
		}
		if err1 != nil || err2 != nil || hi < lo {
			return nil, usagef("--layers: %q is not a layer index or range a-b", f)
		}
		for l := lo; l <= hi; l++ {
			if err := add(l); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, usagef("--layers %q names no layer", spec)
	}
	return out, nil
}

// runClassLens is `decode --resid --image`: the class lens of one image of an image classifier.
func runClassLens(cmd *cobra.Command, m *model.Model, im *imageFlags, layers []int, top int, asJSON bool, out string) error {
	set, err := im.load(m)
	if err != nil {
		return err
	}
	if len(set.files) != 1 {
		return usagef("the class lens takes one image, got %d", len(set.files))
	}
	rep, err := attribute.ClassLens(m, set.image(0), attribute.LensOptions{K: top, Layers: layers}, m.Config.Labels)
	if err != nil {
		return err
	}
	rep.Image = set.files[0]
	rep.Provenance.Dataset = set.files[0]
	return emitLens(cmd, rep, asJSON, out)
}

// emitLens records the lens's hooks in its provenance, writes it to out (if set) and prints it:
// as JSON with asJSON, else as the table.
func emitLens(cmd *cobra.Command, rep *attribute.LensReport, asJSON bool, out string) error {
	rep.Provenance.HooksAsked = []string{"blocks.*.hook_resid_post"}
	for _, l := range rep.Layers {
		rep.Provenance.HooksFired = append(rep.Provenance.HooksFired, l.Hook)
	}
	if out != "" {
		if err := report.WriteJSONFile(out, rep); err != nil {
			return err
		}
	}
	if asJSON {
		return report.WriteJSON(cmd.OutOrStdout(), rep)
	}
	fmt.Fprint(cmd.OutOrStdout(), rep.Table())
	if out != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
	}
	return nil
}
