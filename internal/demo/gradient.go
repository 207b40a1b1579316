package demo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// ConceptInputs are the world's CULNIG item sets (concept_task.jsonl, concept_control.jsonl,
// concept_exclude.jsonl), grouped by the continent of each question's subject.
type ConceptInputs struct {
	Task, Control, Exclude *corpus.PromptSet
}

// ConceptKey is the label the demo's concept groups come from.
const ConceptKey = "continent"

// ConceptStage is the concept-neuron stage: CULNIG's finder with its published rates
// (attribute.ScoreConcept, FindConcept: `neuronscope find concept`), then each group
// suppressed (0 at the module output, every position) and enhanced (×2 on the
// pre-activation) through ablate.Verify (`neuronscope verify --experiment matrix,enhance
// --measure answer_prob`): each continent's group on its continent's questions against the
// others', "general" on all of them pooled, against random sets with the same count at every
// layer and tap.
type ConceptStage struct {
	Procedure string `json:"procedure"`
	// TaskItems, ControlItems and ExcludeItems were scored; MeanProb is the mean answer
	// probability of each set (task, control, exclusion).
	TaskItems    int                           `json:"task_items"`
	ControlItems int                           `json:"control_items"`
	ExcludeItems int                           `json:"exclude_items"`
	MeanProb     [3]float64                    `json:"mean_answer_prob"`
	Counts       []attribute.ConceptGroupCount `json:"counts"`
	// VerifyItems are the task questions of the verification (up to Options.ConceptItems per
	// continent), RandomSets its random sets per group.
	VerifyItems int            `json:"verify_items"`
	RandomSets  int            `json:"random_sets"`
	Groups      []ConceptGroup `json:"groups"`
	Seconds     float64        `json:"seconds"`
}

// ConceptGroup is one group's neurons and its two verifications.
type ConceptGroup struct {
	Name     string `json:"name"`
	Neurons  int    `json:"neurons"`
	PerLayer string `json:"per_layer"`
	// Suppress and Enhance are the label's verifications (nil for an empty group).
	Suppress *labels.Verification `json:"suppress,omitempty"`
	Enhance  *labels.Verification `json:"enhance,omitempty"`
}

// PathStage is the neuron-path stage: NeuronPath's search (attribute.NeuronPath, `neuronscope
// find path`) on questions spread over relations and languages, then ablate.VerifyPaths
// (`neuronscope verify --experiment path`).
type PathStage struct {
	Prompts int `json:"prompts"`
	Steps   int `json:"steps"`
	// SecondsPerPrompt is the median search time per prompt.
	SecondsPerPrompt float64 `json:"seconds_per_prompt"`
	MeanJAS          float64 `json:"mean_jas"`
	MeanActivation   float64 `json:"mean_activation_jas"`
	ActivationHigher int     `json:"activation_jas_higher"`
	// BothNegative counts chosen path neurons whose two score factors were both negative.
	BothNegative int                 `json:"both_factors_negative"`
	Chosen       int                 `json:"chosen"`
	Effects      *labels.ItemEffects `json:"effects"`
	Verdicts     map[string][]string `json:"verdicts"` // kind → remove, enhance verdicts
	Seconds      float64             `json:"seconds"`
}

// gradientStages runs the concept and path stages the options ask for.
func (r *Report) gradientStages(in Inputs, opt Options, say func(string, ...any)) error {
	if !opt.SkipConcept && in.Concept != nil {
		if err := r.conceptStage(in, opt, say); err != nil {
			return fmt.Errorf("concept neurons: %w", err)
		}
	}
	if !opt.SkipPaths {
		if err := r.pathStage(in, opt, say); err != nil {
			return fmt.Errorf("neuron paths: %w", err)
		}
	}
	return nil
}

// conceptStage finds CULNIG's neurons and verifies them.
func (r *Report) conceptStage(in Inputs, opt Options, say func(string, ...any)) error {
	t0 := time.Now()
	m, c := in.Model, in.Concept
	say("concept neurons: CULNIG's grad×act at the gate, up and q/k/v outputs, task − control, exclusion set (%d + %d + %d items)",
		len(c.Task.Items), len(c.Control.Items), len(c.Exclude.Items))
	st := &ConceptStage{Procedure: attribute.ConceptProcedure, TaskItems: len(c.Task.Items), ControlItems: len(c.Control.Items),
		ExcludeItems: len(c.Exclude.Items), RandomSets: opt.RandomSets}
	var scores [3]*attribute.ConceptScores
	for i, s := range []*corpus.PromptSet{c.Task, c.Control, c.Exclude} {
		var err error
		if scores[i], err = attribute.ScoreConcept(m, s, attribute.ConceptScoreOptions{GroupKey: ConceptKey, Control: i == 1}); err != nil {
			return err
		}
		var p float64
		for _, x := range scores[i].Confidence {
			p += x
		}
		st.MeanProb[i] = p / float64(scores[i].Items)
	}
	set, found, err := attribute.FindConcept(scores[0], scores[1], scores[2], attribute.DefaultConceptOptions())
	if err != nil {
		return err
	}
	set.Settings = found
	st.Counts = found.Counts
	vq := perGroup(c.Task, ConceptKey, opt.ConceptItems)
	st.VerifyItems = len(vq.Items)
	say("concept verification: suppress (×0) and enhance (×2) each of %d groups on %d questions, against %d random sets each",
		len(set.Groups), len(vq.Items), opt.RandomSets)
	e, err := ablate.NewEval(m, vq, nil, ablate.EvalOptions{BatchSize: verifyBatch, LogProb: true, Workers: opt.Workers, Progress: opt.EvalProgress})
	if err != nil {
		return err
	}
	lf, err := ablate.VerifyExperiments(e, set, []string{ablate.ExpMatrix, ablate.ExpEnhance}, ablate.VerifyOptions{Key: ConceptKey,
		Measure: "answer_prob", Random: opt.RandomSets, Seed: 1, General: attribute.ConceptGeneral, Source: "neuronscope demo"})
	if err != nil {
		return err
	}
	for _, g := range set.Groups {
		cg := ConceptGroup{Name: g.Name, Neurons: len(g.Neurons)}
		for _, l := range lf.Labels {
			if l.Set != g.Name {
				continue
			}
			cg.PerLayer = l.Evidence.PerLayer
			if sites := siteSet(g.Neurons); len(sites) == 1 {
				cg.PerLayer = sites[0] + " " + cg.PerLayer
			}
			for k := range l.Verifications {
				v := &l.Verifications[k]
				switch v.Experiment {
				case ablate.ExpMatrix:
					cg.Suppress = v
				case ablate.ExpEnhance:
					cg.Enhance = v
				}
			}
		}
		st.Groups = append(st.Groups, cg)
	}
	st.Seconds = time.Since(t0).Seconds()
	r.Concept, r.ConceptSet, r.ConceptLabels = st, set, lf
	return nil
}

// perGroup keeps the first n items of each value of key (0: all).
func perGroup(s *corpus.PromptSet, key string, n int) *corpus.PromptSet {
	taken := map[string]int{}
	return s.Filter(func(p corpus.Prompt) bool {
		if n > 0 && taken[p.Labels[key]] >= n {
			return false
		}
		taken[p.Labels[key]]++
		return true
	})
}

// pathQuestions takes every 7th question until each relation × language cell has n.
func pathQuestions(q *corpus.PromptSet, n int) []corpus.Prompt {
	count := map[[2]string]int{}
	var out []corpus.Prompt
	for i := 0; i < len(q.Items); i += 7 {
		it := q.Items[i]
		if c := [2]string{it.Labels["relation"], it.Labels["language"]}; count[c] < n {
			count[c]++
			out = append(out, it)
		}
	}
	return out
}

// pathStage finds each question's influential path and verifies the paths.
func (r *Report) pathStage(in Inputs, opt Options, say func(string, ...any)) error {
	t0 := time.Now()
	m := in.Model
	items := pathQuestions(in.Questions, opt.PathItems)
	st := &PathStage{Prompts: len(items), Steps: 20, Verdicts: map[string][]string{}}
	say("neuron paths: NeuronPath's layer-progressive search (m = %d) at the last position of %d questions", st.Steps, len(items))
	set := &hooks.NeuronSet{Method: "neuronpath", Tap: hooks.MLPPost}
	ps := &attribute.PathSettings{Procedure: attribute.PathProcedure, Steps: st.Steps, Target: attribute.TargetProb.String(),
		Site: hooks.MLPPost.String(), Position: "last", Width: 1, TopK: 5}
	var pitems []ablate.PathItem
	var secs []float64
	for _, it := range items {
		pos, tok := len(it.IDs)-1, it.AnswerIDs[0]
		t := time.Now()
		res, err := attribute.NeuronPath(m, it.IDs, pos, tok, attribute.PathOptions{Steps: st.Steps})
		if err != nil {
			return fmt.Errorf("%s: %w", it.ID, err)
		}
		secs = append(secs, time.Since(t).Seconds())
		set.Groups = append(set.Groups, res.PathGroups("/"+it.ID)...)
		ps.Items = append(ps.Items, res.Item(it.ID, it.Labels, secs[len(secs)-1]))
		st.MeanJAS += res.JAS / float64(len(items))
		st.MeanActivation += res.ActivationJAS / float64(len(items))
		if res.ActivationJAS > res.JAS {
			st.ActivationHigher++
		}
		for _, f := range res.Factors {
			st.Chosen++
			if f.Gradient < 0 && f.Activation < 0 {
				st.BothNegative++
			}
		}
		pitems = append(pitems, ablate.PathItemOf(it, res))
	}
	set.Settings = ps
	slices.Sort(secs)
	st.SecondsPerPrompt = secs[len(secs)/2]
	say("path verification: remove (×0) and enhance (×2) each question's path, activation argmax and top-5 at its position, against %d random paths each",
		opt.RandomSets)
	lf, err := ablate.VerifyPaths(m, pitems, ablate.PathVerifyOptions{Compare: []string{"relation", "language"}, Random: opt.RandomSets, Seed: 1,
		Workers: opt.Workers, Progress: opt.EvalProgress, Source: "neuronscope demo"})
	if err != nil {
		return err
	}
	st.Effects = &lf.ItemEffects[0]
	for _, l := range lf.Labels {
		for _, v := range l.Verifications {
			st.Verdicts[l.Set] = append(st.Verdicts[l.Set], v.Verdict)
		}
	}
	st.Seconds = time.Since(t0).Seconds()
	r.Paths, r.PathSet, r.PathLabels = st, set, lf
	return nil
}

// gradientSummary renders the concept and path stages.
func (r *Report) gradientSummary(b *strings.Builder) {
	if c := r.Concept; c != nil {
		fmt.Fprintf(b, "\nconcept neurons (CULNIG, find concept; groups = the continent of each question's subject): scored %d task, %d control and %d exclusion items\n",
			c.TaskItems, c.ControlItems, c.ExcludeItems)
		fmt.Fprintf(b, "  mean P(answer): task %.3f, control %.3f (relation words removed), exclusion %.3f\n", c.MeanProb[0], c.MeanProb[1], c.MeanProb[2])
		fmt.Fprintf(b, "  verification (verify --experiment matrix,enhance --measure answer_prob): %d questions, %d random sets per group with the same count at every layer and tap;\n",
			c.VerifyItems, c.RandomSets)
		fmt.Fprintf(b, "  effect = answer probability change as a ratio of means; a continent's group: on its continent minus the mean on the others; general: on every question\n\n")
		fmt.Fprintf(b, "  %-10s %7s  %-12s %10s %12s %18s %7s %7s  %s\n", "group", "neurons", "", "ΔP(group)", "selectivity", "random", "p", "p boot", "verdict")
		row := func(name, n, what string, v *labels.Verification, helps float64) {
			pb := "-"
			if v.PBootstrap != nil {
				pb = fmt.Sprintf("%.2g", *v.PBootstrap)
			}
			fmt.Fprintf(b, "  %-10s %7s  %-12s %+9.2f%% %+11.2f%% %+9.2f ± %5.2f%% %7.3f %7s  %s\n", name, n, what, 100*helps*v.Target,
				100*v.Effect, 100*v.Random.Mean, 100*v.Random.Std, v.P, pb, v.Verdict)
		}
		for _, g := range c.Groups {
			if g.Suppress == nil || g.Enhance == nil {
				fmt.Fprintf(b, "  %-10s %7d  (no neurons)\n", g.Name, g.Neurons)
				continue
			}
			row(g.Name, fmt.Sprint(g.Neurons), "suppress ×0", g.Suppress, -1)
			row("", "", "enhance ×2", g.Enhance, 1)
		}
		fmt.Fprintf(b, "  (ΔP(group): the answer probability's change on the group's questions, ratio of means; selectivity: that change,\n")
		fmt.Fprintf(b, "   oriented so the claim predicts > 0, minus its mean on the other continents (general: on every question))\n")
		for _, g := range c.Groups {
			if g.PerLayer != "" {
				fmt.Fprintf(b, "  %s: %s\n", g.Name, g.PerLayer)
			}
		}
	}
	if p := r.Paths; p != nil {
		fmt.Fprintf(b, "\nneuron paths (NeuronPath, find path): %d questions (one per relation × language), m = %d, %.3f s per question; mean JAS: path %.4g, activation argmax %.4g (higher on %d);\n",
			p.Prompts, p.Steps, p.SecondsPerPrompt, p.MeanJAS, p.MeanActivation, p.ActivationHigher)
		fmt.Fprintf(b, "  %d of %d chosen neurons had both score factors negative\n", p.BothNegative, p.Chosen)
		fmt.Fprintf(b, "  verification (verify --experiment path):\n")
		for _, line := range strings.Split(strings.TrimRight(p.Effects.Table(), "\n"), "\n") {
			fmt.Fprintf(b, "  %s\n", line)
		}
		for _, k := range attribute.PathKinds {
			if v, ok := p.Verdicts[k]; ok {
				fmt.Fprintf(b, "  %-16s remove: %s, enhance: %s\n", k, v[0], v[1])
			}
		}
	}
}

// siteSet lists the sites of the neurons, in order of appearance.
func siteSet(ns []hooks.ScoredNeuron) []string {
	var out []string
	for _, n := range ns {
		if s := n.Site.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
