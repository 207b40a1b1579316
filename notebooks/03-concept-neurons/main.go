// Command 03-concept-neurons finds concept neurons with CULNIG's procedure on the demo world
// model and checks them by intervention.
//
// The world's "cultures" are continents: every fact question is labelled with the home
// continent of its subject (testdata/world/concept_task.jsonl); the control set is the same
// prompts without their relation words; the exclusion set asks for place names that the
// prompt itself states. The program scores all three sets (gradient × activation at the gate
// and up projections and the attention q/k/v projections, max over positions, times the
// answer's probability), selects general and per-continent neurons, then verifies every group
// through ablate.Verify (the code of `neuronscope verify --experiment matrix,enhance --measure
// answer_prob`):
//
//   - suppress: each group's units set to 0 at the module output, every position (CULNIG's
//     suppress); enhance: ×2 on the pre-activation (CULNIG's enhance);
//   - the effect is the answer probability's change, a ratio of means; a continent's group is
//     tested on its continent's questions minus the mean on the others, "general" on every
//     question pooled;
//   - against random sets with the same count at every layer and every tap, with empirical and
//     bootstrap p-values, bootstrap intervals and verdicts; the general neurons also against
//     CULNIG's own random baseline (the same total drawn from all gate and q/k/v units).
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/03-concept-neurons                 # every item scored; 100 questions per continent verified, 10 random sets
//	go run ./notebooks/03-concept-neurons -budget tiny    # 20 items per continent, 3 random sets
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
)

func main() {
	budget := flag.String("budget", "full", "full, or tiny: 20 task and control items and 10 exclusion items per continent, 3 random sets")
	modelDir := flag.String("model", "", "model directory (default: testdata/world-llama of this repository)")
	worldDir := flag.String("world", "", "world directory (default: testdata/world of this repository)")
	out := flag.String("out", "", "directory to write concept-neurons.json and concept-labels.json to (empty: print only)")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(os.Stdout, *modelDir, *worldDir, *out, *budget == "tiny"); err != nil {
		fmt.Fprintln(os.Stderr, "03-concept-neurons:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, modelDir, worldDir, out string, tiny bool) error {
	if worldDir == "" {
		var err error
		if worldDir, err = nb.Testdata("world"); err != nil {
			return err
		}
	}
	m, enc, err := nb.Load(modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	read := func(name string) (*corpus.PromptSet, error) {
		return corpus.ReadPromptSet(filepath.Join(worldDir, name), enc, corpus.PromptOptions{})
	}
	task, err := read("concept_task.jsonl")
	if err != nil {
		return err
	}
	control, err := read("concept_control.jsonl")
	if err != nil {
		return err
	}
	exclude, err := read("concept_exclude.jsonl")
	if err != nil {
		return err
	}
	randomSets, verifyPer := 10, 100
	if tiny {
		keep := firstPerGroup(task, "continent", 20)
		task, control = pick(task, keep), pick(control, keep) // control item i is task item i without relation words
		exclude = pick(exclude, firstPerGroup(exclude, "continent", 10))
		randomSets, verifyPer = 3, 20
	}
	fmt.Fprintf(w, "items: task %d, control %d, exclusion %d\n", len(task.Items), len(control.Items), len(exclude.Items))

	var scores [3]*attribute.ConceptScores
	for i, s := range []*corpus.PromptSet{task, control, exclude} {
		if scores[i], err = attribute.ScoreConcept(m, s, attribute.ConceptScoreOptions{GroupKey: "continent", Control: i == 1}); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "mean P(answer): task %.3f, control %.3f, exclusion %.3f\n",
		sum(scores[0].Confidence)/float64(scores[0].Items), sum(scores[1].Confidence)/float64(scores[1].Items), sum(scores[2].Confidence)/float64(scores[2].Items))
	set, st, err := attribute.FindConcept(scores[0], scores[1], scores[2], attribute.DefaultConceptOptions())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%-10s %10s %9s %8s %8s\n", "group", "candidates", "excluded", "below z", "neurons")
	for _, c := range st.Counts {
		fmt.Fprintf(w, "%-10s %10d %9d %8d %8d\n", c.Group, c.Candidates, c.Excluded, c.BelowZ, c.Neurons)
	}
	gen, _ := set.Group(attribute.ConceptGeneral)
	fmt.Fprintf(w, "general neurons per layer: %v; top 3: %v\n", perLayer(gen, m.Config.NLayers), plainTop(gen, 3))

	// Verify every group: suppress and enhance, against random sets of the same composition.
	vq := pick(task, firstPerGroup(task, "continent", verifyPer))
	e, err := ablate.NewEval(m, vq, nil, ablate.EvalOptions{LogProb: true})
	if err != nil {
		return err
	}
	lf, err := ablate.VerifyExperiments(e, set, []string{ablate.ExpMatrix, ablate.ExpEnhance}, ablate.VerifyOptions{Key: "continent",
		Measure: "answer_prob", Random: randomSets, Seed: 1, General: attribute.ConceptGeneral, Source: "notebook 03"})
	if err != nil {
		return err
	}
	base, err := e.Baseline()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nverification on %d task questions (%d per continent), mean P(answer) %.4f; %d random sets per group, same count per layer and tap\n",
		len(vq.Items), verifyPer, meanProb(base), randomSets)
	fmt.Fprintf(w, "%-10s %-12s %10s %12s %19s %7s %7s  %s\n", "group", "", "ΔP(group)", "selectivity", "random", "p", "p boot", "verdict")
	for _, l := range lf.Labels {
		if len(l.Verifications) == 0 {
			fmt.Fprintf(w, "%-10s (no neurons)\n", l.Set)
			continue
		}
		for k, v := range l.Verifications {
			name, what, sign := l.Set, "suppress ×0", -1.0
			if v.Experiment == ablate.ExpEnhance {
				what, sign = "enhance ×2", 1
			}
			if k > 0 {
				name = ""
			}
			fmt.Fprintf(w, "%-10s %-12s %+9.2f%% %+11.2f%% %+9.2f ± %5.2f%% %7.3f %7.2g  %s\n", name, what, 100*sign*v.Target, 100*v.Effect,
				100*v.Random.Mean, 100*v.Random.Std, v.P, *v.PBootstrap, v.Verdict)
		}
	}
	fmt.Fprintln(w, "(ΔP(group): the answer probability's change on the group's questions, a ratio of means; selectivity: oriented so\n"+
		" the claim predicts > 0, minus its mean on the other continents; general: on every question)")

	// CULNIG's own random baseline for the general neurons: the same total from all gate and q/k/v units.
	if len(gen) == 0 {
		return fmt.Errorf("no general neurons")
	}
	pooled, err := ablate.Matrix(e, []hooks.NeuronGroup{{Name: attribute.ConceptGeneral, Neurons: gen}}, ablate.MatrixOptions{Key: "continent",
		Measure: ablate.AnswerProb, Random: randomSets, Seed: 1, General: attribute.ConceptGeneral,
		RandomPool: []hooks.Site{hooks.MLPPre, hooks.AttnQ, hooks.AttnK, hooks.AttnV}})
	if err != nil {
		return err
	}
	pv := pooled.Verifications[0]
	fmt.Fprintf(w, "general suppress (×0) against CULNIG's pooled random sets: %+.2f%%, random %+.2f ± %.2f%%, p %.3f: %s\n",
		-100*pv.Target, -100*pv.Random.Mean, 100*pv.Random.Std, pv.P, pv.Verdict)

	if out != "" {
		prov := m.Provenance()
		set.Provenance = &prov
		lf.Provenance = prov
		for name, write := range map[string]func(string) error{"concept-neurons.json": set.WriteFile, "concept-labels.json": lf.WriteFile} {
			if err := write(filepath.Join(out, name)); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "wrote %s and %s\n", filepath.Join(out, "concept-neurons.json"), filepath.Join(out, "concept-labels.json"))
	}
	return nil
}

// firstPerGroup returns the indices of the first n items of each value of label key.
func firstPerGroup(s *corpus.PromptSet, key string, n int) []int {
	seen := map[string]int{}
	var out []int
	for i, it := range s.Items {
		if seen[it.Labels[key]] < n {
			seen[it.Labels[key]]++
			out = append(out, i)
		}
	}
	return out
}

func pick(s *corpus.PromptSet, idx []int) *corpus.PromptSet {
	out := &corpus.PromptSet{Source: s.Source}
	for _, i := range idx {
		out.Items = append(out.Items, s.Items[i])
	}
	return out
}

// meanProb is the mean answer probability of the scores.
func meanProb(s *ablate.Scores) float64 {
	var t float64
	for _, lp := range s.LogProb {
		t += math.Exp(lp)
	}
	return t / float64(len(s.LogProb))
}

func perLayer(ns []hooks.ScoredNeuron, L int) []int {
	out := make([]int, L)
	for _, n := range ns {
		out[n.Layer]++
	}
	return out
}

func plainTop(ns []hooks.ScoredNeuron, k int) []string {
	var out []string
	for _, n := range ns[:min(k, len(ns))] {
		out = append(out, n.Neuron.String())
	}
	sort.Strings(out)
	return out
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}
