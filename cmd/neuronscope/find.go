package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/internal/jsonerr"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newFindCmd) }

func newFindCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "find (knowledge|language|relation|concept|path) ...", Short: "Neuron finders: knowledge neurons, language neurons (LAPE, alignment), relation-specific neurons, concept (culture) neurons, influential paths",
		Example: `  neuronscope find knowledge --model testdata/world-llama --data facts.jsonl --out kn.json
  neuronscope find language --probs probs.safetensors --method lape --out lape.json
  neuronscope find relation --model testdata/world-llama --eval testdata/world/eval_facts.jsonl --heldout 16 --out rel.json`}
	cmd.AddCommand(newFindKnowledgeCmd(), newFindLanguageCmd(), newFindRelationCmd(), newFindConceptCmd(), newFindPathCmd())
	return cmd
}

func newFindKnowledgeCmd() *cobra.Command {
	mf := modelFlags{text: "find knowledge"}
	var data, out, bos, neurons string
	var steps int
	var threshold, share, relShare float64
	cmd := &cobra.Command{
		Use:   "knowledge --model DIR --data FACTS.jsonl [--steps 20] [--threshold 0.2] [--share 0.7] --out FILE.json [--neurons SET.json]",
		Short: `Knowledge neurons (Dai et al. 2022) of facts given as {"prompts":[...], "target":"..."[, "id", "relation"]} lines`,
		Example: `  neuronscope find knowledge --model testdata/world-llama --data facts.jsonl --steps 20 --out kn.json
  # facts.jsonl, one fact per line: {"prompts": ["Rofa bilo", "Rofa bi"], "target": "Tufinri"}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" || out == "" {
				return usagef("--data and --out are required")
			}
			if err := checkRanges(intAtLeast("--steps", steps, 1), floatIn("--threshold", threshold, 0, 1, false),
				floatIn("--share", share, 0, 1, false), floatIn("--relation-share", relShare, 0, 1, false)); err != nil {
				return err
			}
			policy, err := tokenizer.ParseBOSPolicy(bos)
			if err != nil {
				return usageError{err}
			}
			if err := checkOutFile("--out", out); err != nil {
				return err
			}
			facts, lines, err := readFacts("--data", data)
			if err != nil {
				return err
			}
			m, err := mf.load(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			tok, err := loadTokenizer(m)
			if err != nil {
				return err
			}
			enc := corpus.NewEncoder(m, tok, policy)
			encoded := make([]attribute.EncodedFact, len(facts))
			for i, f := range facts { // every fact is checked before the first is searched
				if encoded[i], err = attribute.EncodeKnowledgeFact(m, enc, f); err != nil {
					return usagef("--data %s:%d: %v", data, lines[i], err)
				}
			}
			rep := attribute.KnowledgeReport{SchemaVersion: 1, Provenance: m.Provenance(), Steps: steps, Threshold: threshold, Share: share,
				Neuron: neuronDefinition, Procedure: attribute.KnowledgeProcedure}
			rep.Provenance.BOSPolicy = bos
			rep.Provenance.Dataset = data
			bar := progressbar.NewOptions(len(facts), progressbar.OptionSetWriter(cmd.ErrOrStderr()),
				progressbar.OptionSetDescription("knowledge neurons"), progressbar.OptionShowCount())
			for i, ef := range encoded {
				fo, err := ef.Find(m, attribute.KNOptions{IG: attribute.IGOptions{Steps: steps}, Threshold: threshold, Share: share})
				if err != nil {
					return fmt.Errorf("--data %s:%d: %w", data, lines[i], err)
				}
				fo.Line = lines[i]
				rep.Facts = append(rep.Facts, fo)
				bar.Add(1)
			}
			bar.Finish()
			fmt.Fprintln(cmd.ErrOrStderr())
			if err := report.WriteJSONFile(out, rep); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: knowledge neurons of %d facts\n", out, len(facts))
			if neurons != "" {
				if err := attribute.KnowledgeNeuronSet(&rep, relShare).WriteFile(neurons); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (neuronscope.neurons/v1: one group per fact, relation/<name> groups)\n", neurons)
			}
			return nil
		},
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&data, "data", "", "JSONL file: one fact per line")
	fl.StringVar(&out, "out", "", "output JSON report")
	fl.StringVar(&bos, "bos", "auto", "BOS policy for the prompts: auto, always, never")
	fl.IntVar(&steps, "steps", 20, "integrated-gradients steps")
	fl.Float64Var(&threshold, "threshold", 0.2, "coarse threshold t (fraction of each prompt's maximum attribution)")
	fl.Float64Var(&share, "share", 0.7, "fraction p of prompts a neuron must be coarse for")
	fl.StringVar(&neurons, "neurons", "", "also write the knowledge neurons as a neuron set (one group per fact, relation/<name> groups)")
	fl.Float64Var(&relShare, "relation-share", attribute.KnowledgeRelationShare, "fraction of a relation's facts a relation-level knowledge neuron belongs to")
	return cmd
}

// readFacts reads `find knowledge`'s JSONL facts (given by flag) and the line of each.
func readFacts(flag, path string) ([]attribute.KnowledgeFact, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, usagef("%s: %v", flag, err)
	}
	defer f.Close()
	var facts []attribute.KnowledgeFact
	var lines []int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var kf attribute.KnowledgeFact
		if err := json.Unmarshal([]byte(line), &kf); err != nil {
			return nil, nil, usagef("%s %s:%d: %v", flag, path, n, jsonerr.Plain(err))
		}
		if len(kf.Prompts) == 0 || kf.Target == "" {
			return nil, nil, usagef(`%s %s:%d: need "prompts" (non-empty) and "target"`, flag, path, n)
		}
		facts = append(facts, kf)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, usagef("%s %s: %v", flag, path, err)
	}
	if len(facts) == 0 {
		return nil, nil, usagef("%s %s has no facts", flag, path)
	}
	return facts, lines, nil
}
