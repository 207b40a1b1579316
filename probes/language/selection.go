package language

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/neuronscope/neuronscope/internal/jsonerr"
)

// Neuron is one selected neuron: entry Index of layer Layer at the tap point, with the score
// it was selected by (LAPE: the entropy, +Inf for a neuron that failed the filter; alignment:
// the λ-weighted score as the published code stores it, a float32 value).
type Neuron struct {
	Layer int     `json:"layer"`
	Index int     `json:"index"`
	Score float64 `json:"score"`
}

// Settings records what decided a selection.
type Settings struct {
	Method string `json:"method"` // "lape" or "alignment"
	// TopRate is the fraction of all Layers·Width neurons selected; K = round(TopRate·Layers·Width)
	// (round half to even, as Python's round).
	TopRate float64 `json:"top_rate"`
	K       int     `json:"k"`
	// FilterRate and FilterThreshold (LAPE only): a neuron with no group probability >
	// FilterThreshold, the FilterRank-th smallest of all probabilities (FilterRank =
	// round(FilterRate·N), N = groups·layers·width), gets entropy +Inf. Filtered counts them.
	FilterRate      float64 `json:"filter_rate,omitempty"`
	FilterRank      int     `json:"filter_rank,omitempty"`
	FilterThreshold float32 `json:"filter_threshold,omitempty"`
	Filtered        int     `json:"filtered,omitempty"`
	// BarRatio and BarThreshold: a selected neuron is assigned to every group whose probability
	// is > BarThreshold, the BarRank-th smallest of all probabilities (BarRank = round(BarRatio·N)).
	BarRatio     float64 `json:"bar_ratio"`
	BarRank      int     `json:"bar_rank"`
	BarThreshold float32 `json:"bar_threshold"`
	// Lambda and NormMax (alignment only): score = H(p̂)/ln K − Lambda·max_g p_g / NormMax,
	// NormMax = (1/K)·Σ_{k=1..K} 1/k with K the number of groups.
	Lambda  float64 `json:"lambda"`
	NormMax float64 `json:"norm_max,omitempty"`
}

// Selection is the outcome of LAPE or Alignment: the selected neurons, their assignment to
// groups, and the summaries the papers report.
type Selection struct {
	Groups   []string
	Tap      string
	Layers   int
	Width    int
	Settings Settings
	// Selected holds the K lowest-score neurons (before assignment), sorted by (layer, index).
	Selected []Neuron
	// ByGroup[g] holds the selected neurons assigned to group g (probability > BarThreshold),
	// sorted by (layer, index). A neuron may be in several groups, or in none.
	ByGroup [][]Neuron
	// PerLayer[g][l] is len of ByGroup[g]'s neurons in layer l.
	PerLayer [][]int
	// Multiplicity[c], c = 0..K groups, is the number of selected neurons assigned to exactly c
	// groups. Multiplicity[0] counts the selected neurons assigned to no group (they appear in
	// no ByGroup list). The published alignment code's appear list is Multiplicity with
	// element 0 set to 0 (it counts only neurons in the mask).
	Multiplicity []int
}

// Specific is the number of language-specific neurons: assigned to exactly one group.
func (s *Selection) Specific() int { return s.Multiplicity[1] }

// Related is the number of language-related neurons: assigned to 2..K−1 of the K groups.
func (s *Selection) Related() int {
	n := 0
	for c := 2; c < len(s.Groups); c++ {
		n += s.Multiplicity[c]
	}
	return n
}

// Agnostic is the number of language-agnostic neurons: assigned to all K groups.
func (s *Selection) Agnostic() int { return s.Multiplicity[len(s.Groups)] }

// Unassigned is the number of selected neurons assigned to no group.
func (s *Selection) Unassigned() int { return s.Multiplicity[0] }

// Unique is the number of distinct neurons assigned to at least one group.
func (s *Selection) Unique() int { return len(s.Selected) - s.Multiplicity[0] }

// Assignments is the number of (neuron, group) assignments, Σ_g len(ByGroup[g]).
func (s *Selection) Assignments() int {
	n := 0
	for _, b := range s.ByGroup {
		n += len(b)
	}
	return n
}

// PublishedLAPEGroups is the number of per-language lists LAPE's identify.py saves for this
// selection: it splits the assignments with torch.bincount, whose length is one more than the
// last group index with any neuron, so trailing groups without neurons are missing from the
// file (the shipped Mistral-7B file has 6 of 7 languages), and a selection assigning nothing
// saves an empty list. Groups in the middle without neurons are kept, with empty layers.
func (s *Selection) PublishedLAPEGroups() int {
	for g := len(s.ByGroup) - 1; g >= 0; g-- {
		if len(s.ByGroup[g]) > 0 {
			return g + 1
		}
	}
	return 0
}

// checkInput validates the probabilities and the top rate every finder takes.
func checkInput(p *Probabilities, topRate float64) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if !(topRate > 0 && topRate <= 1) {
		return fmt.Errorf("top rate %g is not in (0, 1]", topRate)
	}
	return nil
}

// rank is the Python round(rate·n) the published code uses for kthvalue and topk sizes:
// float64 product, round half to even.
func rank(rate float64, n int) int {
	return int(math.RoundToEven(float64(n) * rate))
}

// kthSmallest returns the k-th smallest value (1-indexed, torch.kthvalue) of all
// probabilities. It panics unless 1 ≤ k ≤ len(p).
func kthSmallest(p []float32, k int) float32 {
	s := slices.Clone(p)
	slices.Sort(s)
	return s[k-1]
}

// threshold computes the kthvalue threshold at rate over all probabilities; name is the
// option named in the error.
func threshold(p *Probabilities, rate float64, name string) (int, float32, error) {
	if !(rate > 0 && rate <= 1) {
		return 0, 0, fmt.Errorf("%s %g is not in (0, 1]", name, rate)
	}
	k := rank(rate, len(p.P))
	if k < 1 {
		return 0, 0, fmt.Errorf("%s %g selects the %d-th smallest of %d probabilities; it must be ≥ 1", name, rate, k, len(p.P))
	}
	return k, kthSmallest(p.P, k), nil
}

// assign builds a Selection from the selected flat indices (layer·Width + index) and their
// scores: every selected neuron goes to every group with probability > bar.
func assign(p *Probabilities, set Settings, flat []int, score []float64) *Selection {
	slices.Sort(flat)
	G := len(p.Groups)
	s := &Selection{Groups: slices.Clone(p.Groups), Tap: p.Tap, Layers: p.Layers, Width: p.Width, Settings: set,
		Selected: make([]Neuron, len(flat)), ByGroup: make([][]Neuron, G), PerLayer: make([][]int, G),
		Multiplicity: make([]int, G+1)}
	for g := range s.PerLayer {
		s.PerLayer[g] = make([]int, p.Layers)
		s.ByGroup[g] = []Neuron{}
	}
	per := p.Layers * p.Width
	for j, f := range flat {
		n := Neuron{Layer: f / p.Width, Index: f % p.Width, Score: score[f]}
		s.Selected[j] = n
		c := 0
		for g := 0; g < G; g++ {
			if p.P[g*per+f] > set.BarThreshold {
				s.ByGroup[g] = append(s.ByGroup[g], n)
				s.PerLayer[g][n.Layer]++
				c++
			}
		}
		s.Multiplicity[c]++
	}
	return s
}

// MarshalJSON writes {"layer":L,"index":i,"score":s}, with "score":null for an infinite score
// (a LAPE neuron that failed the filter but was selected to fill K).
func (n Neuron) MarshalJSON() ([]byte, error) {
	b := fmt.Appendf(nil, `{"layer":%d,"index":%d,"score":`, n.Layer, n.Index)
	if math.IsInf(n.Score, 0) || n.Score != n.Score {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendFloat(b, n.Score, 'g', -1, 64)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes; a null score reads as +Inf.
func (n *Neuron) UnmarshalJSON(b []byte) error {
	var v struct {
		Layer int      `json:"layer"`
		Index int      `json:"index"`
		Score *float64 `json:"score"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return jsonerr.Plain(err)
	}
	n.Layer, n.Index, n.Score = v.Layer, v.Index, math.Inf(1)
	if v.Score != nil {
		n.Score = *v.Score
	}
	return nil
}
