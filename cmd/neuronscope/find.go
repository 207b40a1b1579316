package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/internal/report"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newFindCmd) }

func newFindCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "find", Short: "Neuron finders"}
	cmd.AddCommand(newFindKnowledgeCmd(), newFindLanguageCmd())
	return cmd
}

// knowledgeFact is one line of the input JSONL.
type knowledgeFact struct {
	Prompts []string `json:"prompts"`
	Target  string   `json:"target"`
}

type knowledgeFactOut struct {
	Line        int                 `json:"line"`
	Target      string              `json:"target"`
	TargetToken int                 `json:"target_token"`
	Prompts     int                 `json:"n_prompts"`
	Neurons     []attribute.Neuron  `json:"neurons"`
	Coarse      []int               `json:"coarse_per_prompt"`
	Counts      []knowledgeCountOut `json:"coarse_counts"`
}

type knowledgeCountOut struct {
	attribute.Neuron
	Prompts int `json:"prompts"`
}

type knowledgeReport struct {
	SchemaVersion int                `json:"schema_version"`
	Provenance    report.Provenance  `json:"provenance"`
	Procedure     string             `json:"procedure"`
	Neuron        string             `json:"neuron_definition"`
	Steps         int                `json:"steps"`
	Threshold     float64            `json:"threshold"`
	Share         float64            `json:"share"`
	Facts         []knowledgeFactOut `json:"facts"`
}

func newFindKnowledgeCmd() *cobra.Command {
	var mf modelFlags
	var data, out, bos string
	var steps int
	var threshold, share float64
	cmd := &cobra.Command{
		Use:   "knowledge --model DIR --data FACTS.jsonl [--steps 20] [--threshold 0.2] [--share 0.7] --out FILE.json",
		Short: `Knowledge neurons (Dai et al. 2022) of facts given as {"prompts":[...], "target":"..."} lines`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" || out == "" {
				return usagef("--data and --out are required")
			}
			if steps < 1 || threshold <= 0 || threshold > 1 || share <= 0 || share > 1 {
				return usagef("--steps must be ≥ 1 and --threshold, --share in (0, 1]")
			}
			policy, err := tokenizer.ParseBOSPolicy(bos)
			if err != nil {
				return usageError{err}
			}
			facts, err := readFacts(data)
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
			rep := knowledgeReport{SchemaVersion: 1, Provenance: provenance(m), Steps: steps, Threshold: threshold, Share: share,
				Neuron:    neuronDefinition,
				Procedure: "Dai et al. 2022: per prompt, integrated gradients (zero baseline, left Riemann, target position only) of the answer probability to every blocks.L.mlp.hook_post neuron; coarse = attribution ≥ threshold·max; knowledge neurons = coarse in ≥ share of the prompts"}
			rep.Provenance.BOSPolicy = bos
			rep.Provenance.Dataset = data
			bar := progressbar.NewOptions(len(facts), progressbar.OptionSetWriter(cmd.ErrOrStderr()),
				progressbar.OptionSetDescription("knowledge neurons"), progressbar.OptionShowCount())
			for i, f := range facts {
				fo, err := findFact(m, tok, policy, f, i+1, attribute.KNOptions{IG: attribute.IGOptions{Steps: steps}, Threshold: threshold, Share: share})
				if err != nil {
					return fmt.Errorf("--data %s line %d: %w", data, i+1, err)
				}
				rep.Facts = append(rep.Facts, fo)
				bar.Add(1)
			}
			bar.Finish()
			fmt.Fprintln(cmd.ErrOrStderr())
			if err := report.WriteJSON(out, rep); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: knowledge neurons of %d facts\n", out, len(facts))
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
	return cmd
}

func readFacts(path string) ([]knowledgeFact, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--data: %v", err)
	}
	defer f.Close()
	var facts []knowledgeFact
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var kf knowledgeFact
		if err := json.Unmarshal([]byte(line), &kf); err != nil {
			return nil, usagef("--data %s line %d: %v", path, n, err)
		}
		if len(kf.Prompts) == 0 || kf.Target == "" {
			return nil, usagef(`--data %s line %d: need "prompts" (non-empty) and "target"`, path, n)
		}
		facts = append(facts, kf)
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("--data %s: %v", path, err)
	}
	if len(facts) == 0 {
		return nil, usagef("--data %s has no facts", path)
	}
	return facts, nil
}

func findFact(m *model.Model, tok *tokenizer.Tokenizer, policy tokenizer.BOSPolicy, f knowledgeFact, line int, opt attribute.KNOptions) (knowledgeFactOut, error) {
	enc, err := tok.Encode(f.Target, false)
	if err != nil {
		return knowledgeFactOut{}, err
	}
	if len(enc.IDs) != 1 {
		return knowledgeFactOut{}, fmt.Errorf("target %q is %d tokens %v; knowledge neurons need a single-token answer", f.Target, len(enc.IDs), enc.Tokens)
	}
	var prompts [][]int
	for j, p := range f.Prompts {
		e, err := tok.EncodeWithBOS(p, policy, m.Config.BOS)
		if err != nil {
			return knowledgeFactOut{}, fmt.Errorf("prompt %d: %w", j+1, err)
		}
		if len(e.IDs) == 0 || len(e.IDs) > m.Config.MaxPos {
			return knowledgeFactOut{}, fmt.Errorf("prompt %d has %d tokens (need 1..%d)", j+1, len(e.IDs), m.Config.MaxPos)
		}
		prompts = append(prompts, e.IDs)
	}
	res, err := attribute.KnowledgeNeurons(m, prompts, enc.IDs[0], opt)
	if err != nil {
		return knowledgeFactOut{}, err
	}
	fo := knowledgeFactOut{Line: line, Target: f.Target, TargetToken: enc.IDs[0], Prompts: len(prompts), Neurons: res.Neurons}
	if fo.Neurons == nil {
		fo.Neurons = []attribute.Neuron{}
	}
	for _, c := range res.Coarse {
		fo.Coarse = append(fo.Coarse, len(c))
	}
	for n, c := range res.Count {
		fo.Counts = append(fo.Counts, knowledgeCountOut{n, c})
	}
	sortCounts(fo.Counts)
	return fo, nil
}

func sortCounts(cs []knowledgeCountOut) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Prompts != b.Prompts {
			return a.Prompts > b.Prompts
		}
		if a.Layer != b.Layer {
			return a.Layer < b.Layer
		}
		return a.Index < b.Index
	})
}
