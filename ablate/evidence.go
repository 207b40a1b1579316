package ablate

import (
	"strings"

	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/profile"
)

// AttachProfile adds to every unit of every label what a profile of the same model says about
// it: its k top activating contexts (tokens joined by spaces, the max token in [brackets]) and
// the top k tokens of its LM-head decoding and of its direct logit attribution. It returns how
// many units the profile does not cover. The caller checks that both come from one model
// (labels.File.CheckModel with the profile's config hash).
func AttachProfile(f *labels.File, rep *profile.Report, k int) (missing int) {
	byNeuron := rep.ByNeuron()
	for li := range f.Labels {
		for ui := range f.Labels[li].Units {
			u := &f.Labels[li].Units[ui]
			n, err := u.Neuron()
			nr := byNeuron[n]
			if err != nil || nr == nil {
				missing++
				continue
			}
			u.TopExamples = nil
			for _, ex := range nr.TopMax[:min(k, len(nr.TopMax))] {
				toks := make([]string, len(ex.Tokens))
				for i, t := range ex.Tokens {
					if i == ex.MaxIndex {
						t = "[" + t + "]"
					}
					toks[i] = t
				}
				u.TopExamples = append(u.TopExamples, labels.Example{Text: strings.Join(toks, " "), Value: ex.Value})
			}
			u.LMHead, u.DLA = topTokens(nr.LMHead, k), topTokens(nr.DLA, k)
		}
	}
	return missing
}

func topTokens(tl *profile.TokenLists, k int) []string {
	if tl == nil {
		return nil
	}
	var out []string
	for _, t := range tl.Top[:min(k, len(tl.Top))] {
		out = append(out, t.Token)
	}
	return out
}
