package ablate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
)

// Defaults of SelectivityOptions.
const (
	DefaultRandomSets = 5
	DefaultMinDrop    = 0.05
	DefaultMargin     = 2.0
)

// SelectivityOptions configures Selectivity. The zero value of every field but Key and
// Target takes the documented default.
type SelectivityOptions struct {
	Key    string // the label that names groups: "relation", "language", ...
	Target string // the group the neurons are claimed to be specific to
	Mode   Mode
	Value  float32 // Mode Clamp: the value
	// Random is the number of random neuron sets (0: DefaultRandomSets; at least 2). Set i
	// is drawn with seed Seed+i.
	Random int
	Seed   uint64
	// MinDrop is the target-group accuracy drop below which the verdict is "no_effect"
	// (0: DefaultMinDrop).
	MinDrop float64
	// Margin is how many standard deviations of the random sets' selectivity the claimed
	// selectivity must exceed their mean by (0: DefaultMargin).
	Margin    float64
	BatchSize int // prompts per forward pass (0: corpus.DefaultPromptBatch)
}

func (o *SelectivityOptions) defaults() {
	if o.Random == 0 {
		o.Random = DefaultRandomSets
	}
	if o.MinDrop == 0 {
		o.MinDrop = DefaultMinDrop
	}
	if o.Margin == 0 {
		o.Margin = DefaultMargin
	}
}

// Verdicts of a selectivity report.
const (
	Selective    = "selective"     // a meaningful target drop, selectivity above random by the margin
	NotSelective = "not_selective" // a meaningful target drop, but no more selective than random sets
	NoEffect     = "no_effect"     // ablating the set barely changes the target group's accuracy
)

// Report is the result of Selectivity. Accuracies are fractions in [0, 1]; a drop is baseline
// minus ablated accuracy (positive: the ablation hurts).
type Report struct {
	Key    string   `json:"group_key"`
	Target string   `json:"target_group"`
	Groups []string `json:"groups"`
	Items  int      `json:"items"`

	Ablation AblationInfo   `json:"ablation"`
	Neurons  []hooks.Neuron `json:"neurons"`
	PerLayer []LayerCount   `json:"neurons_per_layer"`

	BaselineAccuracy float64     `json:"baseline_accuracy"`
	Claimed          SetEffect   `json:"claimed"`
	Random           RandomStats `json:"random"`

	// Z is (claimed selectivity − random mean) / random std; absent when the std is 0.
	Z           *float64 `json:"selectivity_z,omitempty"`
	Verdict     string   `json:"verdict"`
	VerdictRule string   `json:"verdict_rule"`
}

// AblationInfo records where and how neurons were ablated.
type AblationInfo struct {
	Site   string   `json:"site"`   // e.g. "mlp.hook_post" (sites joined by "+" for a mixed set)
	Points []string `json:"points"` // the hook points edited, blocks.L.<site>
	Mode   string   `json:"mode"`   // zero, mean or clamp
	Value  *float64 `json:"value,omitempty"`
	// Positions says which positions are overwritten.
	Positions string `json:"positions"`
	// MeanOver says what the means of mean ablation average over.
	MeanOver string `json:"mean_over,omitempty"`
}

// LayerCount is how many neurons of a set are in a layer.
type LayerCount struct {
	Layer int `json:"layer"`
	Count int `json:"count"`
}

// GroupEffect is the accuracy of one group before and after an ablation.
type GroupEffect struct {
	Group    string  `json:"group"`
	N        int     `json:"n"`
	Baseline float64 `json:"baseline_accuracy"`
	Ablated  float64 `json:"ablated_accuracy"`
	Drop     float64 `json:"drop"`
}

// SetEffect is the effect of ablating one neuron set.
type SetEffect struct {
	Seed        *uint64        `json:"seed,omitempty"`    // random sets only
	Neurons     []hooks.Neuron `json:"neurons,omitempty"` // random sets only
	Groups      []GroupEffect  `json:"groups"`
	Accuracy    float64        `json:"ablated_accuracy"` // over every item
	TargetDrop  float64        `json:"target_drop"`
	OtherDrop   float64        `json:"mean_other_drop"` // unweighted mean over the other groups
	Selectivity float64        `json:"selectivity"`     // TargetDrop − OtherDrop
}

// Stat is a mean and a sample standard deviation (n−1).
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

// RandomStats summarises the random neuron sets.
type RandomStats struct {
	Rule        string      `json:"rule"`
	Sets        []SetEffect `json:"sets"`
	TargetDrop  Stat        `json:"target_drop"`
	OtherDrop   Stat        `json:"mean_other_drop"`
	Selectivity Stat        `json:"selectivity"`
}

// Selectivity ablates a neuron set claimed to be specific to group opt.Target of label
// opt.Key, and reports every group's accuracy drop, the target drop, the mean drop on the
// other groups and their difference (the selectivity); then the same for opt.Random random
// sets of the same size and per-point counts (RandomSet), and a verdict.
//
// The verdict is NoEffect when the target drop is below MinDrop, Selective when the claimed
// selectivity is positive and exceeds the random sets' mean by more than Margin standard
// deviations, and NotSelective otherwise.
func Selectivity(m *model.Model, set *corpus.PromptSet, neurons []hooks.Neuron, opt SelectivityOptions) (*Report, error) {
	opt.defaults()
	if opt.Random < 2 {
		return nil, fmt.Errorf("selectivity needs at least 2 random sets for a standard deviation, got %d", opt.Random)
	}
	if opt.Key == "" || opt.Target == "" {
		return nil, fmt.Errorf("selectivity needs a group: a label key and a target value")
	}
	groups, err := set.Groups(opt.Key)
	if err != nil {
		return nil, err
	}
	if i := sort.SearchStrings(groups, opt.Target); i == len(groups) || groups[i] != opt.Target {
		return nil, fmt.Errorf("no eval item has %s=%s (the %s groups are %s)", opt.Key, opt.Target, opt.Key, strings.Join(groups, ", "))
	}
	if len(groups) < 2 {
		return nil, fmt.Errorf("%s has only one group (%s): selectivity needs others to compare with", opt.Key, opt.Target)
	}
	if err := m.Catalog().CheckNeurons(neurons); err != nil {
		return nil, err
	}
	var means *Means
	if opt.Mode == Mean {
		points, _ := hooks.ByPoint(neurons)
		if means, err = ComputeMeans(m, set, points, opt.BatchSize); err != nil {
			return nil, err
		}
	}
	e, err := NewEval(m, set, nil, EvalOptions{BatchSize: opt.BatchSize})
	if err != nil {
		return nil, err
	}
	res, err := Matrix(e, []hooks.NeuronGroup{{Name: opt.Target, Neurons: scoredOf(neurons)}}, MatrixOptions{Key: opt.Key,
		Intervene: opt.Mode.intervene(means, opt.Value), Random: opt.Random, Seed: opt.Seed, Resamples: 1})
	if err != nil {
		return nil, err
	}
	return SelectivityOf(set, res.Base, res.Runs[0], opt, means), nil
}

// intervene is the Intervene of an ablation mode, at every position.
func (mode Mode) intervene(means *Means, value float32) Intervene {
	return func(_ string, ns []hooks.Neuron) (Intervention, error) {
		switch mode {
		case Zero:
			return ZeroAt(ns, AllPositions), nil
		case Clamp:
			return ClampAt(ns, value, AllPositions), nil
		case Mean:
			if means == nil {
				return nil, fmt.Errorf("mean ablation needs means (ComputeMeans)")
			}
			return MeanAt(ns, means, AllPositions)
		}
		return nil, fmt.Errorf("unknown ablation mode %v", mode)
	}
}

func scoredOf(ns []hooks.Neuron) []hooks.ScoredNeuron {
	out := make([]hooks.ScoredNeuron, len(ns))
	for i, n := range ns {
		out[i].Neuron = n
	}
	return out
}

// SelectivityOf is the selectivity report of one matrix row: the claimed set's accuracy drop
// per group of opt.Key, its target and mean other drops and their difference, and the same
// for the row's random sets, with the verdict of Selectivity. means is the mean-ablation
// source (nil for other modes). It is how the demo and Selectivity report a row.
func SelectivityOf(set *corpus.PromptSet, base *Scores, run SetRun, opt SelectivityOptions, means *Means) *Report {
	opt.defaults()
	groups, _ := set.Groups(opt.Key)
	points, per := hooks.ByPoint(run.Neurons)
	r := &Report{Key: opt.Key, Target: opt.Target, Groups: groups, Items: len(set.Items),
		Neurons: append([]hooks.Neuron(nil), run.Neurons...), BaselineAccuracy: fraction(base.Correct)}
	r.Ablation = AblationInfo{Site: sitesOf(points), Mode: opt.Mode.String(),
		Positions: "every real position of every prompt"}
	for _, p := range points {
		r.Ablation.Points = append(r.Ablation.Points, p.String())
		r.PerLayer = append(r.PerLayer, LayerCount{p.Layer, len(per[p])})
	}
	switch opt.Mode {
	case Clamp:
		v := float64(opt.Value)
		r.Ablation.Value = &v
	case Mean:
		r.Ablation.MeanOver = fmt.Sprintf("every real (non-pad) position of the %d eval prompts (%d positions), unablated model",
			means.Prompts, means.Positions)
	}
	r.Claimed = effectOf(set, opt.Key, opt.Target, groups, base.Correct, run.Claimed.Correct)
	r.Random.Rule = "same per-layer counts as the claimed set, indices uniform without replacement among the layer's " +
		"neurons not in the claimed set (all neurons if too few remain); set i drawn with seed seed+i"
	var td, od, sel []float64
	for i, s := range run.Random {
		e := effectOf(set, opt.Key, opt.Target, groups, base.Correct, s.Correct)
		seed := run.Seeds[i]
		e.Seed, e.Neurons = &seed, run.RandomNeurons[i]
		r.Random.Sets = append(r.Random.Sets, e)
		td, od, sel = append(td, e.TargetDrop), append(od, e.OtherDrop), append(sel, e.Selectivity)
	}
	r.Random.TargetDrop, r.Random.OtherDrop, r.Random.Selectivity = stat(td), stat(od), stat(sel)

	rs := r.Random.Selectivity
	if rs.Std > 0 {
		z := (r.Claimed.Selectivity - rs.Mean) / rs.Std
		r.Z = &z
	}
	threshold := rs.Mean + opt.Margin*rs.Std
	switch {
	case r.Claimed.TargetDrop < opt.MinDrop:
		r.Verdict = NoEffect
	case r.Claimed.Selectivity > 0 && r.Claimed.Selectivity > threshold:
		r.Verdict = Selective
	default:
		r.Verdict = NotSelective
	}
	r.VerdictRule = fmt.Sprintf("no_effect if target drop < %g; selective if selectivity > 0 and > random mean + %g·std = %.4f; else not_selective",
		opt.MinDrop, opt.Margin, threshold)
	return r
}

// effectOf compares per-item correctness before and after an ablation, by group.
func effectOf(set *corpus.PromptSet, key, target string, groups []string, base, abl []bool) SetEffect {
	type count struct{ n, b, a int }
	cs := map[string]*count{}
	for _, g := range groups {
		cs[g] = &count{}
	}
	for i, it := range set.Items {
		c := cs[it.Labels[key]]
		c.n++
		if base[i] {
			c.b++
		}
		if abl[i] {
			c.a++
		}
	}
	e := SetEffect{Accuracy: fraction(abl)}
	var other float64
	for _, g := range groups {
		c := cs[g]
		ge := GroupEffect{Group: g, N: c.n, Baseline: float64(c.b) / float64(c.n), Ablated: float64(c.a) / float64(c.n)}
		ge.Drop = ge.Baseline - ge.Ablated
		e.Groups = append(e.Groups, ge)
		if g == target {
			e.TargetDrop = ge.Drop
		} else {
			other += ge.Drop
		}
	}
	e.OtherDrop = snap(other / float64(len(groups)-1))
	e.Selectivity = snap(e.TargetDrop - e.OtherDrop)
	return e
}

// snap removes float rounding residue (±1e-17 where drops cancel), so reports print 0.
func snap(x float64) float64 {
	if math.Abs(x) < 1e-12 {
		return 0
	}
	return x
}

func fraction(ok []bool) float64 {
	n := 0
	for _, b := range ok {
		if b {
			n++
		}
	}
	return float64(n) / float64(len(ok))
}

func stat(xs []float64) Stat {
	var s Stat
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean = snap(s.Mean / float64(len(xs)))
	if len(xs) > 1 {
		var v float64
		for _, x := range xs {
			v += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(v / float64(len(xs)-1))
	}
	return s
}

// RandomSet draws a control set for claimed: at every hook point, as many neurons as claimed
// has there, uniformly without replacement among that point's units that are not in claimed
// (among all of them when too few remain). The result, sorted by point then index, depends
// only on the model's shape, claimed and seed.
func RandomSet(cat hooks.Catalog, claimed []hooks.Neuron, seed uint64) []hooks.Neuron {
	return randomSet(cat, claimed, rand.New(rand.NewPCG(seed, randomStream))) // "ablate"
}

// randomStream is RandomSet's PCG stream ("ablate").
const randomStream = 0x61626c617465

// randomSet is RandomSet drawing from rng.
func randomSet(cat hooks.Catalog, claimed []hooks.Neuron, rng *rand.Rand) []hooks.Neuron {
	points, per := hooks.ByPoint(claimed)
	var out []hooks.Neuron
	for _, p := range points {
		W := cat.Width(p)
		taken := map[int]bool{}
		for _, i := range per[p] {
			taken[i] = true
		}
		var pool []int
		for i := 0; i < W; i++ {
			if !taken[i] {
				pool = append(pool, i)
			}
		}
		k := len(per[p])
		if len(pool) < k {
			pool = pool[:0]
			for i := 0; i < W; i++ {
				pool = append(pool, i)
			}
		}
		for j := 0; j < k; j++ { // partial Fisher–Yates
			x := j + rng.IntN(len(pool)-j)
			pool[j], pool[x] = pool[x], pool[j]
		}
		picked := append([]int(nil), pool[:k]...)
		sort.Ints(picked)
		for _, i := range picked {
			out = append(out, hooks.Neuron{Point: p, Index: i})
		}
	}
	return out
}

// sitesOf names the sites of points: one site, or several joined by "+".
func sitesOf(points []hooks.Point) string {
	var names []string
	seen := map[hooks.Site]bool{}
	for _, p := range points {
		if !seen[p.Site] {
			seen[p.Site] = true
			names = append(names, p.Site.String())
		}
	}
	return strings.Join(names, "+")
}

// Table renders the report for a terminal: the per-group accuracies and drops of the claimed
// set, the random sets' summary and the verdict.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ablate %d neurons (%s) at %s, %s ablation; group %s=%s; %d questions\n",
		len(r.Neurons), perLayerString(r.PerLayer), r.Ablation.Site, r.Ablation.Mode, r.Key, r.Target, r.Items)
	if r.Ablation.MeanOver != "" {
		fmt.Fprintf(&b, "means over %s\n", r.Ablation.MeanOver)
	}
	fmt.Fprintf(&b, "\n%-24s %5s %9s %9s %8s %12s\n", r.Key, "n", "baseline", "ablated", "drop", "random drop")
	for gi, g := range r.Claimed.Groups {
		var rd []float64
		for _, s := range r.Random.Sets {
			rd = append(rd, s.Groups[gi].Drop)
		}
		mark := ""
		if g.Group == r.Target {
			mark = " *"
		}
		st := stat(rd)
		fmt.Fprintf(&b, "%-24s %5d %8.1f%% %8.1f%% %+7.1f%% %+6.1f±%4.1f%%%s\n", g.Group, g.N, 100*g.Baseline, 100*g.Ablated,
			100*g.Drop, 100*st.Mean, 100*st.Std, mark)
	}
	fmt.Fprintf(&b, "%-24s %5d %8.1f%% %8.1f%%\n", "all", r.Items, 100*r.BaselineAccuracy, 100*r.Claimed.Accuracy)
	rs := r.Random
	fmt.Fprintf(&b, "\n%-24s %10s %22s\n", "", "claimed", fmt.Sprintf("random (%d sets)", len(rs.Sets)))
	fmt.Fprintf(&b, "%-24s %+9.1f%% %+14.1f ± %4.1f%%\n", "target drop", 100*r.Claimed.TargetDrop, 100*rs.TargetDrop.Mean, 100*rs.TargetDrop.Std)
	fmt.Fprintf(&b, "%-24s %+9.1f%% %+14.1f ± %4.1f%%\n", "mean other drop", 100*r.Claimed.OtherDrop, 100*rs.OtherDrop.Mean, 100*rs.OtherDrop.Std)
	fmt.Fprintf(&b, "%-24s %+9.1f%% %+14.1f ± %4.1f%%\n", "selectivity", 100*r.Claimed.Selectivity, 100*rs.Selectivity.Mean, 100*rs.Selectivity.Std)
	z := "n/a (random std 0)"
	if r.Z != nil {
		z = fmt.Sprintf("%.2f", *r.Z)
	}
	fmt.Fprintf(&b, "\nverdict: %s (z = %s)\n", r.Verdict, z)
	return b.String()
}

func perLayerString(pl []LayerCount) string {
	var parts []string
	for _, c := range pl {
		parts = append(parts, fmt.Sprintf("L%d:%d", c.Layer, c.Count))
	}
	return strings.Join(parts, " ")
}

// SelectivitySchema is the schema_version of selectivity report files.
const SelectivitySchema = "neuronscope.ablate.selectivity/v1"

// SelectivityFile is the JSON report `neuronscope ablate selectivity` writes: the schema, the
// provenance, the inputs, and the Report's fields.
type SelectivityFile struct {
	SchemaVersion string            `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	EvalFile      string            `json:"eval_file"`
	NeuronsFile   string            `json:"neurons_file"`
	// SkippedItems counts the eval lines left out because their answer is not in the model's
	// vocabulary (only under --skip-unknown-answers; otherwise such a line is an error), and
	// Skipped lists them: the accuracies are over the remaining items.
	SkippedItems int                    `json:"skipped_items"`
	Skipped      []corpus.SkippedPrompt `json:"skipped,omitempty"`
	*Report
}

// ReadSelectivityFile reads a selectivity report back. The neurons' tap is restored from
// the report's ablation site (a mixed set reads back at its first site).
func ReadSelectivityFile(path string) (*SelectivityFile, error) {
	var f SelectivityFile
	if err := report.ReadJSONFile(path, &f); err != nil {
		return nil, err
	}
	if f.SchemaVersion != SelectivitySchema || f.Report == nil {
		return nil, fmt.Errorf("%s: not a selectivity report (schema_version %q, want %q)", path, f.SchemaVersion, SelectivitySchema)
	}
	site, err := hooks.ParseSite(strings.Split(f.Ablation.Site, "+")[0])
	if err != nil {
		return nil, fmt.Errorf("%s: ablation site: %v", path, err)
	}
	fix := func(ns []hooks.Neuron) {
		for i := range ns {
			ns[i].Site = site
		}
	}
	fix(f.Neurons)
	for i := range f.Random.Sets {
		fix(f.Random.Sets[i].Neurons)
	}
	return &f, nil
}
