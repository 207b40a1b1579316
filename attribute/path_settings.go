package attribute

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/jsonerr"
)

// PathKinds are the neuron lists NeuronPath writes per prompt (PathResult.PathGroups): the
// search's path, the per-layer activation argmax and the per-layer activation top-K.
var PathKinds = []string{"path", "activation", "activation_topk"}

// PathSettings are the settings `neuronscope find path` records in its neuron set: the
// procedure, and per item the attributed position and target token, which a verification
// needs to intervene where the path was found (package ablate's PathItems).
type PathSettings struct {
	Procedure  string            `json:"procedure"`
	Steps      int               `json:"steps"`
	Target     string            `json:"target"`
	Site       string            `json:"site"`
	Position   string            `json:"position"`
	Width      int               `json:"width"`
	TopK       int               `json:"top_k"`
	Group      string            `json:"group,omitempty"`
	Items      []PathItemResult  `json:"items"`
	Similarity *PathSimilarities `json:"similarity,omitempty"`
}

// PathItemResult is one prompt's result in PathSettings.
type PathItemResult struct {
	ID            string            `json:"id"`
	Labels        map[string]string `json:"labels,omitempty"`
	Position      int               `json:"position"`
	Token         int               `json:"target_token"`
	Value         float64           `json:"target_value"`
	JAS           float64           `json:"jas"`
	ActivationJAS float64           `json:"activation_jas"`
	Seconds       float64           `json:"seconds"`
}

// Item is the result's entry in PathSettings for the prompt id with its labels, searched in
// the given seconds.
func (res *PathResult) Item(id string, labels map[string]string, seconds float64) PathItemResult {
	return PathItemResult{ID: id, Labels: labels, Position: res.Position, Token: res.Token, Value: res.Value, JAS: res.JAS,
		ActivationJAS: res.ActivationJAS, Seconds: seconds}
}

// PathSimilarities compares the paths of items with the same and different values of a label
// (ComparePaths): the mean similarity of each kind of pair and, when permutations were run,
// the permutation p-value of their difference.
type PathSimilarities struct {
	Key           string  `json:"key"`
	Same          float64 `json:"mean_same"`
	Different     float64 `json:"mean_different"`
	SamePairs     int     `json:"same_pairs"`
	DifferentPair int     `json:"different_pairs"`
	Permutations  int     `json:"permutations,omitempty"`
	P             float64 `json:"p,omitempty"`
}

// PathSettingsOf reads the path settings of a neuron set written by `find path` (its Settings
// as read from the file). A set without them, or with an item that lacks its id, position or
// target token, is an error: a verification could not tell where to intervene.
func PathSettingsOf(set *hooks.NeuronSet) (*PathSettings, error) {
	if set.Settings == nil {
		return nil, fmt.Errorf("the neuron set has no settings: not a path set written by find path (no item positions)")
	}
	raw, err := json.Marshal(set.Settings)
	if err != nil {
		return nil, fmt.Errorf("settings: %v", err)
	}
	var check struct {
		Items []struct {
			ID       *string `json:"id"`
			Position *int    `json:"position"`
			Token    *int    `json:"target_token"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &check); err != nil {
		return nil, fmt.Errorf("settings: %v", jsonerr.Plain(err))
	}
	if len(check.Items) == 0 {
		return nil, fmt.Errorf(`the neuron set's settings list no "items" with positions: not a path set written by find path`)
	}
	for i, it := range check.Items {
		switch {
		case it.ID == nil || *it.ID == "":
			return nil, fmt.Errorf("settings: item %d has no id", i)
		case it.Position == nil:
			return nil, fmt.Errorf("settings: item %s has no position", *it.ID)
		case it.Token == nil:
			return nil, fmt.Errorf("settings: item %s has no target_token", *it.ID)
		case *it.Position < 0:
			return nil, fmt.Errorf("settings: item %s has position %d", *it.ID, *it.Position)
		}
	}
	var st PathSettings
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("settings: %v", jsonerr.Plain(err))
	}
	return &st, nil
}

// ComparePaths compares the paths of items with the same and with different values (values[i]
// is item i's): the mean PathSimilarity over same-value pairs and over different-value pairs,
// and, with perms > 0, the permutation p-value of same − different: the values shuffled over
// the items perms times (PCG(seed, "perm")), p = (#{shuffles with a difference ≥ the observed}
// + 1)/(perms + 1). Without pairs of either kind the p-value is 1.
func ComparePaths(paths [][]hooks.ScoredNeuron, values []string, key string, perms int, seed uint64) PathSimilarities {
	n := len(paths)
	sim := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			sim[i*n+j] = PathSimilarity(paths[i], paths[j])
		}
	}
	diff := func(vals []string) (same, different float64, ns, nd int) {
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				if vals[i] == vals[j] {
					same += sim[i*n+j]
					ns++
				} else {
					different += sim[i*n+j]
					nd++
				}
			}
		}
		if ns > 0 {
			same /= float64(ns)
		}
		if nd > 0 {
			different /= float64(nd)
		}
		return same, different, ns, nd
	}
	s := PathSimilarities{Key: key}
	s.Same, s.Different, s.SamePairs, s.DifferentPair = diff(values)
	if perms <= 0 {
		return s
	}
	s.Permutations, s.P = perms, 1
	if s.SamePairs == 0 || s.DifferentPair == 0 {
		return s
	}
	obs := s.Same - s.Different
	rng := rand.New(rand.NewPCG(seed, 0x7065726d)) // "perm"
	shuffled := append([]string(nil), values...)
	ge := 0
	for k := 0; k < perms; k++ {
		rng.Shuffle(n, func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		sa, di, _, _ := diff(shuffled)
		if sa-di >= obs {
			ge++
		}
	}
	s.P = float64(ge+1) / float64(perms+1)
	return s
}
