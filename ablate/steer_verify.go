package ablate

import (
	"errors"
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// verifySteer runs the steering experiment: for each set, the direction along its neurons
// (NeuronDirection) is calibrated to the KL targets at the base prompt, each reached strength
// is measured on every group (and continues the generation prompts), and the claim that
// steering along the set raises its own group's answer probability more than the others' is
// tested at the largest target reached with α > 0, against random sets of the same shape
// calibrated to the same KL.
func verifySteer(e *Eval, set *hooks.NeuronSet, opt VerifyOptions, mo MatrixOptions, f *labels.File) error {
	so := opt.Steer
	if len(so.Prompt) == 0 {
		return fmt.Errorf("the steering experiment needs a base prompt")
	}
	measure := AnswerProb
	if e.Questions == nil {
		measure = Perplexity
	} else if !e.opt.LogProb {
		return fmt.Errorf("the steering experiment measures the answer probability: the Eval needs LogProb")
	}
	qg, tg, err := e.groups(mo.Key, mo.TextKey)
	if err != nil {
		return err
	}
	g := qg
	if measure == Perplexity {
		g = tg
	}
	base, err := e.Baseline()
	if err != nil {
		return err
	}
	m := e.Model
	cat := m.Catalog()
	cal := so.Calibrate
	cal.At = opt.At
	for li, grp := range set.Groups {
		ns := hooks.Plain(grp.Neurons)
		dir, err := NeuronDirection(grp.Name, ns, cat)
		if err != nil {
			return fmt.Errorf("set %q: %v", grp.Name, err)
		}
		st, err := Calibrate(m, so.Prompt, dir, cal)
		if err != nil {
			return fmt.Errorf("set %q: %w", grp.Name, err)
		}
		st.Set, st.BasePrompt = grp.Name, so.PromptText
		best := -1
		var bestScores *Scores
		for ti := range st.Targets {
			sp := &st.Targets[ti]
			if !sp.Reached {
				continue
			}
			iv := &Add{Dir: dir, Alpha: float32(float64(sp.Sign) * sp.Alpha), At: opt.At}
			unit, _ := dir.Unit()
			iv.Dir = unit
			s, err := e.Run(iv)
			if err != nil {
				return err
			}
			for j, name := range g.names {
				before, after := measure.level(base, g.items[j]), measure.level(s, g.items[j])
				sp.Measure = append(sp.Measure, labels.GroupEffect{Group: name, N: len(g.items[j]), Before: before, After: after,
					Effect: measure.effect(before, after)})
			}
			if so.Generate.MaxNew > 0 && len(so.Prompts) > 0 {
				gen, err := Sample(m, so.Prompts, iv, so.Generate)
				if err != nil {
					return err
				}
				for k, ids := range gen {
					gn := labels.Generation{Seed: so.Generate.Seed, IDs: ids}
					if k < len(so.Texts) {
						gn.Prompt = so.Texts[k]
					}
					if so.Decode != nil {
						gn.Text = so.Decode(ids)
					}
					sp.Generations = append(sp.Generations, gn)
				}
			}
			if sp.Sign > 0 && (best < 0 || sp.TargetKL > st.Targets[best].TargetKL) {
				best, bestScores = ti, s
			}
		}
		f.Steering = append(f.Steering, *st)
		own := -1
		for j, name := range g.names {
			if name == grp.Name {
				own = j
			}
		}
		if own < 0 || best < 0 {
			continue
		}
		target := st.Targets[best]
		t, o, sel := selectivity(measure, true, g, own, base, bestScores, nil)
		v := &labels.Verification{Experiment: ExpSteer,
			Intervention: fmt.Sprintf("add α·(unit direction along %s) %s, %s", describeNeurons(ns), opt.At.describe(), describeAlpha(target)),
			Measure:      measure.String(), Statistic: fmt.Sprintf("selectivity: %s on %s=%s minus its mean over the other %d groups",
				measure.Effect(), g.key, grp.Name, len(g.names)-1),
			RandomRule: mo.randomRule() + "; each random direction calibrated to the same KL target", Resamples: mo.Resamples, Items: len(base.Correct)}
		if len(g.names) > 1 {
			v.Others = &o
		}
		var rnd []float64
		rc := cal
		rc.Targets, rc.Signs = []float64{target.TargetKL}, []int{1}
		missed := 0
		for r := 0; r < mo.Random; r++ {
			rn, err := mo.randomSet(cat, ns, mo.Seed+uint64(r))
			if err != nil {
				return err
			}
			rd, err := NeuronDirection("random", rn, cat)
			if err != nil {
				return err
			}
			rst, err := Calibrate(m, so.Prompt, rd, rc)
			var ue *UnreachableError
			if errors.As(err, &ue) {
				missed++
				continue
			}
			if err != nil {
				return err
			}
			unit, _ := rd.Unit()
			s, err := e.Run(&Add{Dir: unit, Alpha: float32(rst.Targets[0].Alpha), At: opt.At})
			if err != nil {
				return err
			}
			_, _, rs := selectivity(measure, true, g, own, base, s, nil)
			rnd = append(rnd, rs)
		}
		boot := Bootstrap(g.items, mo.Resamples, mo.Seed, func(sample [][]int) float64 {
			_, _, s := selectivity(measure, true, g, own, base, bestScores, sample)
			return s
		})
		Test{Target: t, Effect: sel, Random: rnd, CI: CI95(boot)}.Decide(mo.Verdict, v)
		if missed > 0 {
			v.Notes = append(v.Notes, fmt.Sprintf("%d of %d random directions could not reach KL %g within the α bounds and are not in the baseline", missed, mo.Random, target.TargetKL))
		}
		for _, sp := range st.Targets {
			if !sp.Reached {
				v.Notes = append(v.Notes, fmt.Sprintf("KL target %g (sign %+d) not reached: %s", sp.TargetKL, sp.Sign, sp.Why))
			}
		}
		v.Ref = fmt.Sprintf("steering[%d]", len(f.Steering)-1)
		f.Labels[li].Verifications = append(f.Labels[li].Verifications, *v)
	}
	return nil
}
