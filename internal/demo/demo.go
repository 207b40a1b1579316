package demo

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/world"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/model/train"
)

// Options size the demo.
type Options struct {
	PerRelation int // questions attributed per relation (spread over languages); default 24
	TopNeurons  int // neurons reported per relation; default 8
	DecodeK     int // tokens per LM-head decoding; default 5
	// Progress, if set, receives one line per stage.
	Progress io.Writer
}

func (o *Options) defaults() {
	if o.PerRelation <= 0 {
		o.PerRelation = 24
	}
	if o.TopNeurons <= 0 {
		o.TopNeurons = 8
	}
	if o.DecodeK <= 0 {
		o.DecodeK = 5
	}
}

// Inputs is what the demo runs on.
type Inputs struct {
	Model     *model.Model
	Tokenizer *tokenizer.Tokenizer
	Questions *world.Questions // held-out-template fact questions
}

// Report is the demo's JSON report (schema neuronscope.demo/v1), less provenance, which the
// caller adds.
type Report struct {
	Model     ModelSummary      `json:"model"`
	TapPoint  string            `json:"neuron_tap_point"`
	Trace     Trace             `json:"trace"`
	Accuracy  world.Accuracy    `json:"heldout_template_accuracy"`
	Relations []RelationNeurons `json:"relation_neurons"`
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
	Question   world.EvalFact `json:"question"`
	Tokens     []string       `json:"tokens"`
	Top        []TokenProb    `json:"next_token_top"`
	HooksFired int            `json:"hooks_fired"`
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
	Layer      int      `json:"layer"`
	Index      int      `json:"index"`
	Value      float64  `json:"value"`
	Promotes   []string `json:"promotes,omitempty"`
	Suppresses []string `json:"suppresses,omitempty"`
}

// RelationNeurons are the neurons credited with one relation's answers.
type RelationNeurons struct {
	Relation  string        `json:"relation"`
	Questions int           `json:"questions"`
	Method    string        `json:"method"`
	Neurons   []NeuronValue `json:"neurons"`
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
		Params: m.ParamCount(), HookPoints: len(m.Catalog().Points)}}
	pad, _ := in.Tokenizer.TokenToID("<pad>")

	say("accuracy: %d held-out-template questions", len(q.Prompts))
	pred, err := train.Greedy(m, q.Prompts, pad, 0)
	if err != nil {
		return nil, err
	}
	r.Accuracy = q.ScoreIDs(pred)

	say("trace: one question, every hook_post captured")
	if r.Trace, err = trace(in, 0); err != nil {
		return nil, err
	}

	say("attribution: grad×act of the answer logit per relation")
	dec, err := decoder(m, opt.DecodeK, in.Tokenizer)
	if err != nil {
		return nil, err
	}
	for _, rel := range relations(q) {
		rn, err := relationNeurons(in, rel, opt)
		if err != nil {
			return nil, err
		}
		for i := range rn.Neurons {
			dec(&rn.Neurons[i])
		}
		r.Relations = append(r.Relations, rn)
	}
	return r, nil
}

// relations lists the questions' relations in sorted order.
func relations(q *world.Questions) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range q.Items {
		if !seen[e.Relation] {
			seen[e.Relation] = true
			out = append(out, e.Relation)
		}
	}
	sort.Strings(out)
	return out
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
	prompt := q.Prompts[i]
	b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		return Trace{}, err
	}
	res, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post"))
	if err != nil {
		return Trace{}, err
	}
	t := Trace{Question: q.Items[i], HooksFired: len(res.Fired)}
	for _, id := range prompt {
		s, _ := in.Tokenizer.IDToToken(id)
		t.Tokens = append(t.Tokens, s)
	}
	v := m.Config.DVocab
	last := res.Logits.Data[(len(prompt)-1)*v : len(prompt)*v]
	t.Top = topProbs(last, 5, in.Tokenizer)
	d := m.Config.DMLP
	var all []NeuronValue
	for _, p := range mlpPosts(m.Config.NLayers) {
		a, _ := res.Cache.Get(p)
		row := a.Data[(len(prompt)-1)*d : len(prompt)*d]
		for j, x := range row {
			all = append(all, NeuronValue{Layer: p.Layer, Index: j, Value: float64(x)})
		}
	}
	sort.SliceStable(all, func(a, b int) bool { return abs(all[a].Value) > abs(all[b].Value) })
	t.Strongest = all[:min(8, len(all))]
	return t, nil
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
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

// relationNeurons ranks neurons by mean grad×act of the answer's logit (log p saturates when p ≈ 1) at the last prompt position
// over up to opt.PerRelation questions of the relation, taken round-robin over languages.
func relationNeurons(in Inputs, rel string, opt Options) (RelationNeurons, error) {
	m, q := in.Model, in.Questions
	byLang := map[string][]int{}
	var langs []string
	for i, e := range q.Items {
		if e.Relation != rel {
			continue
		}
		if byLang[e.Language] == nil {
			langs = append(langs, e.Language)
		}
		byLang[e.Language] = append(byLang[e.Language], i)
	}
	sort.Strings(langs)
	var picked []int
	for k := 0; len(picked) < opt.PerRelation; k++ {
		added := false
		for _, l := range langs {
			if k < len(byLang[l]) && len(picked) < opt.PerRelation {
				picked = append(picked, byLang[l][k])
				added = true
			}
		}
		if !added {
			break
		}
	}
	L, d := m.Config.NLayers, m.Config.DMLP
	sum := make([]float64, L*d)
	points := mlpPosts(L)
	for _, i := range picked {
		prompt := q.Prompts[i]
		b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
		if err != nil {
			return RelationNeurons{}, err
		}
		s, err := attribute.GradXAct(m, b, model.Logit(0, len(prompt)-1, q.Answers[i]), points)
		if err != nil {
			return RelationNeurons{}, err
		}
		for l, p := range points {
			row := s.At[p].Data[(len(prompt)-1)*d : len(prompt)*d]
			for j, x := range row {
				sum[l*d+j] += float64(x)
			}
		}
	}
	all := make([]NeuronValue, L*d)
	for k := range all {
		all[k] = NeuronValue{Layer: k / d, Index: k % d, Value: sum[k] / float64(len(picked))}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].Value > all[b].Value })
	return RelationNeurons{Relation: rel, Questions: len(picked),
		Method:  "mean over questions of grad×act (a·∂logit(answer)/∂a) at blocks.L.mlp.hook_post, last prompt position",
		Neurons: all[:min(opt.TopNeurons, len(all))]}, nil
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
	d := m.Config.DMLP
	return func(n *NeuronValue) {
		nd := decs[n.Layer*d+n.Index]
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
	fmt.Fprintf(&b, "\ntrace: %q (%s, %s) → answer %q\n", t.Question.Prompt, t.Question.Language, t.Question.Relation, t.Question.Answer)
	for _, p := range t.Top {
		fmt.Fprintf(&b, "  %-12s p=%.3f\n", p.Token, p.Prob)
	}
	fmt.Fprintf(&b, "  %d hook points fired; strongest neurons at the last position:", t.HooksFired)
	for _, n := range t.Strongest[:min(4, len(t.Strongest))] {
		fmt.Fprintf(&b, " L%d.%d=%.2f", n.Layer, n.Index, n.Value)
	}
	fmt.Fprintf(&b, "\n\nheld-out-template greedy accuracy:\n%s", r.Accuracy.Table())
	fmt.Fprintf(&b, "\nneurons credited with each relation's answers (grad×act, mean over questions):\n")
	for _, rn := range r.Relations {
		fmt.Fprintf(&b, "  %-22s", rn.Relation)
		for _, n := range rn.Neurons[:min(3, len(rn.Neurons))] {
			fmt.Fprintf(&b, " L%d.%d(%.2f → %s)", n.Layer, n.Index, n.Value, strings.Join(n.Promotes[:min(2, len(n.Promotes))], ","))
		}
		fmt.Fprintln(&b)
	}
	return b.String()
}
