package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/spf13/cobra"
)

// conceptFlags are the flags of `neuronscope find concept`.
type conceptFlags struct {
	task, control, exclude, groupKey, taps, sel, bos, out string
	rates                                                 attribute.ConceptOptions
	batch                                                 int
	published, asJSON                                     bool
}

func newFindConceptCmd() *cobra.Command {
	mf := modelFlags{text: "find concept"}
	f := conceptFlags{rates: attribute.DefaultConceptOptions()}
	cmd := &cobra.Command{
		Use: "concept --model DIR --task FILE --control FILE [--exclude FILE] [--group-key KEY] [--taps LIST] " +
			"[--mlp-rate 0.01 --attn-rate 0.002 --exclude-rate 0.01 --specific-rate 0.003 --z 0.5] --out neurons.json",
		Short:   "Concept (culture) neurons by CULNIG's gradient × activation with control subtraction (Yamamoto et al. 2026)",
		Example: `  neuronscope find concept --model testdata/world-llama --task testdata/world/concept_task.jsonl --control testdata/world/concept_control.jsonl --exclude testdata/world/concept_exclude.jsonl --group-key continent --out concept.json`,
		Long: `Scores every unit of the taps (default: mlp.hook_pre = gate_proj output, mlp.hook_pre_linear =
up_proj output, and attention q/k/v where the model has them) on three prompt sets (JSONL lines
with "prompt", "answer" and a group label): per item P(y|x) · max over the prompt's positions of
a · ∂P(y|x)/∂a, clamped at 0 for the control set, summed per group; then selects, as CULNIG's
published code does:

  general   task/N_task − control/N_control over all groups; the top --mlp-rate of the MLP
            candidates (mlp.hook_pre) and the top --attn-rate of the attention candidates, each
            ranked across layers, minus each pool's top --exclude-rate by the exclusion set's
            summed scores;
  per group the group's task/N_task − control/N_control, the top --specific-rate of all
            candidates, minus the group's top --exclude-rate exclusion units, keeping those
            whose z-score across groups (population std) is at least --z.

--exclude is a prompt set scored like the task set (CULNIG's CountryRC; it needs every task
group) or a neuron set (neuronscope.neurons/v1) of units to remove from every group. The max
runs over real positions; --published-padding reproduces CULNIG's padding quirk (pad positions
count as 0, so a left-padded row gets max(its maximum, 0); batches then follow file order).
Writes a neuron set (neuronscope.neurons/v1) with a group "general" and one per group value.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFindConcept(cmd, &mf, &f) },
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.task, "task", "", "task prompt set (JSONL: prompt, answer, group label)")
	fl.StringVar(&f.control, "control", "", "control prompt set: the task prompts without their content, same groups")
	fl.StringVar(&f.exclude, "exclude", "", "exclusion prompt set (JSONL) or neuron set (JSON) of units to remove")
	fl.StringVar(&f.groupKey, "group-key", "group", "label naming each item's group")
	fl.StringVar(&f.taps, "taps", "", "comma-separated taps to score (default: mlp.hook_pre, mlp.hook_pre_linear, attn.q, attn.k, attn.v where present)")
	fl.StringVar(&f.sel, "select", "", "comma-separated taps to select from (default: mlp.hook_pre and the attention taps)")
	fl.Float64Var(&f.rates.MLPRate, "mlp-rate", f.rates.MLPRate, "fraction of MLP candidates taken as general neurons")
	fl.Float64Var(&f.rates.AttnRate, "attn-rate", f.rates.AttnRate, "fraction of attention candidates taken as general neurons")
	fl.Float64Var(&f.rates.ExcludeRate, "exclude-rate", f.rates.ExcludeRate, "fraction of each pool removed by the exclusion scores")
	fl.Float64Var(&f.rates.SpecificRate, "specific-rate", f.rates.SpecificRate, "fraction of all candidates taken per group before the filters")
	fl.Float64Var(&f.rates.Z, "z", f.rates.Z, "least z-score across groups of a group-specific neuron")
	fl.IntVar(&f.batch, "batch", 16, "items per forward/backward pass")
	fl.BoolVar(&f.published, "published-padding", false, "reproduce CULNIG's padding quirk (pads scored 0 before the max; file-order batches)")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for the prompts: auto, always, never")
	fl.StringVar(&f.out, "out", "", "output neuron set (JSON)")
	fl.BoolVar(&f.asJSON, "json", false, "print the selection counts as JSON")
	return cmd
}

// conceptTaps parses a comma-separated tap list; "attn.q" stands for attn.hook_q (and k, v).
func conceptTaps(m *model.Model, flag, list string) ([]hooks.Site, error) {
	var out []hooks.Site
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		full := name
		if rest, ok := strings.CutPrefix(name, "attn."); ok && !strings.HasPrefix(rest, "hook_") {
			full = "attn.hook_" + rest
		}
		s, err := hooks.ParseSite(full)
		if err != nil {
			return nil, usagef("%s %s: %v", flag, name, err)
		}
		if !m.Catalog().Has(hooks.At(0, s)) {
			return nil, usagef("%s %s: this model has no %s", flag, name, s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, usagef("%s is empty", flag)
	}
	return out, nil
}

func runFindConcept(cmd *cobra.Command, mf *modelFlags, f *conceptFlags) error {
	for _, req := range []struct{ name, val string }{{"--task", f.task}, {"--control", f.control}, {"--out", f.out}} {
		if req.val == "" {
			return usagef("%s is required", req.name)
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"--mlp-rate", f.rates.MLPRate}, {"--attn-rate", f.rates.AttnRate}, {"--exclude-rate", f.rates.ExcludeRate}, {"--specific-rate", f.rates.SpecificRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			return usagef("%s %g: want a fraction in [0, 1]", r.name, r.v)
		}
	}
	if f.batch < 1 {
		return usagef("--batch %d: want at least 1", f.batch)
	}
	if f.groupKey == "" {
		return usagef("--group-key is empty")
	}
	bos, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usageError{err}
	}
	for _, p := range []struct{ flag, path string }{{"--task", f.task}, {"--control", f.control}, {"--exclude", f.exclude}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			return usagef("%s: %v", p.flag, err)
		}
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
	enc := corpus.NewEncoder(m, tok, bos)
	taps := attribute.ConceptTaps(m)
	if f.taps != "" {
		if taps, err = conceptTaps(m, "--taps", f.taps); err != nil {
			return err
		}
	}
	if f.sel != "" {
		if f.rates.Select, err = conceptTaps(m, "--select", f.sel); err != nil {
			return err
		}
	}
	read := func(flag, path string) (*corpus.PromptSet, []string, error) {
		set, err := corpus.ReadPromptSet(path, enc, corpus.PromptOptions{})
		if err != nil {
			return nil, nil, usagef("%s: %v", flag, err)
		}
		groups, err := set.Groups(f.groupKey)
		if err != nil {
			return nil, nil, usagef("%s: %v (choose the label with --group-key)", flag, err)
		}
		return set, groups, nil
	}
	task, tg, err := read("--task", f.task)
	if err != nil {
		return err
	}
	control, cg, err := read("--control", f.control)
	if err != nil {
		return err
	}
	if !slices.Equal(tg, cg) { // both sorted
		return usagef("--task %s and --control %s have different %q groups: %s vs %s", f.task, f.control, f.groupKey, strings.Join(tg, ", "), strings.Join(cg, ", "))
	}
	var exSet *corpus.PromptSet
	if f.exclude != "" {
		ns, isSet, err := readExcludeNeurons(m, f.exclude)
		if err != nil {
			return err
		}
		if isSet {
			f.rates.Exclude = ns
		} else {
			var eg []string
			if exSet, eg, err = read("--exclude", f.exclude); err != nil {
				return err
			}
			for _, g := range tg {
				if !slices.Contains(eg, g) {
					return usagef("--exclude %s has no %s=%s item; every task group needs its exclusion units (it has %s)", f.exclude, f.groupKey, g, strings.Join(eg, ", "))
				}
			}
		}
	}

	score := func(what string, set *corpus.PromptSet, control bool) (*attribute.ConceptScores, error) {
		fmt.Fprintf(cmd.ErrOrStderr(), "scoring %s (%d items)\n", what, len(set.Items))
		sc, err := attribute.ScoreConcept(m, set, attribute.ConceptScoreOptions{Taps: taps, GroupKey: f.groupKey, Control: control, Batch: f.batch, PublishedPadding: f.published})
		return sc, inputError(err)
	}
	ts, err := score(f.task, task, false)
	if err != nil {
		return err
	}
	cs, err := score(f.control, control, true)
	if err != nil {
		return err
	}
	var es *attribute.ConceptScores
	if exSet != nil {
		if es, err = score(f.exclude, exSet, false); err != nil {
			return err
		}
	}
	set, st, err := attribute.FindConcept(ts, cs, es, f.rates)
	if err != nil {
		return usageError{err}
	}
	prov := m.Provenance()
	prov.BOSPolicy = bos.String()
	prov.Padding = fmt.Sprintf("left, %d items per batch; %s", f.batch, ts.Padding)
	prov.Dataset = fmt.Sprintf("task %s, control %s", f.task, f.control)
	if f.exclude != "" {
		prov.Dataset += ", exclude " + f.exclude
	}
	set.Provenance = &prov
	if err := set.WriteFile(f.out); err != nil {
		return err
	}
	if f.asJSON {
		return report.WriteJSON(cmd.OutOrStdout(), st.Counts)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "group\tcandidates\texcluded\tbelow z\tneurons\t\n")
	for _, c := range st.Counts {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", c.Group, c.Candidates, c.Excluded, c.BelowZ, c.Neurons)
	}
	tw.Flush()
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.out)
	return nil
}

// readExcludeNeurons reads --exclude as a neuron set when it is one (a JSON object with
// "schema_version"), checked against the model: a set written for another model (its
// provenance names another config) or naming units this model lacks is a usage error.
// isSet is false for anything else (a prompt set).
func readExcludeNeurons(m *model.Model, path string) (ns []hooks.Neuron, isSet bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, usagef("--exclude: %v", err)
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(data, &probe) != nil || probe["schema_version"] == nil {
		return nil, false, nil
	}
	set, err := hooks.ParseNeuronSet(data, path)
	if err != nil {
		return nil, true, usagef("--exclude: %v", err)
	}
	if p := set.Provenance; p != nil && p.ConfigHash != "" && p.ConfigHash != m.Provenance().ConfigHash {
		return nil, true, usagef("--exclude %s was written for another model (%s, config sha256 %.12s…), not %s (%.12s…)", path, p.ModelDir, p.ConfigHash, m.Dir, m.Provenance().ConfigHash)
	}
	all := set.All()
	if err := m.Catalog().CheckNeurons(all); err != nil {
		return nil, true, usagef("--exclude %s: %v", path, err)
	}
	return all, true, nil
}
