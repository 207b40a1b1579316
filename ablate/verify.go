package ablate

import (
	"fmt"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// The experiments Verify runs.
const (
	ExpMatrix  = "matrix"  // group × group matrix of an ablation-type intervention
	ExpSweep   = "sweep"   // cumulativity: the top k of each set, k over a grid
	ExpEnhance = "enhance" // the matrix of scaling each set ×Factor, on the answer probability
	ExpSteer   = "steer"   // steering along each set, α calibrated to KL targets
)

// The interventions Verify builds for each neuron list.
const (
	IvZero     = "zero"
	IvMean     = "mean"
	IvResample = "resample"
	IvClamp    = "clamp"
	IvScale    = "scale"
	IvForce    = "force"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Experiment is ExpMatrix (default), ExpSweep, ExpEnhance or ExpSteer.
	Experiment string
	// Key groups the questions, TextKey the texts (default Key).
	Key, TextKey string
	// Intervention is IvZero (default; IvScale for enhance), IvMean (each neuron's mean over
	// every real position of the evaluated items), IvResample (the value from a random item of
	// another group at the same position), IvClamp (to Value), IvScale (×Factor, default 2)
	// or IvForce (to Statistic, "median" or "mean", of each item's mean activation over the
	// items of ForceGroup, default each set's own group).
	Intervention string
	Value        float32
	Factor       float32
	Statistic    string
	ForceGroup   string
	At           Positions
	// Measure is what the matrix, sweep or enhance experiment reads on the questions:
	// "accuracy" (default; "answer_prob" for enhance), "answer_prob" or "answer_logprob" (the
	// probability measures need an Eval with LogProb). Texts are always read as perplexity.
	Measure string
	// Random, Seed, Resamples and Verdict are as in MatrixOptions.
	Random    int
	Seed      uint64
	Resamples int
	Verdict   VerdictOptions
	// Ks is the sweep's grid (nil: DefaultKs).
	Ks []int
	// Steer configures ExpSteer.
	Steer SteerOptions
	// Finder and Source describe where the set came from (default: the set's method).
	Finder, Source string
	// General names a set claimed for every group (MatrixOptions.General; CULNIG's
	// "general"): the matrix and enhance experiments verify it on all items pooled.
	General string
	// RandomPool draws random sets as CULNIG's code does (MatrixOptions.RandomPool).
	RandomPool []hooks.Site
	// Units resolves a set whose units are SNMF features or SAE latents (e.g. a set with tap
	// mlp.hook_post.snmf): the matrix, sweep and enhance experiments then ablate (project out),
	// clamp or scale them (see Decompositions), against random units of the same decomposition.
	Units Units
}

// SteerOptions configure the steering experiment.
type SteerOptions struct {
	// Prompt is the base prompt the KL is measured at, PromptText how it reads.
	Prompt     []int
	PromptText string
	Calibrate  CalibrateOptions
	// Generate, when MaxNew > 0, continues each of Prompts at every reached strength;
	// Decode renders the tokens.
	Generate SampleOptions
	Prompts  [][]int
	Texts    []string
	Decode   func([]int) string
}

// VerifyResult is what Verify found: the label file's content (the caller adds provenance
// and inputs) and, for the matrix experiments, the runs behind it.
type VerifyResult struct {
	File   *labels.File
	Matrix *MatrixResult
}

// Verify checks every group of a neuron set with one experiment and returns a label per group
// (claim, evidence, verification) with the experiment's full results. It is the library side
// of `neuronscope verify`.
func Verify(e *Eval, set *hooks.NeuronSet, opt VerifyOptions) (*VerifyResult, error) {
	if opt.Experiment == "" {
		opt.Experiment = ExpMatrix
	}
	if opt.Intervention == "" {
		opt.Intervention = IvZero
		if opt.Experiment == ExpEnhance {
			opt.Intervention = IvScale
		}
	}
	if opt.Factor == 0 {
		opt.Factor = 2
	}
	if opt.Random == 0 {
		opt.Random = DefaultRandom
	}
	if opt.Finder == "" {
		opt.Finder = set.Method
	}
	if opt.Finder == "" {
		opt.Finder = "unnamed finder"
	}
	cat := WithUnits(e.Model.Catalog(), opt.Units, set.All())
	units := hasUnits(set.All())
	if units {
		switch {
		case opt.Units == nil:
			return nil, fmt.Errorf("the set's units are SNMF features or SAE latents: give their decomposition (Units; --features or --sae)")
		case opt.Experiment == ExpSteer:
			return nil, fmt.Errorf("steering along features or latents: use Calibrate with their direction (neuronscope steer --features/--sae)")
		case opt.Intervention != IvZero && opt.Intervention != IvClamp && opt.Intervention != IvScale:
			return nil, fmt.Errorf("intervention %q on features or latents: want zero, clamp or scale", opt.Intervention)
		}
	}
	// Empty groups (a finder may select no unit for a group) are labelled, not verified.
	var empty []string
	if slices.ContainsFunc(set.Groups, func(g hooks.NeuronGroup) bool { return len(g.Neurons) == 0 }) {
		kept := *set
		kept.Groups = nil
		for _, g := range set.Groups {
			if len(g.Neurons) == 0 {
				empty = append(empty, g.Name)
			} else {
				kept.Groups = append(kept.Groups, g)
			}
		}
		if len(kept.Groups) == 0 {
			return nil, fmt.Errorf("group %q is empty, and so is every other group of the neuron set: nothing to verify", empty[0])
		}
		set = &kept
	}
	if err := set.Check(cat); err != nil {
		return nil, err
	}
	helps := opt.Experiment == ExpEnhance && opt.Factor > 1
	measure := Accuracy
	if opt.Experiment == ExpEnhance {
		measure = AnswerProb
	}
	if opt.Measure != "" {
		m, err := ParseMeasure(opt.Measure)
		if err != nil || m == Perplexity {
			return nil, fmt.Errorf("measure %q: want accuracy, answer_prob or answer_logprob (texts are read as perplexity)", opt.Measure)
		}
		measure = m
	}
	if (measure == AnswerProb || measure == AnswerLogProb) && !e.opt.LogProb && e.Questions != nil {
		return nil, fmt.Errorf("the %s measure needs an Eval with LogProb", measure)
	}
	if e.Questions == nil && e.Texts != nil {
		measure = Perplexity
	}
	mo := MatrixOptions{Key: opt.Key, TextKey: opt.TextKey, Measure: measure, Helps: helps, Random: opt.Random,
		Seed: opt.Seed, Resamples: opt.Resamples, Verdict: opt.Verdict, General: opt.General, RandomPool: opt.RandomPool, Units: opt.Units}
	mo.defaults()
	res := &VerifyResult{File: &labels.File{SchemaVersion: labels.Schema, Inputs: []labels.Input{}}}
	f := res.File
	qg, tg, err := e.groups(mo.Key, mo.TextKey)
	if err != nil {
		return nil, err
	}
	for _, g := range set.Groups {
		key := ""
		switch {
		case qg.has(g.Name):
			key = qg.key
		case tg.has(g.Name):
			key = tg.key
		case g.Name == opt.General && qg != nil:
			key = qg.key
		case g.Name == opt.General && tg != nil:
			key = tg.key
		}
		f.Labels = append(f.Labels, newLabel(g, key, opt.Finder, opt.Source, cat))
	}
	defer func() {
		for _, name := range empty {
			f.Labels = append(f.Labels, labels.Label{Set: name, Claim: labels.Claim{Kind: labels.KindConcept, Value: name,
				Description: fmt.Sprintf("%s: no neurons (the finder selected none); nothing to verify", name)},
				Units: []labels.Unit{}, Evidence: labels.Evidence{Finder: opt.Finder, Source: opt.Source}, Verifications: []labels.Verification{}})
		}
	}()
	if opt.Experiment == ExpSteer {
		if err := verifySteer(e, set, opt, mo, f); err != nil {
			return nil, err
		}
		describeAll(f, opt.Key, opt.General)
		return res, nil
	}
	var iv Intervene
	if units {
		iv = func(_ string, ns []hooks.Neuron) (Intervention, error) {
			return opt.Units.Intervention(opt.Intervention, ns, opt.Value, opt.Factor, opt.At)
		}
	} else if iv, err = newRecipe(e, set, opt, mo); err != nil {
		return nil, err
	}
	mo.Intervene = iv
	switch opt.Experiment {
	case ExpMatrix, ExpEnhance:
		mr, err := Matrix(e, set.Groups, mo)
		if err != nil {
			return nil, err
		}
		res.Matrix = mr
		for _, t := range []*labels.Matrix{mr.Questions, mr.Texts} {
			if t != nil {
				f.Matrices = append(f.Matrices, *t)
			}
		}
		for i, v := range mr.Verifications {
			if v != nil {
				v.Experiment = opt.Experiment
				f.Labels[i].Verifications = append(f.Labels[i].Verifications, *v)
			}
		}
	case ExpSweep:
		for i, g := range set.Groups {
			if !qg.has(g.Name) && !tg.has(g.Name) {
				continue // a set named after no group has nothing to sweep against
			}
			sw, v, err := Sweep(e, g, SweepOptions{MatrixOptions: mo, Target: g.Name, Ks: opt.Ks})
			if err != nil {
				return nil, err
			}
			f.Sweeps = append(f.Sweeps, *sw)
			if v != nil {
				v.Ref = fmt.Sprintf("sweeps[%d]", len(f.Sweeps)-1)
				f.Labels[i].Verifications = append(f.Labels[i].Verifications, *v)
			}
		}
	default:
		return nil, fmt.Errorf("experiment %q: want matrix, sweep, enhance or steer", opt.Experiment)
	}
	describeAll(f, opt.Key, opt.General)
	return res, nil
}

// VerifyExperiments runs Verify once per experiment (opt.Experiment is ignored) on the same
// Eval, so the baseline runs once, and merges their label files in that order (labels.File.Merge).
func VerifyExperiments(e *Eval, set *hooks.NeuronSet, exps []string, opt VerifyOptions) (*labels.File, error) {
	var f *labels.File
	for _, exp := range exps {
		o := opt
		o.Experiment = exp
		res, err := Verify(e, set, o)
		if err != nil {
			return nil, err
		}
		if f == nil {
			f = res.File
		} else {
			f.Merge(res.File)
		}
	}
	if f == nil {
		return nil, fmt.Errorf("no experiments")
	}
	return f, nil
}

// newRecipe builds the Intervene of opt.Intervention, capturing the activations resample and
// force need (one pass over the items for every neuron the experiment may touch).
func newRecipe(e *Eval, set *hooks.NeuronSet, opt VerifyOptions, mo MatrixOptions) (Intervene, error) {
	at := opt.At
	m := e.Model
	switch opt.Intervention {
	case IvZero:
		return func(_ string, ns []hooks.Neuron) (Intervention, error) { return ZeroAt(ns, at), nil }, nil
	case IvClamp:
		return func(_ string, ns []hooks.Neuron) (Intervention, error) { return ClampAt(ns, opt.Value, at), nil }, nil
	case IvScale:
		return func(_ string, ns []hooks.Neuron) (Intervention, error) {
			return &Scale{Neurons: ns, Factor: opt.Factor, At: at}, nil
		}, nil
	case IvMean:
		points, _ := hooks.ByPoint(set.All())
		ps := &corpus.PromptSet{Source: "eval items"}
		for _, s := range e.seqs() {
			ps.Items = append(ps.Items, corpus.Prompt{IDs: s})
		}
		means, err := ComputeMeans(m, ps, points, e.opt.BatchSize)
		if err != nil {
			return nil, err
		}
		return func(_ string, ns []hooks.Neuron) (Intervention, error) { return MeanAt(ns, means, at) }, nil
	case IvResample, IvForce:
	default:
		return nil, fmt.Errorf("intervention %q: want zero, mean, resample, clamp, scale or force", opt.Intervention)
	}
	// every neuron any claimed or random list may hold
	union := map[hooks.Neuron]bool{}
	cat := m.Catalog()
	for _, g := range set.Groups {
		ns := hooks.Plain(g.Neurons)
		lists := [][]hooks.Neuron{ns}
		ks := []int{len(ns)}
		if opt.Experiment == ExpSweep {
			ks = sweepGrid(opt.Ks, len(ns))
		}
		for _, k := range ks {
			lists = append(lists, ns[:k])
			for r := 0; r < mo.Random; r++ {
				rn, err := mo.randomSet(cat, ns[:k], mo.Seed+uint64(r))
				if err != nil {
					return nil, err
				}
				lists = append(lists, rn)
			}
		}
		for _, l := range lists {
			for _, n := range l {
				union[n] = true
			}
		}
	}
	all := make([]hooks.Neuron, 0, len(union))
	for n := range union {
		all = append(all, n)
	}
	hooks.SortNeurons(all)
	var qActs, tActs *Activations
	var err error
	if e.Questions != nil {
		if qActs, err = CaptureActivations(m, e.Questions.Prompts(), all, e.opt.BatchSize); err != nil {
			return nil, err
		}
	}
	if e.Texts != nil {
		if tActs, err = CaptureActivations(m, e.Texts.Seqs(), all, e.opt.BatchSize); err != nil {
			return nil, err
		}
	}
	if opt.Intervention == IvResample {
		p := &Patch{At: at, What: "resample (from a random item of another group)"}
		if qActs != nil {
			lab := make([]string, len(e.Questions.Items))
			for i, it := range e.Questions.Items {
				lab[i] = it.Labels[mo.Key]
			}
			if p.From, err = resampleFrom(qActs, lab, opt.Seed); err != nil {
				return nil, err
			}
			p.Source = qActs
		}
		if tActs != nil {
			lab := make([]string, len(e.Texts.Items))
			for i, it := range e.Texts.Items {
				lab[i] = it.Labels[mo.TextKey]
			}
			if p.TextFrom, err = resampleFrom(tActs, lab, opt.Seed); err != nil {
				return nil, err
			}
			p.TextSource = tActs
		}
		return func(_ string, ns []hooks.Neuron) (Intervention, error) {
			q := *p
			q.Neurons = ns
			return &q, nil
		}, nil
	}
	// force: the statistic over the questions of a group (the texts' when there are none)
	acts, key, n := qActs, mo.Key, 0
	var labelOf func(i int) string
	if qActs != nil {
		n, labelOf = len(e.Questions.Items), func(i int) string { return e.Questions.Items[i].Labels[key] }
	} else {
		acts, key = tActs, mo.TextKey
		n, labelOf = len(e.Texts.Items), func(i int) string { return e.Texts.Items[i].Labels[key] }
	}
	return func(setName string, ns []hooks.Neuron) (Intervention, error) {
		group := opt.ForceGroup
		if group == "" {
			group = setName
		}
		in := make([]bool, n)
		any := false
		for i := range in {
			in[i] = labelOf(i) == group
			any = any || in[i]
		}
		if !any {
			return nil, fmt.Errorf("force: no item has %s=%s (name the group with ForceGroup)", key, group)
		}
		sub := &Activations{Neurons: ns, Lens: acts.Lens, Data: make([][]float32, n)}
		col := map[hooks.Neuron]int{}
		for j, nn := range acts.Neurons {
			col[nn] = j
		}
		k := len(acts.Neurons)
		for i := range sub.Data {
			if !in[i] {
				continue
			}
			d := make([]float32, acts.Lens[i]*len(ns))
			for t := 0; t < acts.Lens[i]; t++ {
				for q, nn := range ns {
					d[t*len(ns)+q] = acts.Data[i][t*k+col[nn]]
				}
			}
			sub.Data[i] = d
		}
		vals, err := GroupStatistic(sub, in, opt.Statistic)
		if err != nil {
			return nil, err
		}
		stat := opt.Statistic
		if stat == "" {
			stat = "median"
		}
		return ForceAt(ns, vals, fmt.Sprintf("force to the %s (over %s=%s items) of the per-item mean activation of", stat, key, group), at), nil
	}, nil
}

// seqs lists the token ids of every question prompt and text.
func (e *Eval) seqs() [][]int {
	var out [][]int
	if e.Questions != nil {
		out = append(out, e.Questions.Prompts()...)
	}
	if e.Texts != nil {
		out = append(out, e.Texts.Seqs()...)
	}
	return out
}

// sweepGrid is Sweep's grid for a set of n neurons.
func sweepGrid(ks []int, n int) []int {
	if len(ks) == 0 {
		ks = DefaultKs
	}
	var grid []int
	for _, k := range ks {
		if k > 0 && k < n && !slices.Contains(grid, k) {
			grid = append(grid, k)
		}
	}
	slices.Sort(grid)
	return append(grid, n)
}

// newLabel is a group's label before verification: the claim (kind from the key its name is
// a value of; "" for none: a concept), the units with their ranks and percentiles, and the
// finder's evidence.
func newLabel(g hooks.NeuronGroup, key, finder, source string, cat hooks.Catalog) labels.Label {
	kind := labels.KindConcept
	switch key {
	case "relation":
		kind = labels.KindRelation
	case "language":
		kind = labels.KindLanguage
	}
	ns := hooks.Plain(g.Neurons)
	points, _ := hooks.ByPoint(ns)
	pop := 0
	sites := map[hooks.Site]bool{}
	for _, p := range points {
		sites[p.Site] = true
	}
	for _, p := range cat.Points {
		if sites[p.Site] && p.Site.PerLayer() {
			pop += cat.Width(p)
		}
	}
	counts, _ := perPointCounts(ns)
	l := labels.Label{Set: g.Name, Claim: labels.Claim{Kind: kind, Key: key, Value: g.Name},
		Evidence:      labels.Evidence{Finder: finder, Source: source, Population: pop, PerLayer: counts},
		Verifications: []labels.Verification{}}
	for i, n := range g.Neurons {
		u := labels.UnitOf(n.Neuron, i+1, pop)
		s := n.Score
		u.Score = &s
		l.Units = append(l.Units, u)
	}
	return l
}

// describeAll writes each label's one-line description and overall verdict (general names
// the set claimed for every group, if any).
func describeAll(f *labels.File, key, general string) {
	for i := range f.Labels {
		l := &f.Labels[i]
		ns := make([]hooks.Neuron, 0, len(l.Units))
		for _, u := range l.Units {
			n, _ := u.Neuron()
			ns = append(ns, n)
		}
		d := fmt.Sprintf("%s %s: %s, found by %s", l.Claim.Kind, l.Claim.Value, describeNeurons(ns), l.Evidence.Finder)
		if len(l.Verifications) > 0 {
			v := l.Verifications[0]
			l.Verdict = v.Verdict
			on := l.Claim.Value
			if general != "" && l.Set == general && v.Others == nil && key != "" {
				on = "every " + key + " group's items"
			}
			d += fmt.Sprintf("; %s changes %s by %s on %s", v.Experiment, v.Measure, pct(v.Target), on)
			if v.Others != nil {
				d += fmt.Sprintf(" vs %s on the other %s groups", pct(*v.Others), key)
			}
			d += fmt.Sprintf(": %s (p %.3g)", v.Verdict, v.P)
		} else {
			d += "; not verified (no group of items has this name)"
		}
		l.Claim.Description = d
	}
}

func pct(x float64) string { return fmt.Sprintf("%+.1f%%", 100*x) }
