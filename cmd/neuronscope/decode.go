package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newDecodeCmd) }

// decodeNeuronDefinition is the tap-point statement every decode report carries.
const decodeNeuronDefinition = "neuron i of layer L is index i (Hugging Face's index, never permuted) of " +
	"blocks.L.mlp.hook_post [batch, pos, d_mlp]: the input of the MLP output projection " +
	"(down_proj / W_out / GPT-2 c_proj); for gated MLPs hook_post = act(gate_proj x) * up_proj x. " +
	"Its read direction produces blocks.L.mlp.hook_pre[i], its up direction (gated MLPs) " +
	"blocks.L.mlp.hook_pre_linear[i], and its write direction is what one unit of hook_post[i] adds to the residual stream."

type decodeTokenOut struct {
	ID    int     `json:"token_id"`
	Token *string `json:"token,omitempty"`
	Score float32 `json:"score"`
}

type decodeNeuronOut struct {
	Layer       int              `json:"layer"`
	Index       int              `json:"index"`
	ReadTop     []decodeTokenOut `json:"read_top"`
	ReadBottom  []decodeTokenOut `json:"read_bottom"`
	UpTop       []decodeTokenOut `json:"up_top,omitempty"`
	UpBottom    []decodeTokenOut `json:"up_bottom,omitempty"`
	WriteTop    []decodeTokenOut `json:"write_top"`
	WriteBottom []decodeTokenOut `json:"write_bottom"`
}

type decodeLayerOut struct {
	Layer   int               `json:"layer"`
	Neurons []decodeNeuronOut `json:"neurons"`
}

type decodeOut struct {
	Provenance       report.Provenance `json:"provenance"`
	NeuronDefinition string            `json:"neuron_definition"`
	Directions       map[string]string `json:"directions"`
	Score            string            `json:"score"`
	Top              int               `json:"top"`
	NormWeight       bool              `json:"norm_weight"`
	TokenStrings     string            `json:"token_strings"`
	DModel           int               `json:"d_model"`
	DMLP             int               `json:"d_mlp"`
	DVocab           int               `json:"d_vocab"`
	Seconds          float64           `json:"seconds"`
	Layers           []decodeLayerOut  `json:"layers"`
}

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
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			if top <= 0 {
				return usagef("--top must be positive, got %d", top)
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
			if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
				return fmt.Errorf("--out %s: directory %s does not exist", out, filepath.Dir(out))
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
	res := decodeOut{
		Provenance:       m.Provenance(),
		NeuronDefinition: decodeNeuronDefinition,
		Directions:       decodeDirectionNotes(m, layers),
		Score:            decodeScoreNote(c, normWeight),
		Top:              min(top, c.DVocab),
		NormWeight:       normWeight,
		TokenStrings:     tokNote,
		DModel:           c.DModel,
		DMLP:             c.DMLP,
		DVocab:           c.DVocab,
	}
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
		bar := progressbar.NewOptions(nLayers*dirs*c.DMLP,
			progressbar.OptionSetWriter(cmd.ErrOrStderr()),
			progressbar.OptionSetDescription("decoding neuron weights"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("vectors"),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }))
		opt.Progress = func(done, _ int) { _ = bar.Set(done) }
		defer bar.Close()
	}
	conv := func(ts []attribute.DecodedToken) []decodeTokenOut {
		if ts == nil {
			return nil
		}
		o := make([]decodeTokenOut, len(ts))
		for i, t := range ts {
			o[i] = decodeTokenOut{ID: t.ID, Score: t.Score}
			if name != nil {
				if s, ok := name(t.ID); ok {
					o[i].Token = &s
				}
			}
		}
		return o
	}
	t0 := time.Now()
	err := attribute.DecodeNeuronsFunc(m, opt, func(layer []attribute.NeuronDecoding) error {
		lo := decodeLayerOut{Layer: layer[0].Layer, Neurons: make([]decodeNeuronOut, len(layer))}
		for i, n := range layer {
			lo.Neurons[i] = decodeNeuronOut{Layer: n.Layer, Index: n.Index,
				ReadTop: conv(n.ReadTop), ReadBottom: conv(n.ReadBottom),
				UpTop: conv(n.UpTop), UpBottom: conv(n.UpBottom),
				WriteTop: conv(n.WriteTop), WriteBottom: conv(n.WriteBottom)}
		}
		res.Layers = append(res.Layers, lo)
		return nil
	})
	if err != nil {
		return err
	}
	res.Seconds = time.Since(t0).Seconds()
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

// decodeDirectionNotes names the weight each direction is read from (tensor names with the
// layer index written L).
func decodeDirectionNotes(m *model.Model, layers []int) map[string]string {
	l := 0
	if len(layers) > 0 {
		l = layers[0]
	}
	w := m.MLP(l)
	where := func(p *model.Param, read bool) string {
		name := strings.Replace(p.Name, "."+strconv.Itoa(l)+".", ".L.", 1)
		if read != p.InOut {
			return fmt.Sprintf("row i of %s %v", name, p.Shape)
		}
		return fmt.Sprintf("column i of %s %v", name, p.Shape)
	}
	notes := map[string]string{
		"read":  where(w.In, true) + ": produces mlp.hook_pre[i]",
		"write": where(w.Out, false) + ": added to the residual stream per unit of mlp.hook_post[i]",
	}
	if w.Up != nil {
		notes["up"] = where(w.Up, true) + ": produces mlp.hook_pre_linear[i] (the vector Davies 2025 decodes)"
	}
	return notes
}

func decodeScoreNote(c *model.Config, normWeight bool) string {
	if !normWeight {
		return "score_t = W_U[t] · v, the raw weight vector v against row t of the unembedding [d_vocab, d_model] (logits, not probabilities)"
	}
	g := "γ"
	if c.NormPlusOne {
		g = "(1 + γ)"
	}
	if c.LayerNorm {
		return "score_t = W_U[t] · (γ ⊙ (v − mean(v))): the final LayerNorm's centering and weight γ applied to v, without the per-position 1/scale and the bias (logits, not probabilities)"
	}
	return "score_t = W_U[t] · (" + g + " ⊙ v): the final RMSNorm's weight applied to v, without the per-position 1/scale (logits, not probabilities)"
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
