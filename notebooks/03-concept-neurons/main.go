// Command 03-concept-neurons finds concept neurons with CULNIG's procedure on the demo world
// model and checks them by intervention.
//
// The world's "cultures" are continents: every fact question is labelled with the home
// continent of its subject (testdata/world/concept_task.jsonl); the control set is the same
// prompts without their relation words; the exclusion set asks for place names that the
// prompt itself states. The program scores all three sets (gradient × activation at the gate
// and up projections, max over positions, times the answer's probability), selects general
// and per-continent neurons, then
//
//   - suppresses the general neurons (gate pre-activation set to 0 at every position, CULNIG's
//     suppress) and enhances them (×2 on the pre-activation), measuring the mean probability of
//     the answer and the accuracy on the task questions, against random sets with the same
//     number of units per layer;
//   - zero-ablates each continent's neurons and measures how much more that continent's
//     questions suffer than the others' (ablate.Selectivity, random same-layer sets).
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/03-concept-neurons          # every item (about a minute with OpenBLAS)
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
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
)

func main() {
	budget := flag.String("budget", "full", "full, or tiny: 20 task and control items and 10 exclusion items per continent, 3 random sets")
	modelDir := flag.String("model", "", "model directory (default: testdata/world-llama of this repository)")
	worldDir := flag.String("world", "", "world directory (default: testdata/world of this repository)")
	out := flag.String("out", "", "directory to write the neuron set to (concept-neurons.json; empty: print only)")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	file := ""
	if *out != "" {
		file = filepath.Join(*out, "concept-neurons.json")
	}
	if err := run(os.Stdout, *modelDir, *worldDir, file, *budget == "tiny"); err != nil {
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
	randomSets := 5
	if tiny {
		keep := firstPerGroup(task, "continent", 20)
		task, control = pick(task, keep), pick(control, keep) // control item i is task item i without relation words
		exclude = pick(exclude, firstPerGroup(exclude, "continent", 10))
		randomSets = 3
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
	if out != "" {
		prov := m.Provenance()
		set.Provenance = &prov
		if err := set.WriteFile(out); err != nil {
			return err
		}
		defer fmt.Fprintf(w, "wrote %s\n", out)
	}
	fmt.Fprintf(w, "\n%-10s %10s %9s %8s %8s\n", "group", "candidates", "excluded", "below z", "neurons")
	for _, c := range st.Counts {
		fmt.Fprintf(w, "%-10s %10d %9d %8d %8d\n", c.Group, c.Candidates, c.Excluded, c.BelowZ, c.Neurons)
	}
	gen, _ := set.Group("general")
	fmt.Fprintf(w, "general neurons per layer: %v; top 3: %v\n", perLayer(gen, m.Config.NLayers), plainTop(gen, 3))

	// Suppress and enhance the general neurons, against random sets of the same composition.
	neurons := hooks.Plain(gen)
	base, baseAcc, err := answerProb(m, task, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\ntask questions: P(answer) %.4f, accuracy %.4f\n", base, baseAcc)
	fmt.Fprintf(w, "%-28s %12s %12s\n", "intervention", "ΔP(answer)", "Δaccuracy")
	for _, iv := range []struct {
		name  string
		scale float32
	}{{"suppress (×0)", 0}, {"enhance (×2)", 2}} {
		p, acc, err := answerProb(m, task, scaleUnits(neurons, iv.scale))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-28s %+12.4f %+12.4f\n", "general "+iv.name, p-base, acc-baseAcc)
		var dp, da []float64
		for s := 0; s < randomSets; s++ {
			r := ablate.RandomSet(m.Catalog(), neurons, uint64(s+1))
			p, acc, err := answerProb(m, task, scaleUnits(r, iv.scale))
			if err != nil {
				return err
			}
			dp, da = append(dp, p-base), append(da, acc-baseAcc)
		}
		fmt.Fprintf(w, "%-28s %+12.4f %+12.4f   (mean of %d; std %.4f, %.4f)\n", "random "+iv.name, mean(dp), mean(da), randomSets, std(dp), std(da))
	}

	// Each continent's neurons: does zeroing them hurt that continent's questions most?
	fmt.Fprintf(w, "\n%-10s %7s %11s %11s %12s %14s  %s\n", "continent", "neurons", "own drop", "other drop", "selectivity", "random sel.", "verdict")
	for _, g := range set.Groups[1:] {
		if len(g.Neurons) == 0 {
			fmt.Fprintf(w, "%-10s %7d  (no neurons)\n", g.Name, 0)
			continue
		}
		r, err := ablate.Selectivity(m, task, hooks.Plain(g.Neurons), ablate.SelectivityOptions{Key: "continent", Target: g.Name, Mode: ablate.Zero, Random: randomSets})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-10s %7d %11.4f %11.4f %12.4f %7.4f±%.4f  %s\n", g.Name, len(g.Neurons), r.Claimed.TargetDrop, r.Claimed.OtherDrop, r.Claimed.Selectivity,
			r.Random.Selectivity.Mean, r.Random.Selectivity.Std, r.Verdict)
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

// scaleUnits multiplies the units by s at every position (0: CULNIG's suppress at the module
// output; 2: its enhance on the pre-activation).
func scaleUnits(ns []hooks.Neuron, s float32) []hooks.Option {
	points, idx := hooks.ByPoint(ns)
	var opts []hooks.Option
	for _, p := range points {
		units := idx[p]
		opts = append(opts, hooks.EditPoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
			w := len(a.Data) / (a.Shape[0] * a.Shape[1]) // units per position (q/k/v: heads·d_head)
			for row := 0; row < len(a.Data)/w; row++ {
				for _, j := range units {
					a.Data[row*w+j] *= s
				}
			}
			return nil
		}))
	}
	return opts
}

// answerProb is the mean probability of each item's answer at its last position, and the
// greedy accuracy, with the hook options applied.
func answerProb(m *model.Model, s *corpus.PromptSet, opts []hooks.Option) (float64, float64, error) {
	var total float64
	correct := 0
	err := corpus.ForEachPromptBatch(m, s.Prompts(), 0, 0, func([]int, model.Batch) []hooks.Option { return opts },
		func(rows []int, b model.Batch, res *model.Result) error {
			for k, i := range rows {
				ans := s.Items[i].AnswerIDs[0]
				p, err := model.Prob(k, b.Len-1, ans).Value(b, res.Logits)
				if err != nil {
					return err
				}
				total += p
				v := m.Config.DVocab
				if model.Argmax(res.Logits.Data[(k*b.Len+b.Len-1)*v:][:v]) == ans {
					correct++
				}
			}
			return nil
		})
	n := float64(len(s.Items))
	return total / n, float64(correct) / n, err
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

func mean(xs []float64) float64 { return sum(xs) / float64(len(xs)) }

func std(xs []float64) float64 {
	mu := mean(xs)
	var ss float64
	for _, x := range xs {
		ss += (x - mu) * (x - mu)
	}
	return math.Sqrt(ss / float64(max(1, len(xs)-1)))
}
