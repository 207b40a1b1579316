package attribute

import (
	"fmt"
	"sort"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
)

// KNOptions configures KnowledgeNeurons; zero fields take Dai et al.'s values.
type KNOptions struct {
	// IG is the per-prompt, per-layer integrated gradients (Scope is always Target).
	IG IGOptions
	// Layers to search; nil means every layer.
	Layers []int
	// Threshold t: a neuron is coarse for a prompt when its attribution is >= t times the
	// prompt's largest attribution over all searched layers. 0 means 0.2.
	Threshold float64
	// Share p: a coarse neuron is a knowledge neuron when it is coarse for >= p of the
	// prompts. 0 means 0.7.
	Share float64
}

// KNResult lists the knowledge neurons of one fact.
type KNResult struct {
	Neurons []hooks.Neuron       // coarse for >= Share of the prompts, by layer then index
	Coarse  [][]hooks.Neuron     // each prompt's coarse neurons, by layer then index
	Count   map[hooks.Neuron]int // prompts each coarse neuron is coarse for
}

// KnowledgeNeurons finds the knowledge neurons of a fact (Dai et al. 2022): for each prompt
// (paraphrases of one fact, each ending just before the answer), integrated gradients
// attribute the probability of answer at the prompt's last position to every
// blocks.L.mlp.hook_post neuron of the searched layers, scaling that position only; neurons
// with attribution >= Threshold·(the prompt's maximum) are the prompt's coarse neurons, and
// those coarse for at least Share of the prompts are kept. (Dai et al. further tune the share
// per relation, by ±0.05, until 2-5 neurons remain per fact; that loop is the caller's.)
func KnowledgeNeurons(m *model.Model, prompts [][]int, answer int, opt KNOptions) (*KNResult, error) {
	if len(prompts) == 0 {
		return nil, fmt.Errorf("knowledge neurons need at least one prompt")
	}
	if opt.Threshold == 0 {
		opt.Threshold = 0.2
	}
	if opt.Share == 0 {
		opt.Share = 0.7
	}
	layers := opt.Layers
	if layers == nil {
		for l := 0; l < m.Config.NLayers; l++ {
			layers = append(layers, l)
		}
	}
	opt.IG.Scope = Target
	res := &KNResult{Count: map[hooks.Neuron]int{}}
	for i, p := range prompts {
		coarse, err := coarseNeurons(m, p, answer, layers, opt)
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i, err)
		}
		res.Coarse = append(res.Coarse, coarse)
		for _, n := range coarse {
			res.Count[n]++
		}
	}
	for n, c := range res.Count {
		if float64(c) >= opt.Share*float64(len(prompts)) {
			res.Neurons = append(res.Neurons, n)
		}
	}
	hooks.SortNeurons(res.Neurons)
	return res, nil
}

// coarseNeurons runs one prompt's integrated gradients over the layers (one clean pass).
func coarseNeurons(m *model.Model, prompt []int, answer int, layers []int, opt KNOptions) ([]hooks.Neuron, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("empty prompt")
	}
	var points []hooks.Point
	for _, l := range layers {
		points = append(points, hooks.At(l, hooks.MLPPost))
	}
	cl, err := runClean(m, prompt, points, model.Prob(0, len(prompt)-1, answer))
	if err != nil {
		return nil, err
	}
	attrs := make([][]float32, len(points))
	var top float32
	for i, p := range points {
		r, err := cl.integrate(p, opt.IG)
		if err != nil {
			return nil, err
		}
		attrs[i] = r.Attributions.Data
		for _, v := range attrs[i] {
			top = max(top, v)
		}
	}
	var out []hooks.Neuron
	if top <= 0 {
		return out, nil
	}
	for i, a := range attrs {
		for j, v := range a {
			if float64(v) >= opt.Threshold*float64(top) {
				out = append(out, hooks.Neuron{Point: points[i], Index: j})
			}
		}
	}
	hooks.SortNeurons(out)
	return out, nil
}

// KnowledgeProcedure states the procedure KnowledgeNeurons runs, for reports.
const KnowledgeProcedure = "Dai et al. 2022: per prompt, integrated gradients (zero baseline, left Riemann, target position only) of the answer probability to every blocks.L.mlp.hook_post neuron; coarse = attribution ≥ threshold·max; knowledge neurons = coarse in ≥ share of the prompts"

// KnowledgeFact is one fact of a knowledge-neuron search: paraphrased prompts and the answer
// (one line of `find knowledge`'s JSONL input).
type KnowledgeFact struct {
	Prompts []string `json:"prompts"`
	Target  string   `json:"target"`
	// ID and Relation are optional: they name the fact's group and its relation's group in
	// the neuron set (KnowledgeNeuronSet).
	ID       string `json:"id,omitempty"`
	Relation string `json:"relation,omitempty"`
}

// KnowledgeFactResult is one fact's knowledge neurons in a KnowledgeReport.
type KnowledgeFactResult struct {
	Line        int              `json:"line"`
	ID          string           `json:"id,omitempty"`
	Relation    string           `json:"relation,omitempty"`
	Target      string           `json:"target"`
	TargetToken int              `json:"target_token"`
	Prompts     int              `json:"n_prompts"`
	Neurons     []hooks.Neuron   `json:"neurons"`
	Coarse      []int            `json:"coarse_per_prompt"`
	Counts      []KnowledgeCount `json:"coarse_counts"`
}

// KnowledgeCount is how many of a fact's prompts a coarse neuron was coarse for.
type KnowledgeCount struct {
	hooks.Neuron
	Prompts int `json:"prompts"`
}

// KnowledgeReport is the JSON report of `neuronscope find knowledge`.
type KnowledgeReport struct {
	SchemaVersion int                   `json:"schema_version"`
	Provenance    report.Provenance     `json:"provenance"`
	Procedure     string                `json:"procedure"`
	Neuron        string                `json:"neuron_definition"`
	Steps         int                   `json:"steps"`
	Threshold     float64               `json:"threshold"`
	Share         float64               `json:"share"`
	Facts         []KnowledgeFactResult `json:"facts"`
}

// ReadKnowledgeReport reads a knowledge-neuron report back (neurons at mlp.hook_post).
func ReadKnowledgeReport(path string) (*KnowledgeReport, error) {
	var r KnowledgeReport
	if err := report.ReadJSONFile(path, &r); err != nil {
		return nil, err
	}
	if r.Procedure == "" || r.Facts == nil {
		return nil, fmt.Errorf("%s: not a knowledge-neuron report", path)
	}
	for _, f := range r.Facts {
		for i := range f.Neurons {
			f.Neurons[i].Site = hooks.MLPPost
		}
		for i := range f.Counts {
			f.Counts[i].Site = hooks.MLPPost
		}
	}
	return &r, nil
}

// EncodedFact is a KnowledgeFact tokenized for a model.
type EncodedFact struct {
	Fact    KnowledgeFact
	Prompts [][]int
	Target  int
}

// EncodeKnowledgeFact tokenizes one fact with enc: the target must be exactly one token of the
// vocabulary (not the unknown token: corpus.Encoder.EncodeTarget), every prompt 1..max_positions
// tokens. Its errors are about the fact itself (the caller's input).
func EncodeKnowledgeFact(m *model.Model, enc corpus.Encoder, f KnowledgeFact) (EncodedFact, error) {
	if len(f.Prompts) == 0 || f.Target == "" {
		return EncodedFact{}, fmt.Errorf(`a fact needs "prompts" (non-empty) and "target"`)
	}
	target, _, err := enc.EncodeTarget(f.Target)
	if err != nil {
		return EncodedFact{}, err
	}
	ef := EncodedFact{Fact: f, Target: target}
	for j, p := range f.Prompts {
		e, err := enc.EncodeText(p)
		if err != nil {
			return EncodedFact{}, fmt.Errorf("prompt %d: %w", j+1, err)
		}
		if len(e.IDs) == 0 || len(e.IDs) > m.Config.MaxPos {
			return EncodedFact{}, fmt.Errorf("prompt %d has %d tokens (need 1..%d)", j+1, len(e.IDs), m.Config.MaxPos)
		}
		ef.Prompts = append(ef.Prompts, e.IDs)
	}
	return ef, nil
}

// FindKnowledge tokenizes one fact with enc (EncodeKnowledgeFact) and runs KnowledgeNeurons
// on it.
func FindKnowledge(m *model.Model, enc corpus.Encoder, f KnowledgeFact, opt KNOptions) (KnowledgeFactResult, error) {
	ef, err := EncodeKnowledgeFact(m, enc, f)
	if err != nil {
		return KnowledgeFactResult{}, err
	}
	return ef.Find(m, opt)
}

// Find runs KnowledgeNeurons on the encoded fact.
func (ef EncodedFact) Find(m *model.Model, opt KNOptions) (KnowledgeFactResult, error) {
	f, prompts := ef.Fact, ef.Prompts
	res, err := KnowledgeNeurons(m, prompts, ef.Target, opt)
	if err != nil {
		return KnowledgeFactResult{}, err
	}
	fo := KnowledgeFactResult{ID: f.ID, Relation: f.Relation, Target: f.Target, TargetToken: ef.Target, Prompts: len(prompts), Neurons: res.Neurons}
	if fo.Neurons == nil {
		fo.Neurons = []hooks.Neuron{}
	}
	for _, c := range res.Coarse {
		fo.Coarse = append(fo.Coarse, len(c))
	}
	for n, c := range res.Count {
		fo.Counts = append(fo.Counts, KnowledgeCount{n, c})
	}
	sort.Slice(fo.Counts, func(i, j int) bool {
		a, b := fo.Counts[i], fo.Counts[j]
		if a.Prompts != b.Prompts {
			return a.Prompts > b.Prompts
		}
		return a.Neuron.Less(b.Neuron)
	})
	return fo, nil
}

// KnowledgeRelationShare is Dai et al.'s mode_ratio_rel: a relation-level knowledge neuron is a
// knowledge neuron of at least this share of the relation's facts.
const KnowledgeRelationShare = 0.1

// KnowledgeNeuronSet writes a knowledge-neuron report in the shared neuron-set form (tap
// mlp.hook_post, method "knowledge"): one group per fact, named by its id (or "line<N>"), its
// knowledge neurons scored by the share of the fact's prompts they are coarse for, highest
// first; and, for facts that name a relation, one group "relation/<name>" per relation with
// Dai et al.'s relation-level knowledge neurons: those that are knowledge neurons of at least
// relShare (0 means KnowledgeRelationShare, 0.1) of the relation's facts, scored by that
// share. A group may be empty.
func KnowledgeNeuronSet(rep *KnowledgeReport, relShare float64) *hooks.NeuronSet {
	if relShare == 0 {
		relShare = KnowledgeRelationShare
	}
	set := &hooks.NeuronSet{Method: "knowledge", Tap: hooks.MLPPost, Provenance: &rep.Provenance,
		Settings: map[string]any{"procedure": rep.Procedure, "steps": rep.Steps, "threshold": rep.Threshold, "share": rep.Share, "relation_share": relShare}}
	ids, lines := make([]string, len(rep.Facts)), make([]int, len(rep.Facts))
	for i, f := range rep.Facts {
		ids[i], lines[i] = f.ID, f.Line
	}
	names := KnowledgeGroupNames(ids, lines)
	var rels []string
	relFacts := map[string]int{}
	relCount := map[string]map[hooks.Neuron]int{}
	for fi, f := range rep.Facts {
		name := names[fi]
		counts := map[hooks.Neuron]int{}
		for _, c := range f.Counts {
			counts[c.Neuron] = c.Prompts
		}
		g := []hooks.ScoredNeuron{}
		for _, n := range f.Neurons {
			n.Site = hooks.MLPPost
			g = append(g, hooks.ScoredNeuron{Neuron: n, Score: float64(counts[n]) / float64(max(1, f.Prompts))})
		}
		hooks.Rank(g)
		set.Groups = append(set.Groups, hooks.NeuronGroup{Name: name, Neurons: g})
		if f.Relation == "" {
			continue
		}
		if relCount[f.Relation] == nil {
			rels = append(rels, f.Relation)
			relCount[f.Relation] = map[hooks.Neuron]int{}
		}
		relFacts[f.Relation]++
		for _, n := range f.Neurons {
			n.Site = hooks.MLPPost
			relCount[f.Relation][n]++
		}
	}
	sort.Strings(rels)
	for _, r := range rels {
		g := []hooks.ScoredNeuron{}
		for n, c := range relCount[r] {
			if float64(c) >= relShare*float64(relFacts[r]) {
				g = append(g, hooks.ScoredNeuron{Neuron: n, Score: float64(c) / float64(relFacts[r])})
			}
		}
		hooks.Rank(g)
		set.Groups = append(set.Groups, hooks.NeuronGroup{Name: "relation/" + r, Neurons: g})
	}
	return set
}

// KnowledgeGroupNames names the facts' groups in KnowledgeNeuronSet: a fact's id, or
// "line<N>" (its line in the facts file) when it has none or an earlier fact has it.
func KnowledgeGroupNames(ids []string, lines []int) []string {
	seen := map[string]bool{}
	out := make([]string, len(ids))
	for i, id := range ids {
		if id == "" || seen[id] {
			id = fmt.Sprintf("line%d", lines[i])
		}
		seen[id] = true
		out[i] = id
	}
	return out
}
