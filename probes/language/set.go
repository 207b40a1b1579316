package language

import (
	"fmt"
	"math"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
)

// SetSettings is what a language-neuron set (NeuronSet) records as its settings: the method's
// report without the per-group neuron lists (they are the set's groups), what the entries
// index and what zeroing them means, and where the probabilities came from.
type SetSettings struct {
	*Report
	// Groups are the per-group counts and per-layer counts, in the set's group order.
	Groups []GroupSummary `json:"groups"`
	// Probs says where the activation probabilities came from (a file, or a counting pass).
	Probs string `json:"probs,omitempty"`
	// Neuron says which unit an entry indexes, Deactivation what zeroing it does, Order how
	// each group is ranked and Score what an entry's score is.
	Neuron       string `json:"neuron"`
	Deactivation string `json:"deactivation"`
	Order        string `json:"order"`
	Score        string `json:"score"`
	// InfiniteScore counts the entries of LAPE neurons that failed the filter but were assigned
	// to a group (possible only when the bar percentile is below the filter percentile); their entropy
	// +Inf is written as MaxScore (JSON has no infinity).
	InfiniteScore int `json:"infinite_scores,omitempty"`
}

// GroupSummary is one group's (language's) counts in SetSettings.
type GroupSummary struct {
	Name     string `json:"name"`
	Count    int    `json:"count"`
	PerLayer []int  `json:"per_layer"`
}

// MaxScore stands for the entropy +Inf of a LAPE neuron that failed the filter in a neuron
// set (JSON numbers are finite): math.MaxFloat64.
const MaxScore = math.MaxFloat64

// NeuronSet returns the selection as a neuron set (hooks.NeuronSet, neuronscope.neurons/v1):
// one group per language in the probabilities' order, each holding the language's selected
// neurons at the counting tap (Selection.Tap, e.g. mlp.hook_pre), ranked as the method ranks
// them (ascending score, the most language-specific first; equal scores by layer and index)
// with the score as the entry's score. A language without neurons is an empty group (verify
// labels it without a verification). The settings (SetSettings) hold the report rep without
// its neuron lists, probs (where the probabilities came from), and what zeroing an entry
// means (Deactivation). The tap must be a per-layer hook site.
func (s *Selection) NeuronSet(rep *Report, probs string) (*hooks.NeuronSet, error) {
	if s.Tap == "" {
		return nil, fmt.Errorf("the probabilities name no tap point: cannot say which units the neurons are")
	}
	site, err := hooks.ParseSite(s.Tap)
	if err != nil {
		return nil, fmt.Errorf("tap %q: %v", s.Tap, err)
	}
	if !site.PerLayer() {
		return nil, fmt.Errorf("tap %s is not a per-layer hook point", site)
	}
	set := &hooks.NeuronSet{Method: s.Settings.Method, Tap: site}
	st := &SetSettings{Report: rep, Probs: probs, Neuron: NeuronMeaning(site), Deactivation: Deactivation(site),
		Order: "each language's neurons by ascending score (the most language-specific first), then layer and index"}
	switch s.Settings.Method {
	case "lape":
		set.Method = "lape"
		st.Score = "entropy of the neuron's normalised activation probabilities over the languages (nats); lower is more language-specific"
	default:
		set.Method = "alignment"
		st.Score = "H(p̂)/ln K − λ·max p / norm_max (float32); lower is more language-specific"
	}
	for g, name := range s.Groups {
		ns := slices.Clone(s.ByGroup[g])
		slices.SortStableFunc(ns, func(a, b Neuron) int {
			switch {
			case a.Score < b.Score:
				return -1
			case a.Score > b.Score:
				return 1
			}
			return 0
		})
		grp := hooks.NeuronGroup{Name: name, Neurons: make([]hooks.ScoredNeuron, len(ns))}
		for i, n := range ns {
			score := n.Score
			if math.IsInf(score, 1) {
				score = MaxScore
				st.InfiniteScore++
			}
			grp.Neurons[i] = hooks.ScoredNeuron{Neuron: hooks.NeuronAt(n.Layer, site, n.Index), Score: score}
		}
		set.Groups = append(set.Groups, grp)
		st.Groups = append(st.Groups, GroupSummary{Name: name, Count: len(ns), PerLayer: slices.Clone(s.PerLayer[g])})
	}
	set.Settings = st
	return set, nil
}

// NeuronMeaning says which unit an entry of a language-neuron set at site indexes.
func NeuronMeaning(site hooks.Site) string {
	switch site {
	case hooks.MLPPre:
		return "unit i of blocks.L.mlp.hook_pre: the gate projection's output gate(x)_i for gated MLPs " +
			"(LAPE counts silu(gate) > 0, i.e. gate > 0), W_in's output before the activation otherwise"
	case hooks.MLPPost:
		return "unit i of blocks.L.mlp.hook_post: the MLP's hidden activation, the input of the down projection " +
			"(act(W_in x) for GPT-2/NeoX/BLOOM, where LAPE counts act > 0; silu(gate)·up for gated MLPs)"
	}
	return fmt.Sprintf("unit i of blocks.L.%s", site)
}

// Deactivation says what zeroing an entry of a language-neuron set at site does in the
// forward pass (`neuronscope verify`'s zero intervention, every position).
func Deactivation(site hooks.Site) string {
	switch site {
	case hooks.MLPPre:
		return "zeroing unit i of mlp.hook_pre sets the gate's output to 0 at every position, so silu(0) = 0 and the " +
			"hidden unit silu(gate)·up is 0: LAPE's deactivation (it zeroes silu(gate) at the selected indices, " +
			"activation.index_fill_(2, idx, 0)); for an ungated MLP act(0) = 0 (GELU, ReLU) zeroes the hidden unit the same way"
	case hooks.MLPPost:
		return "zeroing unit i of mlp.hook_post sets the hidden unit (the down projection's input) to 0 at every position: " +
			"LAPE's deactivation for GPT-2/NeoX/BLOOM (act(h) = 0); for a gated MLP the same forward as zeroing the gate, silu(0)·up = 0"
	}
	return fmt.Sprintf("zeroing unit i of %s at every position", site)
}
