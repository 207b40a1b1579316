package relation

import (
	"fmt"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/probes/expertise"
)

// Options configure Find. Zero fields take the published values in brackets.
type Options struct {
	// Key is the label naming the relations ["relation"]; SubjectKey the label naming each
	// item's subject, for the held-out split ["subject"].
	Key, SubjectKey string
	// Taps are the per-layer tap points whose units are candidates [mlp.hook_pre,
	// mlp.hook_pre_linear (gated MLPs), hook_mlp_out: the outputs of gate_proj, up_proj and
	// down_proj].
	Taps []hooks.Site
	// Top is the number of neurons kept per relation [3000, capped at the number of units].
	Top int
	// BothEnds keeps the Top/2 highest and Top/2 lowest AP (Kojima et al.'s variant).
	BothEnds bool
	// Negatives is the ratio of negative to positive examples [4].
	Negatives int
	// Heldout is the number of each relation's items held out for evaluation, with no subject
	// shared with the detection items [50]; a negative value holds out none.
	Heldout int
	// Tokens is the number of greedily generated tokens an answer is checked on [2].
	Tokens int
	// Seed seeds the held-out split and the negative sampling.
	Seed uint64
	// BatchSize is the number of prompts per forward pass [corpus.DefaultPromptBatch].
	BatchSize int
	// Progress, if set, is told each stage.
	Progress func(stage string)
}

func (o *Options) defaults(m *model.Model) {
	if o.Key == "" {
		o.Key = "relation"
	}
	if o.SubjectKey == "" {
		o.SubjectKey = "subject"
	}
	if len(o.Taps) == 0 {
		o.Taps = DefaultTaps(m)
	}
	if o.Negatives == 0 {
		o.Negatives = 4
	}
	if o.Heldout == 0 {
		o.Heldout = 50
	}
	if o.Tokens == 0 {
		o.Tokens = 2
	}
}

// DefaultTaps are the FFN "neurons" of the relation paper: every output unit of gate_proj
// (mlp.hook_pre), up_proj (mlp.hook_pre_linear, gated MLPs only) and down_proj (hook_mlp_out).
func DefaultTaps(m *model.Model) []hooks.Site {
	taps := []hooks.Site{hooks.MLPPre}
	if m.Config.Gated {
		taps = append(taps, hooks.MLPPreLinear)
	}
	return append(taps, hooks.MLPOut)
}

// Stats describe one relation's data.
type Stats struct {
	Relation string `json:"relation"`
	Items    int    `json:"items"`
	// Heldout are the evaluation items (no subject shared with detection), by ID.
	Heldout []string `json:"heldout_ids"`
	// Detection counts the detection items; Correct those the model answers correctly (the
	// positives); Negatives the sampled examples of other relations.
	Detection int `json:"detection_items"`
	Correct   int `json:"correct"`
	Negatives int `json:"negatives"`
	// BestAP and KeptAP are the highest AP and the lowest AP kept.
	BestAP float64 `json:"best_ap"`
	KeptAP float64 `json:"kept_ap"`
}

// Result is Find's output: one neuron group per relation (best first, score = AP) and the
// statistics of each.
type Result struct {
	Set       *hooks.NeuronSet
	Relations []Stats
	// Heldout is the evaluation part of the prompt set (every relation's held-out items).
	Heldout *corpus.PromptSet
	Layout  expertise.Layout
}

// Find finds relation-specific neurons (Liu et al., EMNLP 2025) in a labelled prompt set:
// per relation, Heldout items (no subject overlap) are set aside for evaluation; of the rest,
// the prompts the model answers correctly (the first Tokens greedy tokens match the answer's,
// corpus.PromptSet.Correct) are the positives; Negatives × as many correctly answered
// prompts of other relations are sampled as negatives; every candidate unit's response to an
// example is its activation averaged over the prompt's real tokens (MeanResponses); each
// unit's score is the average precision of its responses for positives against negatives
// (expertise.AveragePrecisions, sklearn's definition); the Top units by AP are kept.
func Find(m *model.Model, set *corpus.PromptSet, opt Options) (*Result, error) {
	opt.defaults(m)
	say := func(s string) {
		if opt.Progress != nil {
			opt.Progress(s)
		}
	}
	relations, err := set.Groups(opt.Key)
	if err != nil {
		return nil, err
	}
	if len(relations) < 2 {
		return nil, fmt.Errorf("%s: only one %s (%v); relation neurons need others as negatives", set.Source, opt.Key, relations)
	}
	cat := m.Catalog()
	layout := expertise.Layout{}
	var points []hooks.Point
	for _, s := range opt.Taps {
		p := hooks.At(0, s)
		if !cat.Has(p) || len(cat.Shape(p)) != 1 {
			return nil, fmt.Errorf("tap %s: this model has no such per-layer point of [batch, pos, width]", s)
		}
		layout = append(layout, expertise.Block{Tap: s.String(), Layers: m.Config.NLayers, Width: cat.Width(p)})
		for l := 0; l < m.Config.NLayers; l++ {
			points = append(points, hooks.At(l, s))
		}
	}
	if opt.Top <= 0 {
		opt.Top = min(3000, layout.Neurons())
	}
	if opt.Top > layout.Neurons() {
		return nil, fmt.Errorf("top %d: the taps have only %d units", opt.Top, layout.Neurons())
	}

	// Split every relation into held-out and detection items.
	say("split")
	byRel := map[string][]int{}
	for i, it := range set.Items {
		byRel[it.Labels[opt.Key]] = append(byRel[it.Labels[opt.Key]], i)
	}
	heldout := map[int]bool{}
	stats := make([]Stats, len(relations))
	detection := map[string][]int{}
	for ri, r := range relations {
		items := byRel[r]
		stats[ri] = Stats{Relation: r, Items: len(items)}
		det := items
		if opt.Heldout > 0 {
			subjects := make([]string, len(items))
			for k, i := range items {
				s, ok := set.Items[i].Labels[opt.SubjectKey]
				if !ok {
					return nil, fmt.Errorf("%s: item %s has no %q label for the held-out split (or hold out none)", set.Source, set.Items[i].ID, opt.SubjectKey)
				}
				subjects[k] = s
			}
			d, e, err := expertise.SplitBySubject(subjects, opt.Heldout, opt.Seed+uint64(ri))
			if err != nil {
				return nil, fmt.Errorf("relation %s: %v", r, err)
			}
			det = det[:0:0]
			for _, k := range d {
				det = append(det, items[k])
			}
			for _, k := range e {
				heldout[items[k]] = true
				stats[ri].Heldout = append(stats[ri].Heldout, set.Items[items[k]].ID)
			}
		}
		detection[r] = det
		stats[ri].Detection = len(det)
	}

	// Keep the detection prompts the model answers correctly.
	say("greedy check")
	var detAll []int
	for _, r := range relations {
		detAll = append(detAll, detection[r]...)
	}
	slices.Sort(detAll)
	prompts := make([][]int, len(detAll))
	for k, i := range detAll {
		prompts[k] = set.Items[i].IDs
	}
	gen, err := corpus.Generate(m, prompts, corpus.GenerateOptions{MaxNew: opt.Tokens, BatchSize: opt.BatchSize})
	if err != nil {
		return nil, err
	}
	detSet := &corpus.PromptSet{Source: set.Source}
	for _, i := range detAll {
		detSet.Items = append(detSet.Items, set.Items[i])
	}
	ok := detSet.Correct(gen)
	var rows []int // items of the response matrix: the correct detection prompts
	row := map[int]int{}
	for k, i := range detAll {
		if ok[k] {
			row[i] = len(rows)
			rows = append(rows, i)
		}
	}
	correctOf := map[string][]int{} // relation → response-matrix rows
	for _, i := range rows {
		correctOf[set.Items[i].Labels[opt.Key]] = append(correctOf[set.Items[i].Labels[opt.Key]], row[i])
	}

	say("responses")
	respPrompts := make([][]int, len(rows))
	for k, i := range rows {
		respPrompts[k] = set.Items[i].IDs
	}
	resp, err := MeanResponses(m, respPrompts, points, opt.BatchSize)
	if err != nil {
		return nil, err
	}

	res := &Result{Layout: layout, Heldout: set.Filter(func(p corpus.Prompt) bool { return false })}
	res.Set = &hooks.NeuronSet{Method: "relation-specific neurons (Liu et al. 2025): average precision of mean-pooled responses, correctly answered detection prompts vs sampled other relations",
		Tap: opt.Taps[0], Settings: settings{Key: opt.Key, Taps: siteNames(opt.Taps), Top: opt.Top, BothEnds: opt.BothEnds,
			Negatives: opt.Negatives, Heldout: opt.Heldout, Tokens: opt.Tokens, Seed: opt.Seed, Pooling: "mean over the prompt's real tokens (BOS included when the tokenizer adds one)"}}
	aps := make([]float64, layout.Neurons())
	for ri, r := range relations {
		say("average precision " + r)
		pos := correctOf[r]
		stats[ri].Correct = len(pos)
		if len(pos) == 0 {
			return nil, fmt.Errorf("relation %s: the model answers none of its %d detection prompts correctly", r, len(detection[r]))
		}
		var pool []int
		for _, o := range relations {
			if o != r {
				pool = append(pool, correctOf[o]...)
			}
		}
		slices.Sort(pool)
		// A relation with more positives than the others have examples (unbalanced data) gets
		// every other example: the ratio actually used is in the statistics.
		want := min(opt.Negatives*len(pos), len(pool))
		if want == 0 {
			return nil, fmt.Errorf("relation %s: no other relation has a correctly answered prompt to serve as a negative", r)
		}
		neg, err := expertise.Sample(pool, want, opt.Seed+1000+uint64(ri))
		if err != nil {
			return nil, fmt.Errorf("relation %s: %v", r, err)
		}
		stats[ri].Negatives = len(neg)
		exRows := append(append([]int(nil), pos...), neg...)
		positive := make([]bool, len(exRows))
		for k := range pos {
			positive[k] = true
		}
		if err := expertise.AveragePrecisions(aps, resp, exRows, positive, expertise.Options{}); err != nil {
			return nil, fmt.Errorf("relation %s: %v", r, err)
		}
		ranked, err := expertise.Rank(aps, opt.Top, expertise.RankOptions{BothEnds: opt.BothEnds})
		if err != nil {
			return nil, err
		}
		group := make([]hooks.ScoredNeuron, len(ranked))
		for k, rk := range ranked {
			u := layout.Unit(rk.Neuron)
			site, _ := hooks.ParseSite(u.Tap)
			group[k] = hooks.ScoredNeuron{Neuron: hooks.NeuronAt(u.Layer, site, u.Index), Score: rk.AP}
		}
		res.Set.Add(r, group...)
		stats[ri].BestAP, stats[ri].KeptAP = ranked[0].AP, ranked[len(ranked)-1].AP
	}
	for i, it := range set.Items {
		if heldout[i] {
			res.Heldout.Items = append(res.Heldout.Items, it)
		}
	}
	res.Relations = stats
	return res, nil
}

type settings struct {
	Key       string   `json:"group_key"`
	Taps      []string `json:"taps"`
	Top       int      `json:"top"`
	BothEnds  bool     `json:"both_ends"`
	Negatives int      `json:"negatives_ratio"`
	Heldout   int      `json:"heldout_per_relation"`
	Tokens    int      `json:"greedy_tokens"`
	Seed      uint64   `json:"seed"`
	Pooling   string   `json:"pooling"`
}

func siteNames(ss []hooks.Site) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.String()
	}
	return out
}

// MeanResponses runs the prompts and returns every unit's activation at the points averaged
// over each prompt's real tokens: a [prompts, units] matrix whose columns are the points' units
// in order (point by point, index by index). Prompts run in left-padded batches of batchSize
// (corpus.ForEachPromptBatch); pads are never averaged.
func MeanResponses(m *model.Model, prompts [][]int, points []hooks.Point, batchSize int) (*expertise.Dense, error) {
	cat := m.Catalog()
	offset := make([]int, len(points))
	width := 0
	for i, p := range points {
		offset[i] = width
		width += cat.Width(p)
	}
	out := &expertise.Dense{Examples: len(prompts), Neurons: width, Data: make([]float32, len(prompts)*width)}
	if limit := int64(1) << 34; int64(len(out.Data))*4 > limit {
		return nil, fmt.Errorf("a response matrix of %d prompts × %d units needs %d GiB: fewer prompts or taps", len(prompts), width, int64(len(out.Data))*4>>30)
	}
	sums := make([]float64, width)
	hooksFor := func(cur []int, b model.Batch) []hooks.Option {
		opts := make([]hooks.Option, len(points))
		for pi, p := range points {
			off, w := offset[pi], cat.Width(p)
			opts[pi] = hooks.ObservePoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
				for k, i := range cur {
					s := sums[:w]
					clear(s)
					n := 0
					for pos := 0; pos < b.Len; pos++ {
						r := k*b.Len + pos
						if !b.Mask[r] {
							continue
						}
						n++
						for j, v := range a.Data[r*w : (r+1)*w] {
							s[j] += float64(v)
						}
					}
					dst := out.Data[i*width+off : i*width+off+w]
					for j := range dst {
						dst[j] = float32(s[j] / float64(n))
					}
				}
				return nil
			})
		}
		return opts
	}
	err := corpus.ForEachPromptBatch(m, prompts, batchSize, 0, hooksFor, func([]int, model.Batch, *model.Result) error { return nil })
	return out, err
}
