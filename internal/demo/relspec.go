package demo

import (
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/relation"
)

// Sizes of the relation-specific stage: RelationHeldout questions per relation are held out
// (4 subjects × 4 languages, no subject shared with the detection questions; the paper holds
// out 50 of > 300 facts), and the RelationTop units of highest average precision are kept per
// relation (4.3% of the Llama's 4,608 gate, up and down units; the paper's 3,000 are 0.36% of
// Llama-2-7B's 835,584).
const (
	RelationHeldout = 16
	RelationTop     = 200
)

// RelationFiller is the number of each language's held-out filler sentences whose perplexity
// the stage measures before and after (the first ones of eval_fluency.jsonl): the filler's
// perplexity is most of the matrix's time, as it reads every position's logits.
const RelationFiller = 20

// FirstTexts returns the first n texts of each value of label key, in ts's order (n ≤ 0: ts;
// Truncated is not carried over).
func FirstTexts(ts *ablate.TextSet, key string, n int) *ablate.TextSet {
	if n <= 0 {
		return ts
	}
	out := &ablate.TextSet{Source: ts.Source}
	seen := map[string]int{}
	for _, t := range ts.Items {
		if g := t.Labels[key]; seen[g] < n {
			seen[g]++
			out.Items = append(out.Items, t)
		}
	}
	return out
}

// RelationSweepKs is the stage's cumulativity grid: the paper's grid (ablate.DefaultKs) up to
// RelationTop without its first point, k = 10, which keeps the stage's time modest (the sweep
// is most of it: 10 relations × len(Ks) × (1 + random sets) passes over the held-out
// questions).
var RelationSweepKs = []int{50, 200}

// RelationSpecificStage is the relation-specific-neuron stage (Liu et al. 2025; relation.Find,
// `neuronscope find relation`): the correctly answered detection questions of each relation
// against 4× as many of the others, every gate, up and down unit's mean response over the
// prompt scored by average precision, the top units kept; then verified through ablate.Verify
// (`neuronscope verify --experiment matrix,sweep --eval heldout.jsonl --text
// eval_fluency.jsonl`): each relation's units zeroed at every position, the relative accuracy
// drop on every relation's held-out questions and the perplexity of every language's
// relation-free filler (its first RelationFiller sentences), the cumulativity sweep over the
// top k (RelationSweepKs), all against random sets with the same per-layer, per-tap counts.
type RelationSpecificStage struct {
	Heldout    int              `json:"heldout_per_relation"`
	Top        int              `json:"top"`
	Units      int              `json:"candidate_units"`
	Taps       []string         `json:"taps"`
	Relations  []relation.Stats `json:"relations"`
	EvalItems  int              `json:"heldout_questions"`
	Texts      int              `json:"filler_texts"`
	RandomSets int              `json:"random_sets"`
	// Accuracy is the relation × relation matrix of relative accuracy drops, Perplexity the
	// relation × language matrix of filler perplexity ratios.
	Accuracy   *labels.Matrix `json:"accuracy_matrix"`
	Perplexity *labels.Matrix `json:"perplexity_matrix"`
	Sweeps     []labels.Sweep `json:"sweeps"`
	// Verdicts are each relation's matrix and sweep verifications.
	Verdicts []RelationVerdict `json:"verdicts"`
	Seconds  float64           `json:"seconds"`
}

// RelationVerdict is one relation's verifications.
type RelationVerdict struct {
	Relation string               `json:"relation"`
	Matrix   *labels.Verification `json:"matrix"`
	Sweep    *labels.Verification `json:"sweep,omitempty"`
}

// relationSpecificStage finds and verifies the relation-specific neurons.
func (r *Report) relationSpecificStage(in Inputs, opt Options, say func(string, ...any)) error {
	t0 := time.Now()
	m := in.Model
	say("relation-specific neurons: average precision of mean-pooled gate, up and down units, %d questions held out per relation, top %d", RelationHeldout, RelationTop)
	res, err := relation.Find(m, in.Questions, relation.Options{Heldout: RelationHeldout, Top: RelationTop})
	if err != nil {
		return err
	}
	st := &RelationSpecificStage{Heldout: RelationHeldout, Top: RelationTop, Units: res.Layout.Neurons(), Relations: res.Relations,
		EvalItems: len(res.Heldout.Items), RandomSets: opt.RandomSets}
	filler := FirstTexts(in.Language.Fluency, "language", RelationFiller)
	st.Texts = len(filler.Items)
	for _, b := range res.Layout {
		st.Taps = append(st.Taps, b.Tap)
	}
	res.Set.Settings = map[string]any{"relations": res.Relations, "heldout": RelationHeldout, "top": RelationTop}
	say("relation-specific verification: zero each relation's %d units on %d held-out questions and %d filler sentences, then the top k, against %d random sets each",
		RelationTop, len(res.Heldout.Items), st.Texts, opt.RandomSets)
	vo := ablate.VerifyOptions{Key: "relation", TextKey: "language", Random: opt.RandomSets, Seed: 1, Source: "neuronscope demo"}
	e, err := ablate.NewEval(m, res.Heldout, filler, ablate.EvalOptions{BatchSize: verifyBatch, Workers: opt.Workers, Progress: opt.EvalProgress})
	if err != nil {
		return err
	}
	mres, err := ablate.Verify(e, res.Set, vo)
	if err != nil {
		return err
	}
	// The sweep reads only the questions: an Eval without the texts halves its passes.
	eq, err := ablate.NewEval(m, res.Heldout, nil, ablate.EvalOptions{BatchSize: verifyBatch, Workers: opt.Workers, Progress: opt.EvalProgress})
	if err != nil {
		return err
	}
	vo.Experiment, vo.Ks = ablate.ExpSweep, RelationSweepKs
	sres, err := ablate.Verify(eq, res.Set, vo)
	if err != nil {
		return err
	}
	lf := mres.File
	lf.Merge(sres.File)
	st.Accuracy, st.Perplexity, st.Sweeps = mres.Matrix.Questions, mres.Matrix.Texts, lf.Sweeps
	for _, l := range lf.Labels {
		v := RelationVerdict{Relation: l.Set}
		for k := range l.Verifications {
			switch l.Verifications[k].Experiment {
			case ablate.ExpMatrix:
				v.Matrix = &l.Verifications[k]
			case ablate.ExpSweep:
				v.Sweep = &l.Verifications[k]
			}
		}
		st.Verdicts = append(st.Verdicts, v)
	}
	st.Seconds = time.Since(t0).Seconds()
	r.RelationSpecific, r.RelationSpecificSet, r.RelationSpecificLabels = st, res.Set, lf
	return nil
}
