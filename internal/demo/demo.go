package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/world"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// Options size the demo.
type Options struct {
	PerRelation int // questions attributed per relation (spread over languages); default 24
	// Neurons is the size of each relation's neuron set: the set the report lists and the
	// verification checks (default 32). Show is how many of them the summary prints (default 3).
	Neurons int
	Show    int
	DecodeK int // tokens per LM-head decoding; default 5
	// SkipVerify skips the verification stage. RandomSets is the number of random same-layer
	// sets each relation's set is compared with (default ablate.DefaultRandom).
	SkipVerify bool
	RandomSets int
	// SkipStructure skips the structure stage (AnalyzeStructure: spectra, bricks, probes).
	SkipStructure bool
	// AblatePerCell caps the questions per relation × language that the verification
	// evaluates (0: all of them).
	AblatePerCell int
	// Workers is the number of interventions run at once (0: 1).
	Workers int
	// Progress, if set, receives one line per stage; EvalProgress counts the items the
	// verification has evaluated (its total is EvalItems).
	Progress     io.Writer
	EvalProgress func(items int)
	// SkipConcept and SkipPaths skip the concept-neuron and neuron-path stages (the concept
	// stage also needs Inputs.Concept). ConceptItems is the number of task questions per
	// continent the concept verification evaluates (default 40); PathItems the questions per
	// relation × language whose paths are found and verified (default 1).
	SkipConcept, SkipPaths  bool
	ConceptItems, PathItems int
	// SkipLanguage and SkipRelationSpecific skip the language-neuron and relation-specific
	// stages (both also need Inputs.Language).
	SkipLanguage, SkipRelationSpecific bool
	// SkipSteering skips the steering comparison (which also needs Inputs.Steering).
	SkipSteering bool
}

func (o *Options) defaults() {
	if o.PerRelation <= 0 {
		o.PerRelation = 24
	}
	if o.Neurons <= 0 {
		o.Neurons = 32
	}
	if o.Show <= 0 {
		o.Show = 3
	}
	if o.DecodeK <= 0 {
		o.DecodeK = 5
	}
	if o.RandomSets <= 0 {
		o.RandomSets = ablate.DefaultRandom
	}
	if o.ConceptItems <= 0 {
		o.ConceptItems = 40
	}
	if o.PathItems <= 0 {
		o.PathItems = 1
	}
}

// Inputs is what the demo runs on.
type Inputs struct {
	Model     *model.Model
	Tokenizer *tokenizer.Tokenizer
	Questions *corpus.PromptSet // held-out-template fact questions (eval_facts.jsonl)
	// Concept holds the concept-neuron item sets (nil: no concept stage).
	Concept *ConceptInputs
	// Language holds the per-language texts (nil: no language-neuron and relation-specific
	// stages).
	Language *LanguageInputs
	// Steering holds the world's ground truth (nil: no steering comparison).
	Steering *SteeringInputs
}

// Report is the demo's JSON report (schema neuronscope.demo/v1), less provenance, which the
// caller adds.
type Report struct {
	Model     ModelSummary      `json:"model"`
	TapPoint  string            `json:"neuron_tap_point"`
	Trace     Trace             `json:"trace"`
	Accuracy  world.Accuracy    `json:"heldout_template_accuracy"`
	Relations []RelationNeurons `json:"relation_neurons"`
	// Matrix is the verification's relation × relation matrix (nil when skipped).
	Matrix *labels.Matrix `json:"relation_matrix,omitempty"`
	// Labels is the label file of the verification (neuronscope.labels/v1), less provenance
	// and inputs, which the caller adds; the command writes it to labels.json.
	Labels *labels.File `json:"-"`
	// Set is the neuron set the demo found and verified (neuronscope.neurons/v1).
	Set *hooks.NeuronSet `json:"-"`
	// Show is how many neurons per relation Summary prints.
	Show int `json:"-"`
	// Structure is the structure stage's spectra, bricks and probes (nil when skipped).
	Structure *Structure `json:"structure,omitempty"`
	// Runs are the verification's per-item scores (nil when skipped).
	Runs *ablate.MatrixResult `json:"-"`
	// Concept and Paths are the concept-neuron and neuron-path stages (nil when skipped), with
	// their neuron sets and label files (the command writes concept.json, concept-labels.json,
	// paths.json and path-labels.json).
	Concept       *ConceptStage    `json:"concept_neurons,omitempty"`
	Paths         *PathStage       `json:"neuron_paths,omitempty"`
	ConceptSet    *hooks.NeuronSet `json:"-"`
	ConceptLabels *labels.File     `json:"-"`
	PathSet       *hooks.NeuronSet `json:"-"`
	PathLabels    *labels.File     `json:"-"`
	// Language and RelationSpecific are the activation-statistics finders' stages (nil when
	// skipped), with their neuron sets and label files (the command writes language.json,
	// language-labels.json, relation-specific.json and relation-specific-labels.json).
	Language               *LanguageStage         `json:"language_neurons,omitempty"`
	RelationSpecific       *RelationSpecificStage `json:"relation_specific_neurons,omitempty"`
	LanguageSet            *hooks.NeuronSet       `json:"-"`
	LanguageLabels         *labels.File           `json:"-"`
	RelationSpecificSet    *hooks.NeuronSet       `json:"-"`
	RelationSpecificLabels *labels.File           `json:"-"`
	// Steering is the steering comparison (nil when skipped).
	Steering *SteeringStage `json:"steering_comparison,omitempty"`
}

// ModelSummary is the inspect part.
type ModelSummary struct {
	Type       string `json:"model_type"`
	Layers     int    `json:"layers"`
	DModel     int    `json:"d_model"`
	DMLP       int    `json:"d_mlp"`
	Heads      int    `json:"heads"`
	KVHeads    int    `json:"kv_heads"`
	Vocab      int    `json:"vocab"`
	Params     int64  `json:"params"`
	HookPoints int    `json:"hook_points"`
}

// Trace is one question run with every hook_post captured.
type Trace struct {
	Question   json.RawMessage `json:"question"` // the eval_facts.jsonl line
	Tokens     []string        `json:"tokens"`
	Top        []TokenProb     `json:"next_token_top"`
	HooksFired int             `json:"hooks_fired"`
	// Strongest are the most active neurons at the last prompt position, by |activation|.
	Strongest []NeuronValue `json:"strongest_neurons"`
}

// TokenProb is a token and its probability.
type TokenProb struct {
	Token string  `json:"token"`
	Prob  float64 `json:"prob"`
}

// NeuronValue is a neuron with a value and, when decoded, the tokens its write direction
// promotes and suppresses most through the final norm weight and the unembedding.
type NeuronValue struct {
	hooks.Neuron
	Value float64 `json:"value"`
	// OwnMean is, for relation neurons, the mean grad×act on the relation's own questions
	// (Value is that minus the mean over the other relations).
	OwnMean    *float64 `json:"own_relation_mean,omitempty"`
	Promotes   []string `json:"promotes,omitempty"`
	Suppresses []string `json:"suppresses,omitempty"`
}

// RelationNeurons are the neurons credited with one relation's answers (the whole set the
// verification checked, best first), and what zero-ablating them does.
type RelationNeurons struct {
	Relation  string        `json:"relation"`
	Questions int           `json:"questions"`
	Method    string        `json:"method"`
	Neurons   []NeuronValue `json:"neurons"`
	Ablation  *Ablation     `json:"ablation,omitempty"`
}

// Ablation summarises the verification of a relation's set (its row of the relation ×
// relation matrix): zero-ablating it at every position, the accuracy drop on the relation
// versus the mean drop on the others in accuracy points (ablate.SelectivityOf) and as relative
// drops (the matrix's selectivity, with its p-value, effect size, bootstrap CI and verdict),
// against random sets with the same per-layer counts.
type Ablation struct {
	Neurons           int         `json:"neurons"`
	Mode              string      `json:"mode"`
	TargetDrop        float64     `json:"target_drop"`
	MeanOtherDrop     float64     `json:"mean_other_drop"`
	Selectivity       float64     `json:"selectivity"`
	RandomSets        int         `json:"random_sets"`
	RandomSelectivity ablate.Stat `json:"random_selectivity"`
	RandomTargetDrop  ablate.Stat `json:"random_target_drop"`
	// The matrix test, on relative drops (acc_before − acc_after)/acc_before.
	RelativeDrop float64    `json:"relative_drop"`
	Effect       float64    `json:"relative_selectivity"`
	P            float64    `json:"p"`
	EffectSize   *float64   `json:"effect_size,omitempty"`
	CI95         [2]float64 `json:"ci95"`
	Verdict      string     `json:"verdict"`
	VerdictRule  string     `json:"verdict_rule"`
}

// Run runs every stage.
func Run(in Inputs, opt Options) (*Report, error) {
	opt.defaults()
	m, q := in.Model, in.Questions
	c := m.Config
	say := func(format string, a ...any) {
		if opt.Progress != nil {
			fmt.Fprintf(opt.Progress, format+"\n", a...)
		}
	}
	r := &Report{TapPoint: "blocks.L.mlp.hook_post", Model: ModelSummary{Type: c.ModelType, Layers: c.NLayers,
		DModel: c.DModel, DMLP: c.DMLP, Heads: c.NHeads, KVHeads: c.NKVHeads, Vocab: c.DVocab,
		Params: m.ParamCount(), HookPoints: len(m.Catalog().Points)}, Show: opt.Show}

	say("accuracy: %d held-out-template questions", len(q.Items))
	pred, err := corpus.Next(m, q.Prompts(), 256)
	if err != nil {
		return nil, err
	}
	r.Accuracy = world.Score(q, q.CorrectNext(pred))

	say("trace: one question, every hook_post captured")
	if r.Trace, err = trace(in, 0); err != nil {
		return nil, err
	}

	if !opt.SkipStructure {
		say("structure: NerVE spectra, bricks and relation probes (StructureOptions defaults)")
		if r.Structure, err = AnalyzeStructure(in, StructureOptions{}, nil); err != nil {
			return nil, err
		}
	}

	say("attribution: grad×act of the answer logit, %d questions per relation", opt.PerRelation)
	dec, err := decoder(m, opt.DecodeK, in.Tokenizer)
	if err != nil {
		return nil, err
	}
	ranking, err := RankRelationNeurons(in, opt.PerRelation)
	if err != nil {
		return nil, err
	}
	set := ranking.Set(opt.Neurons)
	for i, rel := range ranking.Relations {
		rn := RelationNeurons{Relation: rel, Questions: ranking.Questions[i], Method: method,
			Neurons: append([]NeuronValue(nil), ranking.Ranked[i][:min(opt.Neurons, len(ranking.Ranked[i]))]...)}
		for j := range rn.Neurons {
			dec(&rn.Neurons[j])
		}
		r.Relations = append(r.Relations, rn)
	}
	r.Set = set
	if err := r.steeringStage(in, opt, say); err != nil {
		return nil, err
	}
	if opt.SkipVerify {
		if err := r.gradientStages(in, opt, say); err != nil {
			return nil, err
		}
		if err := r.statisticStages(in, opt, say); err != nil {
			return nil, err
		}
		return r, nil
	}
	vq := evalSet(q, opt.AblatePerCell)
	say("verification: zero-ablate each relation's %d neurons, %d questions, against %d random same-layer sets each (%d forward passes over the questions)",
		opt.Neurons, len(vq.Items), opt.RandomSets, 1+len(ranking.Relations)*(1+opt.RandomSets))
	e, err := ablate.NewEval(m, vq, nil, ablate.EvalOptions{BatchSize: verifyBatch, Workers: opt.Workers, Progress: opt.EvalProgress})
	if err != nil {
		return nil, err
	}
	res, err := ablate.Verify(e, set, ablate.VerifyOptions{Key: "relation", Random: opt.RandomSets, Seed: 1, Source: "neuronscope demo"})
	if err != nil {
		return nil, err
	}
	r.Labels, r.Matrix, r.Runs = res.File, res.Matrix.Questions, res.Matrix
	for i := range r.Relations {
		rn := &r.Relations[i]
		row := ablate.SelectivityOf(vq, res.Matrix.Base, res.Matrix.Runs[i], ablate.SelectivityOptions{Key: "relation", Target: rn.Relation,
			Mode: ablate.Zero, Random: opt.RandomSets, Seed: 1}, nil)
		v := res.Matrix.Verifications[i]
		rn.Ablation = &Ablation{Neurons: len(rn.Neurons), Mode: row.Ablation.Mode, TargetDrop: row.Claimed.TargetDrop,
			MeanOtherDrop: row.Claimed.OtherDrop, Selectivity: row.Claimed.Selectivity, RandomSets: opt.RandomSets,
			RandomSelectivity: row.Random.Selectivity, RandomTargetDrop: row.Random.TargetDrop,
			RelativeDrop: v.Target, Effect: v.Effect, P: v.P, EffectSize: v.EffectSize, CI95: v.CI95, Verdict: v.Verdict, VerdictRule: v.Rule}
	}
	if err := r.gradientStages(in, opt, say); err != nil {
		return nil, err
	}
	if err := r.statisticStages(in, opt, say); err != nil {
		return nil, err
	}
	return r, nil
}

// verifyBatch is the verification's batch size (batches decide the rounding of every pass).
const verifyBatch = 256

// EvalItems is the number of items the verification evaluates in all (the total of
// Options.EvalProgress) for a question set of n items.
func EvalItems(n, relations, random int) int { return n * (1 + relations*(1+random)) }

// Ranking is every hook_post neuron ranked for each relation by RankRelationNeurons.
type Ranking struct {
	Relations []string
	Questions []int           // questions attributed per relation
	Ranked    [][]NeuronValue // per relation, every neuron, best first
}

// RankRelationNeurons is the demo's relation-neuron finder: every blocks.L.mlp.hook_post
// neuron's mean grad×act of the answer logit at the last prompt position over up to
// perRelation questions of each relation (round-robin over languages), ranked per relation by
// its mean on the relation minus the mean of its means on the other relations.
func RankRelationNeurons(in Inputs, perRelation int) (*Ranking, error) {
	rels, err := in.Questions.Groups("relation")
	if err != nil {
		return nil, err
	}
	r := &Ranking{Relations: rels, Questions: make([]int, len(rels))}
	means := make([][][]float64, len(rels))
	for i, rel := range rels {
		if means[i], r.Questions[i], err = relationScores(in, rel, perRelation); err != nil {
			return nil, err
		}
	}
	for i := range rels {
		r.Ranked = append(r.Ranked, contrast(means, i))
	}
	return r, nil
}

// Set is the neuron set of each relation's top k neurons (neuronscope.neurons/v1), scored by
// the contrast.
func (r *Ranking) Set(k int) *hooks.NeuronSet {
	set := &hooks.NeuronSet{Method: method, Tap: hooks.MLPPost}
	for i, rel := range r.Relations {
		for _, n := range r.Ranked[i][:min(k, len(r.Ranked[i]))] {
			set.Add(rel, hooks.ScoredNeuron{Neuron: n.Neuron, Score: n.Value})
		}
	}
	return set
}

const method = "grad×act (a·∂logit(answer)/∂a) at blocks.L.mlp.hook_post, last prompt position: " +
	"mean over the relation's questions minus the mean of the other relations' means"

// contrast ranks every neuron by its mean score on relation i minus the mean of its means on
// the other relations (means[i] holds each layer's hook_post scores, layer by layer).
func contrast(means [][][]float64, i int) []NeuronValue {
	var diff []hooks.ScoredNeuron
	own := map[hooks.Neuron]float64{}
	for l, layer := range means[i] {
		d := make([]float64, len(layer))
		for k := range layer {
			var other float64
			for j := range means {
				if j != i {
					other += means[j][l][k]
				}
			}
			if len(means) > 1 {
				other /= float64(len(means) - 1)
			}
			d[k] = layer[k] - other
			own[hooks.NeuronAt(l, hooks.MLPPost, k)] = layer[k]
		}
		diff = append(diff, hooks.Scored(hooks.At(l, hooks.MLPPost), d)...)
	}
	hooks.Rank(diff)
	out := make([]NeuronValue, len(diff))
	for k, n := range diff {
		o := own[n.Neuron]
		out[k] = NeuronValue{Neuron: n.Neuron, Value: n.Score, OwnMean: &o}
	}
	return out
}

// evalSet keeps at most perCell questions of each relation × language (0: all).
func evalSet(q *corpus.PromptSet, perCell int) *corpus.PromptSet {
	taken := map[[2]string]int{}
	return q.Filter(func(p corpus.Prompt) bool {
		cell := [2]string{p.Labels["relation"], p.Labels["language"]}
		if perCell > 0 && taken[cell] >= perCell {
			return false
		}
		taken[cell]++
		return true
	})
}

func mlpPosts(layers int) []hooks.Point {
	ps := make([]hooks.Point, layers)
	for l := range ps {
		ps[l] = hooks.At(l, hooks.MLPPost)
	}
	return ps
}

// trace runs question i with every hook_post captured.
func trace(in Inputs, i int) (Trace, error) {
	m, q := in.Model, in.Questions
	prompt := q.Items[i].IDs
	b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		return Trace{}, err
	}
	res, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post"))
	if err != nil {
		return Trace{}, err
	}
	t := Trace{Question: q.Items[i].Raw, HooksFired: len(res.Fired)}
	for _, id := range prompt {
		s, _ := in.Tokenizer.IDToToken(id)
		t.Tokens = append(t.Tokens, s)
	}
	v := m.Config.DVocab
	last := res.Logits.Data[(len(prompt)-1)*v : len(prompt)*v]
	t.Top = topProbs(last, 5, in.Tokenizer)
	d := m.Config.DMLP
	var all []hooks.ScoredNeuron
	for _, p := range mlpPosts(m.Config.NLayers) {
		a, _ := res.Cache.Get(p)
		all = append(all, hooks.Scored(p, a.Data[(len(prompt)-1)*d:len(prompt)*d])...)
	}
	for _, n := range hooks.TopAbs(all, 8) {
		t.Strongest = append(t.Strongest, NeuronValue{Neuron: n.Neuron, Value: n.Score})
	}
	return t, nil
}

// topProbs is the softmax's k most likely tokens.
func topProbs(logits []float32, k int, tok *tokenizer.Tokenizer) []TokenProb {
	mx := logits[0]
	for _, x := range logits {
		mx = max(mx, x)
	}
	var z float64
	for _, x := range logits {
		z += math.Exp(float64(x - mx))
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	var out []TokenProb
	for _, i := range idx[:min(k, len(idx))] {
		s, _ := tok.IDToToken(i)
		out = append(out, TokenProb{s, math.Exp(float64(logits[i]-mx)) / z})
	}
	return out
}

// relationScores is every hook_post neuron's mean grad×act of the answer's logit (log p
// saturates when p ≈ 1) at the last prompt position, per layer, over up to n questions of the
// relation taken round-robin over languages; it also returns how many questions it used.
func relationScores(in Inputs, rel string, n int) ([][]float64, int, error) {
	m, q := in.Model, in.Questions
	byLang := map[string][]int{}
	var langs []string
	for i, e := range q.Items {
		if e.Labels["relation"] != rel {
			continue
		}
		lang := e.Labels["language"]
		if byLang[lang] == nil {
			langs = append(langs, lang)
		}
		byLang[lang] = append(byLang[lang], i)
	}
	sort.Strings(langs)
	var picked []int
	for k := 0; len(picked) < n; k++ {
		added := false
		for _, l := range langs {
			if k < len(byLang[l]) && len(picked) < n {
				picked = append(picked, byLang[l][k])
				added = true
			}
		}
		if !added {
			break
		}
	}
	L, d := m.Config.NLayers, m.Config.DMLP
	sum := make([][]float64, L)
	for l := range sum {
		sum[l] = make([]float64, d)
	}
	points := mlpPosts(L)
	for _, i := range picked {
		prompt := q.Items[i].IDs
		b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
		if err != nil {
			return nil, 0, err
		}
		s, err := attribute.GradXAct(m, b, model.Logit(0, len(prompt)-1, q.Items[i].AnswerIDs[0]), points)
		if err != nil {
			return nil, 0, err
		}
		for l, p := range points {
			row := s.At[p].Data[(len(prompt)-1)*d : len(prompt)*d]
			for j, x := range row {
				sum[l][j] += float64(x)
			}
		}
	}
	for l := range sum {
		for k := range sum[l] {
			sum[l][k] /= float64(len(picked))
		}
	}
	return sum, len(picked), nil
}

// decoder returns a function attaching each neuron's LM-head decoding of its write direction
// (through the final norm weight) to a NeuronValue.
func decoder(m *model.Model, k int, tok *tokenizer.Tokenizer) (func(*NeuronValue), error) {
	decs, err := attribute.DecodeNeurons(m, attribute.DecodeOptions{K: k, NormWeight: true,
		Directions: []attribute.DecodeDirection{attribute.DecodeWrite}})
	if err != nil {
		return nil, err
	}
	names := func(ts []attribute.DecodedToken) []string {
		var out []string
		for _, t := range ts {
			s, _ := tok.IDToToken(t.ID)
			out = append(out, s)
		}
		return out
	}
	byNeuron := map[hooks.Neuron]attribute.NeuronDecoding{}
	for _, nd := range decs {
		byNeuron[nd.Neuron] = nd
	}
	return func(n *NeuronValue) {
		nd := byNeuron[n.Neuron]
		n.Promotes, n.Suppresses = names(nd.WriteTop), names(nd.WriteBottom)
	}, nil
}

// Summary renders the report for a terminal.
func (r *Report) Summary() string {
	var b strings.Builder
	mm := r.Model
	fmt.Fprintf(&b, "model: %s, %d layers, d_model %d, d_mlp %d (%d neurons at %s), %d heads (%d kv), vocab %d, %d params\n",
		mm.Type, mm.Layers, mm.DModel, mm.DMLP, mm.Layers*mm.DMLP, r.TapPoint, mm.Heads, mm.KVHeads, mm.Vocab, mm.Params)
	t := r.Trace
	var q struct{ Prompt, Language, Relation, Answer string }
	_ = json.Unmarshal(t.Question, &q)
	fmt.Fprintf(&b, "\ntrace: %q (%s, %s) → answer %q\n", q.Prompt, q.Language, q.Relation, q.Answer)
	for _, p := range t.Top {
		fmt.Fprintf(&b, "  %-12s p=%.3f\n", p.Token, p.Prob)
	}
	fmt.Fprintf(&b, "  %d hook points fired; strongest neurons at the last position:", t.HooksFired)
	for _, n := range t.Strongest[:min(4, len(t.Strongest))] {
		fmt.Fprintf(&b, " L%d.%d=%.2f", n.Layer, n.Index, n.Value)
	}
	fmt.Fprintf(&b, "\n\nheld-out-template greedy accuracy:\n%s", r.Accuracy.Table())
	fmt.Fprintf(&b, "\nneurons credited with each relation's answers (grad×act of the answer logit, own relation minus others;\nL<layer>.<index>(score → tokens its write direction promotes)):\n")
	for _, rn := range r.Relations {
		fmt.Fprintf(&b, "  %-22s", rn.Relation)
		for _, n := range rn.Neurons[:min(max(r.Show, 1), len(rn.Neurons))] {
			fmt.Fprintf(&b, " L%d.%d(%.2f → %s)", n.Layer, n.Index, n.Value, strings.Join(n.Promotes[:min(2, len(n.Promotes))], ","))
		}
		fmt.Fprintln(&b)
	}
	if len(r.Relations) > 0 && r.Relations[0].Ablation != nil {
		a0 := r.Relations[0].Ablation
		fmt.Fprintf(&b, "\nverification (neuronscope verify --experiment matrix): zero-ablate each relation's %d neurons, against %d random same-layer sets each\n", a0.Neurons, a0.RandomSets)
		if r.Matrix != nil {
			fmt.Fprintf(&b, "\nrelative accuracy drop, set (row) × relation questions (column); * own relation, ! beyond every random set:\n%s", r.Matrix.Table())
		}
		fmt.Fprintf(&b, "\n  %-22s %7s %7s %11s %16s %9s %7s  %s\n", "relation", "drop", "others", "selectivity", "random sel.", "z", "p", "verdict")
		for _, rn := range r.Relations {
			a := rn.Ablation
			z := "n/a"
			if a.EffectSize != nil {
				z = fmt.Sprintf("%.1f", *a.EffectSize)
			}
			fmt.Fprintf(&b, "  %-22s %6.1f%% %6.1f%% %10.1f%% %7.1f ± %4.1f%% %9s %7.3f  %s\n", rn.Relation, 100*a.TargetDrop, 100*a.MeanOtherDrop,
				100*a.Selectivity, 100*a.RandomSelectivity.Mean, 100*a.RandomSelectivity.Std, z, a.P, a.Verdict)
		}
		fmt.Fprintf(&b, "  (drops in accuracy points; z and p test the selectivity of relative drops against the random sets;\n   verdict rule: %s)\n", a0.VerdictRule)
	}
	r.gradientSummary(&b)
	if r.Structure != nil {
		fmt.Fprintln(&b)
		r.Structure.Summary(&b)
	}
	r.statisticSummary(&b)
	r.steeringSummary(&b)
	return b.String()
}
