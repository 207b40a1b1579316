package ablate

import (
	"fmt"
	"slices"

	"github.com/neuronscope/neuronscope/probes/labels"
)

// VerifyClaim tests row i of a matrix r (run by Matrix on e with opt) as a claim about group,
// a group of the matrix's questions (opt.Key; onTexts false, measured with opt.Measure) or
// texts (opt.TextKey; onTexts true, measured as perplexity) that need not be the set's name:
// e.g. the group a brick of neurons serves most (package probes/bricks). The statistic,
// random sets, bootstrap and verdict are exactly those of a set named after the group (see the
// package documentation); the notes list the row's interference on groups other than the
// claimed one. It returns an error when no group of the chosen items has that name.
func (r *MatrixResult) VerifyClaim(e *Eval, i int, group string, onTexts bool, opt MatrixOptions) (*labels.Verification, error) {
	opt.defaults()
	if i < 0 || i >= len(r.Runs) {
		return nil, fmt.Errorf("row %d of a matrix of %d sets", i, len(r.Runs))
	}
	qg, tg, err := e.groups(opt.Key, opt.TextKey)
	if err != nil {
		return nil, err
	}
	g, tab, measure, ref := qg, r.Questions, opt.Measure, "matrices[0]"
	what := "questions"
	if onTexts {
		g, tab, measure, what = tg, r.Texts, Perplexity, "texts"
		if r.Questions != nil {
			ref = "matrices[1]"
		}
	}
	if !g.has(group) {
		return nil, fmt.Errorf("no group of the %s is named %q", what, group)
	}
	if tab == nil {
		return nil, fmt.Errorf("the matrix has no table for the %s groups", g.key)
	}
	// verify reads the claimed group from the row's name: test a copy renamed after it.
	named := *r
	named.Runs = slices.Clone(r.Runs)
	named.Runs[i].Name = group
	v := named.verify(i, g, tab, measure, opt)
	v.Ref = ref
	v.Notes = nil
	for _, it := range tab.Interference {
		if it.Set == r.Runs[i].Name && it.Group != group {
			beyond := ""
			if it.BeyondRandom {
				beyond = ", more than any random set"
			}
			v.Notes = append(v.Notes, fmt.Sprintf("interference: %s=%s improved from %.4g to %.4g%s", g.key, it.Group, it.Before, it.After, beyond))
		}
	}
	return v, nil
}
