package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/spf13/cobra"
)

type inspectOut struct {
	ModelDir         string            `json:"model_dir"`
	ModelType        string            `json:"model_type"`
	Layers           int               `json:"n_layers"`
	DModel           int               `json:"d_model"`
	DMLP             int               `json:"d_mlp"`
	Heads            int               `json:"n_heads"`
	KVHeads          int               `json:"n_kv_heads"`
	DHead            int               `json:"d_head"`
	Vocab            int               `json:"d_vocab"`
	MaxPositions     int               `json:"max_positions"`
	StoredDType      string            `json:"stored_dtype"`
	StoredBytes      int64             `json:"stored_bytes"`
	Params           int64             `json:"n_params"`
	Gated            bool              `json:"gated_mlp"`
	Activation       string            `json:"activation"`
	ParallelResidual bool              `json:"parallel_residual"`
	Tied             bool              `json:"tied_embeddings"`
	Attention        string            `json:"attention"`
	ImageSize        int               `json:"image_size,omitempty"`
	PatchSize        int               `json:"patch_size,omitempty"`
	Classes          []string          `json:"classes,omitempty"`
	ConfigHash       string            `json:"config_sha256"`
	BLAS             string            `json:"blas_backend"`
	Neuron           string            `json:"neuron_definition"`
	HookPoints       []string          `json:"hook_points"`
	HFAliases        map[string]string `json:"hf_aliases"`
	Warnings         []string          `json:"warnings,omitempty"`
}

func newInspectCmd() *cobra.Command {
	var mf modelFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect --model DIR [--json]",
		Short: "Describe a checkpoint: architecture, sizes, stored dtype, parameters, hook points",
		Example: `  neuronscope inspect --model testdata/world-llama
  neuronscope inspect --model testdata/tiny-llama --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := mf.load(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			out := describe(m)
			if asJSON {
				return report.WriteJSON(cmd.OutOrStdout(), out)
			}
			printInspect(cmd, m, out)
			return nil
		},
	}
	mf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func describe(m *model.Model) inspectOut {
	c := m.Config
	cat := m.Catalog()
	out := inspectOut{ModelDir: m.Dir, ModelType: c.ModelType, Layers: c.NLayers, DModel: c.DModel, DMLP: c.DMLP,
		Heads: c.NHeads, KVHeads: c.NKVHeads, DHead: c.DHead, Vocab: c.DVocab, MaxPositions: c.MaxPos,
		StoredDType: m.StoredDType, StoredBytes: m.StoredBytes, Params: m.ParamCount(), Gated: c.Gated,
		Activation: c.Act, ParallelResidual: c.ParallelResidual, Tied: c.Tied, ConfigHash: c.Hash,
		BLAS: linalg.Backend(), HookPoints: pointNames(cat.Points), HFAliases: map[string]string{}, Warnings: m.Warnings}
	out.Attention = attentionSummary(c)
	if c.ImageModel() {
		out.ImageSize, out.PatchSize, out.Classes = c.ImageSize, c.PatchSize, c.Labels
	}
	out.Neuron = "blocks.L.mlp.hook_post: the input of the MLP output projection, [batch, pos, d_mlp]"
	if c.Gated {
		out.Neuron += " = act(gate) * up (mlp.hook_pre = gate pre-activation, mlp.hook_pre_linear = up projection)"
	} else {
		out.Neuron += " = act(mlp.hook_pre)"
	}
	for a, p := range cat.Aliases {
		out.HFAliases[a] = p.String()
	}
	return out
}

// attentionSummary describes what the model's attention computes besides softmax(q·kᵀ)·v.
func attentionSummary(c *model.Config) string {
	var parts []string
	switch {
	case c.ALiBi:
		parts = append(parts, "ALiBi")
	case c.LearnedPos:
		parts = append(parts, "learned positions")
	default:
		rope := fmt.Sprintf("RoPE theta %g over %d of %d head dims", c.RopeTheta, c.RotaryDim, c.DHead)
		if s := c.RopeScaling; s != nil {
			rope += fmt.Sprintf(", %s scaling ×%g", s.Type, s.Factor)
		}
		if c.RopeLocalTheta > 0 {
			rope += fmt.Sprintf(" (global layers; local layers theta %g unscaled)", c.RopeLocalTheta)
		}
		parts = append(parts, rope)
	}
	if c.Bidirectional {
		parts = append(parts, "bidirectional")
	}
	if c.QKNorm {
		parts = append(parts, "q/k RMSNorm")
	}
	if c.AttnScale != 0 {
		parts = append(parts, fmt.Sprintf("scores × %.6g", c.AttnScale))
	}
	if c.AttnScaleByLayer {
		parts = append(parts, "scores ÷ (layer+1)")
	}
	if c.AttnSoftcap > 0 {
		parts = append(parts, fmt.Sprintf("score soft-cap %g", c.AttnSoftcap))
	}
	if c.FinalSoftcap > 0 {
		parts = append(parts, fmt.Sprintf("logit soft-cap %g", c.FinalSoftcap))
	}
	if c.Window > 0 && c.LocalLayers != nil {
		var local []string
		for l, on := range c.LocalLayers {
			if on {
				local = append(local, fmt.Sprint(l))
			}
		}
		parts = append(parts, fmt.Sprintf("sliding window %d on layers %s", c.Window, strings.Join(local, ",")))
	}
	if c.SlidingWindow > 0 {
		parts = append(parts, fmt.Sprintf("inputs longer than the sliding window %d refused", c.SlidingWindow))
	}
	return strings.Join(parts, "; ")
}

func printInspect(cmd *cobra.Command, m *model.Model, o inspectOut) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
	fmt.Fprintf(w, "model\t%s\n", o.ModelDir)
	fmt.Fprintf(w, "architecture\t%s\n", o.ModelType)
	fmt.Fprintf(w, "layers\t%d\n", o.Layers)
	fmt.Fprintf(w, "d_model\t%d\n", o.DModel)
	fmt.Fprintf(w, "d_mlp\t%d\n", o.DMLP)
	fmt.Fprintf(w, "heads / kv heads\t%d / %d (d_head %d)\n", o.Heads, o.KVHeads, o.DHead)
	if o.ImageSize > 0 {
		fmt.Fprintf(w, "images\t%d×%d pixels, %d×%d patches + CLS = %d tokens\n", o.ImageSize, o.ImageSize, o.PatchSize, o.PatchSize, o.MaxPositions)
		fmt.Fprintf(w, "classes\t%d\n", o.Vocab)
	} else {
		fmt.Fprintf(w, "vocab\t%d\n", o.Vocab)
	}
	if o.ImageSize == 0 {
		fmt.Fprintf(w, "max positions\t%d\n", o.MaxPositions)
	}
	fmt.Fprintf(w, "attention\t%s\n", o.Attention)
	fmt.Fprintf(w, "stored dtype\t%s (%d bytes; computed in float32)\n", o.StoredDType, o.StoredBytes)
	fmt.Fprintf(w, "parameters\t%d\n", o.Params)
	fmt.Fprintf(w, "mlp\t%s, gated=%v, parallel residual=%v, tied embeddings=%v\n", o.Activation, o.Gated, o.ParallelResidual, o.Tied)
	fmt.Fprintf(w, "neuron\t%s\n", o.Neuron)
	fmt.Fprintf(w, "config sha256\t%s\n", o.ConfigHash)
	fmt.Fprintf(w, "BLAS\t%s\n", o.BLAS)
	for _, warn := range o.Warnings {
		fmt.Fprintf(w, "warning\t%s\n", warn)
	}
	w.Flush()
	fmt.Fprintf(cmd.OutOrStdout(), "\nhook points (TransformerLens name  <-  HF module path aliases; attn.hook_attn_scores and attn.hook_pattern are [batch, head, query_pos, key_pos]):\n")
	cat := m.Catalog()
	byPoint := map[string][]string{}
	for _, a := range cat.SortedAliases() {
		p := cat.Aliases[a].String()
		byPoint[p] = append(byPoint[p], a)
	}
	for _, p := range o.HookPoints {
		if as := byPoint[p]; len(as) > 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "  %-32s  <-  %s\n", p, strings.Join(as, ", "))
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", p)
		}
	}
}
