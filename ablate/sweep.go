package ablate

import (
	"fmt"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// DefaultKs is the k grid of a cumulativity sweep (the relation-neuron paper's), cut at the
// set's size, which is always the last k.
var DefaultKs = []int{10, 50, 200, 500, 1000, 3000, 10000, 20000, 50000}

// SweepOptions configure Sweep. Key, TextKey, Intervene, Measure, Helps, Random, Seed,
// Resamples and Verdict are as in MatrixOptions.
type SweepOptions struct {
	MatrixOptions
	// Target is the group the set is claimed for.
	Target string
	// Ks are the sizes to try (0: DefaultKs); those above the set's size are dropped, and the
	// set's size is always tried.
	Ks []int
}

// Sweep is the cumulativity experiment: for each k of the grid it intervenes on the top k
// neurons of the ranked set (in the set's order) and on opt.Random random sets with the top
// k's per-point counts, and measures the target group and the others. The verification is
// the matrix test of the whole set (the last k) on the target group.
func Sweep(e *Eval, set hooks.NeuronGroup, opt SweepOptions) (*labels.Sweep, *labels.Verification, error) {
	mo := opt.MatrixOptions
	mo.defaults()
	if mo.Random < 2 {
		return nil, nil, fmt.Errorf("a sweep needs at least 2 random sets per k, got %d", mo.Random)
	}
	ns := hooks.Plain(set.Neurons)
	if err := WithUnits(e.Model.Catalog(), mo.Units, ns).CheckNeurons(ns); err != nil {
		return nil, nil, fmt.Errorf("set %q: %v", set.Name, err)
	}
	qg, tg, err := e.groups(mo.Key, mo.TextKey)
	if err != nil {
		return nil, nil, err
	}
	g, measure := qg, mo.Measure
	if g == nil || !slices.Contains(g.names, opt.Target) {
		if tg == nil || !slices.Contains(tg.names, opt.Target) {
			return nil, nil, fmt.Errorf("sweep target %q is not a group of the questions (%s) or the texts", opt.Target, mo.Key)
		}
		g, measure = tg, Perplexity
	}
	for _, k := range opt.Ks {
		if k <= 0 {
			return nil, nil, fmt.Errorf("sweep k %d: want ≥ 1", k)
		}
	}
	grid := sweepGrid(opt.Ks, len(ns))
	for _, k := range grid { // the baseline keeps the residual stream where every k starts
		e.Reuse(ZeroAt(ns[:k], AllPositions))
	}
	own := slices.Index(g.names, opt.Target)
	sw := &labels.Sweep{Set: set.Name, Key: g.key, Target: opt.Target, Measure: measure.String(), Effect: measure.Effect()}
	var verify *labels.Verification
	for _, k := range grid {
		group := hooks.NeuronGroup{Name: opt.Target, Neurons: set.Neurons[:k]}
		res, err := Matrix(e, []hooks.NeuronGroup{group}, mo)
		if err != nil {
			return nil, nil, err
		}
		run := res.Runs[0]
		if sw.Intervention == "" || k == len(ns) {
			sw.Intervention = run.Intervention
		}
		raw := func(s *Scores) (target, others float64) {
			var sum float64
			for j, idx := range g.items {
				eff := measure.effect(measure.level(res.Base, idx), measure.level(s, idx))
				if j == own {
					target = eff
				} else {
					sum += eff
				}
			}
			if len(g.items) > 1 {
				others = sum / float64(len(g.items)-1)
			}
			return
		}
		pt := labels.SweepPoint{K: k}
		pt.Target, pt.Others = raw(run.Claimed)
		var rt, ro, ort []float64
		for _, s := range run.Random {
			t, o := raw(s)
			rt, ro, ort = append(rt, t), append(ro, o), append(ort, measure.oriented(t, mo.Helps))
		}
		pt.Random, pt.RandomOthers = labels.StatOf(rt), labels.StatOf(ro)
		pt.P = EmpiricalP(measure.oriented(pt.Target, mo.Helps), ort)
		sw.Points = append(sw.Points, pt)
		if k == len(ns) {
			verify = res.Verifications[0]
			if verify != nil {
				verify.Experiment = "sweep"
				verify.Ref = ""
			}
		}
	}
	return sw, verify, nil
}
