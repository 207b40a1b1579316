package main

import (
	"fmt"

	"github.com/neuronscope/neuronscope/model"
	"github.com/spf13/cobra"
)

// randomConfigs are the small checkpoints `make-random` writes (testdata/tiny-llama etc.).
var randomConfigs = map[string]string{
	"tiny-llama": `{
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "hidden_size": 64,
  "intermediate_size": 128,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "head_dim": 16,
  "vocab_size": 256,
  "max_position_embeddings": 128,
  "rms_norm_eps": 1e-05,
  "rope_theta": 10000.0,
  "rope_scaling": null,
  "hidden_act": "silu",
  "tie_word_embeddings": false,
  "attention_bias": false,
  "mlp_bias": false,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "torch_dtype": "float32"
}
`,
}

func newMakeRandomCmd() *cobra.Command {
	var name, out, dtype string
	var seed uint64
	cmd := &cobra.Command{
		Use:     "make-random --name tiny-llama --out DIR [--seed 1]",
		Short:   "Write a small random-weight HF checkpoint (for tests and the demo)",
		Hidden:  true,
		Example: `  neuronscope make-random --name tiny-llama --out testdata/tiny-llama`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			js, ok := randomConfigs[name]
			if !ok {
				pj, isPreset := model.PresetJSON(name)
				if !isPreset {
					return usagef("--name %q: unknown (have tiny-llama and the bench presets %v)", name, model.Presets())
				}
				js = string(pj)
			}
			if err := checkOutDir("--out", out); err != nil {
				return err
			}
			cfg, err := model.ParseConfig([]byte(js), name)
			if err != nil {
				return err
			}
			m, err := model.NewRandom(cfg, seed)
			if err != nil {
				return err
			}
			if err := m.Save(out, []byte(js), dtype); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d parameters, seed %d)\n", out, m.ParamCount(), seed)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "tiny-llama", "which checkpoint")
	cmd.Flags().StringVar(&out, "out", "", "output directory")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	cmd.Flags().StringVar(&dtype, "dtype", "F32", "stored dtype: F32, BF16 or F16")
	return cmd
}

func init() {
	extraCommands = append(extraCommands, newMakeRandomCmd)
}
