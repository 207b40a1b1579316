package main

import (
	"bufio"
	"fmt"
	"path/filepath"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
	"github.com/neuronscope/neuronscope/internal/world"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/spf13/cobra"
)

func newWorldCmd() *cobra.Command {
	var out string
	var asJSON, byLanguage bool
	cfg := world.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "world --out DIR [--seed 1] [--languages 4] [--by-language] [--json]",
		Short: "Generate the synthetic multilingual fact world (corpus, eval sets, ground truth, tokenizer.json)",
		Long: `Generate a deterministic synthetic world: entities, 10 functional relations, 4 or more
constructed languages with their own lexicons and word orders, a training corpus (train.txt),
held-out-template fact questions (eval_facts.jsonl), held-out fluent text (eval_fluency.jsonl),
ground_truth.json, world.json (the config) and a WordLevel tokenizer.json. --by-language also
writes train.txt split by language, train.<language>.txt (filler and fact sentences; the
counting data of find language --data <language>=train.<language>.txt).`,
		Example: `  neuronscope world --out world
  neuronscope world --out world6 --languages 6 --seed 2 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutDir("--out", out); err != nil {
				return err
			}
			if cfg.Languages < 4 || cfg.Languages > 8 {
				return usagef("--languages %d: want 4..8", cfg.Languages)
			}
			w, err := world.Generate(cfg)
			if err != nil {
				return err
			}
			if err := w.Write(out); err != nil {
				return err
			}
			files := append([]string(nil), world.Files...)
			if byLanguage {
				names, err := w.WriteTrainByLanguage(out)
				if err != nil {
					return err
				}
				files = append(files, names...)
			}
			tok, err := w.Tokenizer()
			if err != nil {
				return err
			}
			if err := atomicfile.Write(filepath.Join(out, "tokenizer.json"), func(b *bufio.Writer) error {
				_, err := b.Write(tok)
				return err
			}); err != nil {
				return err
			}
			st := w.Stats()
			if asJSON {
				return report.WriteJSON(cmd.OutOrStdout(), struct {
					Out   string      `json:"out"`
					Seed  uint64      `json:"seed"`
					Files []string    `json:"files"`
					Stats world.Stats `json:"stats"`
				}{out, cfg.Seed, append(files, "tokenizer.json"), st})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (seed %d)\n%s", out, cfg.Seed, st)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output directory")
	cmd.Flags().Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	cmd.Flags().IntVar(&cfg.Languages, "languages", cfg.Languages, "number of constructed languages (4..8)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	cmd.Flags().BoolVar(&byLanguage, "by-language", false, "also write train.txt split by language: train.<language>.txt")
	return cmd
}

func init() { extraCommands = append(extraCommands, newWorldCmd) }
