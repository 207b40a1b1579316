package main

import (
	"encoding/json"

	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/spf13/cobra"
)

func newGenerateCmd() *cobra.Command {
	var mf modelFlags
	var in inputFlags
	var maxNew int
	cmd := &cobra.Command{
		Use:   "generate --model DIR (--ids 1,2,3 | --text STR | --jsonl FILE) --max-new N",
		Short: "Greedy (argmax) continuation with a KV cache; prints JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxNew < 0 {
				return usagef("--max-new must be non-negative, got %d", maxNew)
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
			out, err := corpus.Generate(m, seqs, corpus.GenerateOptions{MaxNew: maxNew})
			if err != nil {
				return err
			}
			type row struct {
				Prompt     []int  `json:"prompt_ids"`
				New        []int  `json:"new_ids"`
				PromptText string `json:"prompt_text,omitempty"`
				NewText    string `json:"new_text,omitempty"`
			}
			rows := make([]row, len(seqs))
			for i := range seqs {
				rows[i] = row{Prompt: seqs[i], New: out[i]}
				if rows[i].New == nil {
					rows[i].New = []int{}
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
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			return enc.Encode(map[string]any{"generations": rows, "decoding": "greedy", "provenance": prov})
		},
	}
	mf.register(cmd)
	in.register(cmd)
	cmd.Flags().IntVar(&maxNew, "max-new", 20, "number of new tokens per prompt")
	return cmd
}
