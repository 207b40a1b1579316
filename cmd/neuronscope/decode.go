package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newDecodeCmd) }

// newDecodeCmd is `neuronscope decode`: LM-head decoding of every MLP neuron's weights.
func newDecodeCmd() *cobra.Command {
	var mf modelFlags
	var top int
	var layerSpec, out string
	var normWeight bool
	cmd := &cobra.Command{
		Use:   "decode --model DIR [--top 10] [--layers 0,3] [--norm-weight=true] --out FILE.json",
		Short: "Decode every MLP neuron's read, up and write weights through the unembedding (top/bottom tokens); writes JSON",
		Long: `Decode MLP neurons through the LM head (Davies 2025; the logit lens on weights, Geva et al. 2022).

For each neuron the read direction (gate_proj / W_in row), the up direction (gated MLPs) and the
write direction (down_proj / W_out column) are multiplied by the unembedding W_U [d_vocab, d_model];
the report keeps the --top highest and lowest scoring tokens of each. With --norm-weight (default)
each vector first goes through the linear part of the final norm: centered for LayerNorm models,
then multiplied by the norm weight (Gemma: 1 + weight). Token strings come from DIR/tokenizer.json
when there is one. One GEMM per chunk of neurons; build with OpenBLAS (make build) for large models.`,
		Example: `  neuronscope decode --model testdata/world-llama --top 10 --out decode.json
  neuronscope decode --model testdata/world-llama --layers 2-3 --norm-weight=false --out decode-raw.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			if top <= 0 {
				return usagef("--top must be positive, got %d", top)
			}
			if err := checkOutFile("--out", out); err != nil {
				return err
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
			return runDecode(cmd, m, layers, top, normWeight, out)
		},
	}
	mf.register(cmd)
	cmd.Flags().IntVar(&top, "top", 10, "tokens kept per list (top and bottom)")
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
