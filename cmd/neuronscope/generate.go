package main

import (
	"encoding/json"
	"slices"

	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/spf13/cobra"
)

func newGenerateCmd() *cobra.Command {
	mf := modelFlags{text: "generate"}
	var in inputFlags
	var maxNew int
	var ignoreEOS bool
	var s corpus.Sampling
	cmd := &cobra.Command{
		Use:   "generate --model DIR (--ids 1,2,3 | --text STR | --jsonl FILE) [--max-new 20] [--ignore-eos] [--temperature T] [--top-k K] [--top-p P] [--seed S]",
		Short: "Continue prompts greedily, or by seeded top-k/top-p sampling, with a KV cache; prints JSON",
		Long: `Continue each prompt by up to --max-new tokens, stopping after the model's EOS token
(config.json eos_token_id; the EOS is the last new token) unless --ignore-eos.

Decoding is greedy (argmax, the lowest id on ties) unless --temperature, --top-k or --top-p is
given: then tokens are drawn in Hugging Face's order (logits ÷ temperature, the top-k tokens, the
smallest set of most probable tokens reaching probability top-p, softmax) from a seeded
generator, one stream per prompt, so a run is reproducible under --seed whatever the batching.
Prompts are left-padded in batches (position ids follow the mask, so padding changes nothing).`,
		Example: `  neuronscope generate --model testdata/world-llama --text "Rofa bilo" --max-new 5
  neuronscope generate --model testdata/tiny-llama --ids 1,5,9 --ids 1,7 --max-new 8
  neuronscope generate --model testdata/world-llama --text "Mara kra" --top-k 20 --top-p 0.9 --temperature 0.8 --seed 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxNew < 0 {
				return usagef("--max-new %d: want at least 0", maxNew)
			}
			sampling := cmd.Flags().Changed("temperature") || cmd.Flags().Changed("top-k") || cmd.Flags().Changed("top-p")
			if err := checkRanges(
				rangeCheck{s.Temperature > 0, "--temperature: want > 0"},
				intAtLeast("--top-k", s.TopK, 0),
				floatIn("--top-p", s.TopP, 0, 1, false),
				rangeCheck{sampling || !cmd.Flags().Changed("seed"), "--seed applies to sampling (give --temperature, --top-k or --top-p)"},
			); err != nil {
				return err
			}
			m, err := mf.load(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			seqs, err := in.prompts(m)
			if err != nil {
				return err
			}
			longest := 0
			for _, s := range seqs {
				longest = max(longest, len(s))
			}
			if longest+maxNew > m.Config.MaxPos {
				return usagef("--max-new %d: the longest prompt has %d tokens and the model %d positions (at most %d new tokens)",
					maxNew, longest, m.Config.MaxPos, m.Config.MaxPos-longest)
			}
			opt := corpus.GenerateOptions{MaxNew: maxNew}
			if !ignoreEOS && m.Config.EOS >= 0 {
				opt.Stop = []int{m.Config.EOS}
			}
			decoding := "greedy"
			if sampling {
				opt.Sampling = &s
				decoding = "sample (" + s.String() + ")"
			}
			out, err := corpus.Generate(m, seqs, opt)
			if err != nil {
				return err
			}
			type row struct {
				Prompt     []int  `json:"prompt_ids"`
				New        []int  `json:"new_ids"`
				Stopped    string `json:"stopped"` // "eos" or "max_new"
				PromptText string `json:"prompt_text,omitempty"`
				NewText    string `json:"new_text,omitempty"`
			}
			rows := make([]row, len(seqs))
			for i := range seqs {
				rows[i] = row{Prompt: seqs[i], New: out[i], Stopped: "max_new"}
				if rows[i].New == nil {
					rows[i].New = []int{}
				}
				if n := len(out[i]); n > 0 && slices.Contains(opt.Stop, out[i][n-1]) {
					rows[i].Stopped = "eos"
				}
				if in.tok != nil {
					if rows[i].PromptText, err = in.tok.Decode(seqs[i], false); err != nil {
						return err
					}
					if rows[i].NewText, err = in.tok.Decode(out[i], false); err != nil {
						return err
					}
				}
			}
			prov := m.Provenance()
			prov.Padding = "left"
			prov.BOSPolicy = in.bosPolicy()
			doc := map[string]any{"generations": rows, "decoding": decoding, "provenance": prov, "stop_at_eos": opt.Stop != nil}
			if sampling {
				doc["sampling"] = s
				seed := int64(s.Seed)
				prov.Seed = &seed
				doc["provenance"] = prov
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			return enc.Encode(doc)
		},
	}
	mf.register(cmd)
	in.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&maxNew, "max-new", 20, "most new tokens per prompt")
	fl.BoolVar(&ignoreEOS, "ignore-eos", false, "continue past the model's EOS token (by default a continuation ends with it)")
	fl.Float64Var(&s.Temperature, "temperature", 1, "sampling: divide the logits by this (> 0)")
	fl.IntVar(&s.TopK, "top-k", 0, "sampling: draw from the K most probable tokens only (0: all)")
	fl.Float64Var(&s.TopP, "top-p", 1, "sampling: draw from the smallest set of most probable tokens reaching this probability (1: all)")
	fl.Uint64Var(&s.Seed, "seed", 0, "sampling: seed of the generator (stream i of the seed draws prompt i)")
	return cmd
}
