package ablate_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// tinyModel is a random-weight Llama (modeltest's tiny config: 2 layers, d_mlp 48).
func tinyModel(t testing.TB) *model.Model { return modeltest.Tiny(t, "llama", 7) }

// tinySet is n prompts of 2..7 random tokens in 3 relation groups and 2 language groups, whose
// answers are the unablated model's own greedy predictions (baseline accuracy 1).
func tinySet(t testing.TB, m *model.Model, n int) *corpus.PromptSet {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	set := &corpus.PromptSet{Source: "tiny"}
	for i := 0; i < n; i++ {
		p := make([]int, 2+rng.IntN(6))
		for j := range p {
			p[j] = rng.IntN(m.Config.DVocab)
		}
		set.Items = append(set.Items, corpus.Prompt{ID: string(rune('a' + i%26)), IDs: p,
			Labels: map[string]string{"relation": []string{"r0", "r1", "r2"}[i%3], "language": []string{"x", "y"}[i%2]}})
	}
	pred, err := corpus.Next(m, set.Prompts(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range set.Items {
		set.Items[i].AnswerIDs = []int{pred[i]}
	}
	return set
}

func post(l, i int) hooks.Neuron { return hooks.NeuronAt(l, hooks.MLPPost, i) }

func allNeurons(m *model.Model) []hooks.Neuron {
	var ns []hooks.Neuron
	for l := 0; l < m.Config.NLayers; l++ {
		for i := 0; i < m.Config.DMLP; i++ {
			ns = append(ns, post(l, i))
		}
	}
	return ns
}

func TestPaddingAndBatchingChangeNothing(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 40)
	one, err := corpus.Next(m, set.Prompts(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range set.Items {
		if one[i] != it.AnswerIDs[0] {
			t.Fatalf("item %d: batch size 1 predicts %d, batch size 64 %d", i, one[i], it.AnswerIDs[0])
		}
	}
}

func TestZeroAblatingNoNeuronsIsANoOp(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 30)
	opts, err := ablate.Ablation{Mode: ablate.Zero}.Options()
	if err != nil || len(opts) != 0 {
		t.Fatalf("empty ablation: %d options, err %v", len(opts), err)
	}
	b, _ := model.NewBatch([][]int{set.Items[0].IDs, set.Items[1].IDs}, model.PadLeft, 0)
	plain, _ := m.Forward(b)
	edited, _ := m.Forward(b, opts...)
	if !reflect.DeepEqual(plain.Logits.Data, edited.Logits.Data) {
		t.Error("an empty ablation changed the logits")
	}
	pred, err := corpus.Next(m, set.Prompts(), 0, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range set.Items {
		if pred[i] != it.AnswerIDs[0] {
			t.Errorf("item %d: %d after an empty ablation, %d before", i, pred[i], it.AnswerIDs[0])
		}
	}
}

func TestAblatingEverythingChangesPredictions(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 60)
	for _, mode := range []ablate.Mode{ablate.Zero, ablate.Clamp} {
		opts, err := ablate.Ablation{Mode: mode, Value: 3, Neurons: allNeurons(m)}.Options()
		if err != nil {
			t.Fatal(err)
		}
		pred, err := corpus.Next(m, set.Prompts(), 0, opts...)
		if err != nil {
			t.Fatal(err)
		}
		acc := 0.0
		for _, ok := range set.CorrectNext(pred) {
			if ok {
				acc++
			}
		}
		acc /= float64(len(pred))
		if acc > 0.8 {
			t.Errorf("%s-ablating every neuron of every layer keeps %.0f%% of the predictions", mode, 100*acc)
		}
	}
}

func TestMeanAblationUsesTheMeans(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 20)
	site := hooks.MLPPost
	means, err := ablate.ComputeMeans(m, set, []hooks.Point{hooks.At(0, site), hooks.At(1, site)}, 8)
	if err != nil {
		t.Fatal(err)
	}
	// Reference: capture every prompt alone and average over its positions.
	d := m.Config.DMLP
	want := [2][]float64{make([]float64, d), make([]float64, d)}
	n := 0
	for _, it := range set.Items {
		b, _ := model.NewBatch([][]int{it.IDs}, model.PadRight, 0)
		res, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post"))
		if err != nil {
			t.Fatal(err)
		}
		for l := 0; l < 2; l++ {
			a, _ := res.Cache.Get(hooks.At(l, site))
			for j, x := range a.Data {
				want[l][j%d] += float64(x)
			}
		}
		n += len(it.IDs)
	}
	if means.Positions != n || means.Prompts != len(set.Items) {
		t.Fatalf("means over %d positions of %d prompts, want %d of %d", means.Positions, means.Prompts, n, len(set.Items))
	}
	for l := 0; l < 2; l++ {
		for j := 0; j < d; j++ {
			w := want[l][j] / float64(n)
			if got := float64(means.Points[hooks.At(l, site)][j]); math.Abs(got-w) > 1e-5*(1+math.Abs(w)) {
				t.Fatalf("mean of L%d/N%d = %g, capture says %g", l, j, got, w)
			}
		}
	}
	// The ablated neurons hold exactly their means at every position; the others are untouched
	// at the ablated layer.
	ns := []hooks.Neuron{post(1, 3), post(1, 40), post(0, 9)}
	opts, err := ablate.Ablation{Mode: ablate.Mean, Neurons: ns, Means: means}.Options()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := model.NewBatch([][]int{set.Items[0].IDs, set.Items[5].IDs}, model.PadLeft, 0)
	res, err := m.Forward(b, append(opts, hooks.Capture("blocks.*.mlp.hook_post"))...)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := res.Cache.Get(hooks.At(1, site))
	for r := 0; r < b.Size*b.Len; r++ {
		for _, nn := range ns[:2] {
			if got := a.Data[r*d+nn.Index]; got != means.Points[hooks.At(1, site)][nn.Index] {
				t.Fatalf("row %d: %s = %g, want its mean %g", r, nn, got, means.Points[hooks.At(1, site)][nn.Index])
			}
		}
	}
	a0, _ := res.Cache.Get(hooks.At(0, site))
	plain, _ := m.Forward(b, hooks.Capture("blocks.0.mlp.hook_post"))
	p0, _ := plain.Cache.Get(hooks.At(0, site))
	for k := range a0.Data {
		if k%d != 9 && a0.Data[k] != p0.Data[k] {
			t.Fatalf("entry %d of layer 0 changed, but only neuron 9 is ablated there", k)
		}
	}
	// A global site is refused.
	if _, err := (ablate.Ablation{Neurons: []hooks.Neuron{{Point: hooks.Global(hooks.Embed)}}}).Options(); err == nil {
		t.Error("an ablation at hook_embed accepted")
	}
	// Means of the wrong site are refused.
	pre := []hooks.Neuron{hooks.NeuronAt(1, hooks.MLPPre, 3)}
	if _, err := (ablate.Ablation{Mode: ablate.Mean, Neurons: pre, Means: means}).Options(); err == nil {
		t.Error("means of mlp.hook_post accepted for mlp.hook_pre")
	}
}

func TestRandomSetsAreSeeded(t *testing.T) {
	m := tinyModel(t)
	claimed := []hooks.Neuron{post(0, 1), post(0, 2), post(0, 3), post(1, 40), post(1, 41)}
	a := ablate.RandomSet(m.Catalog(), claimed, 11)
	b := ablate.RandomSet(m.Catalog(), claimed, 11)
	c := ablate.RandomSet(m.Catalog(), claimed, 12)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Errorf("seed 11 twice: %v, %v; seed 12: %v", a, b, c)
	}
	count := map[int]int{}
	in := map[hooks.Neuron]bool{}
	for _, n := range claimed {
		in[n] = true
	}
	for _, n := range a {
		count[n.Layer]++
		if in[n] {
			t.Errorf("random set contains claimed neuron %s", n)
		}
	}
	if count[0] != 3 || count[1] != 2 || len(a) != 5 {
		t.Errorf("per-layer counts %v, want 3 and 2", count)
	}
	if err := m.Catalog().CheckNeurons(a); err != nil {
		t.Error(err)
	}

	set := tinySet(t, m, 60)
	opt := ablate.SelectivityOptions{Key: "relation", Target: "r1", Mode: ablate.Zero, Random: 5, Seed: 1}
	r1, err := ablate.Selectivity(m, set, claimed, opt)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ablate.Selectivity(m, set, claimed, opt)
	if err != nil {
		t.Fatal(err)
	}
	j1, _ := json.Marshal(r1)
	j2, _ := json.Marshal(r2)
	if string(j1) != string(j2) {
		t.Error("two runs with the same seeds differ")
	}
	if len(r1.Random.Sets) != 5 || *r1.Random.Sets[4].Seed != 5 {
		t.Errorf("random sets %d, last seed %v", len(r1.Random.Sets), r1.Random.Sets[4].Seed)
	}
	for i, s := range r1.Random.Sets {
		if want := ablate.RandomSet(m.Catalog(), claimed, uint64(1+i)); !reflect.DeepEqual(s.Neurons, want) {
			t.Errorf("random set %d: %v, RandomSet gives %v", i, s.Neurons, want)
		}
	}
}

func TestSelectivityArithmetic(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 90)
	r, err := ablate.Selectivity(m, set, allNeurons(m)[:40], ablate.SelectivityOptions{Key: "language", Target: "y", Mode: ablate.Mean})
	if err != nil {
		t.Fatal(err)
	}
	if r.BaselineAccuracy != 1 || len(r.Groups) != 2 || r.Ablation.Site != "mlp.hook_post" || r.Ablation.Mode != "mean" ||
		!reflect.DeepEqual(r.Ablation.Points, []string{"blocks.0.mlp.hook_post"}) || r.Ablation.MeanOver == "" {
		t.Errorf("report header %+v", r)
	}
	var x, y ablate.GroupEffect
	for _, g := range r.Claimed.Groups {
		if g.Group == "x" {
			x = g
		} else {
			y = g
		}
	}
	if y.Drop != 1-y.Ablated || r.Claimed.TargetDrop != y.Drop || r.Claimed.OtherDrop != x.Drop ||
		r.Claimed.Selectivity != y.Drop-x.Drop || x.N+y.N != 90 {
		t.Errorf("claimed effect %+v", r.Claimed)
	}
	if r.Verdict != ablate.Selective && r.Verdict != ablate.NotSelective && r.Verdict != ablate.NoEffect {
		t.Errorf("verdict %q", r.Verdict)
	}
	if !strings.Contains(r.Table(), "verdict: "+r.Verdict) {
		t.Error(r.Table())
	}
}

func TestSelectivityErrors(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 12)
	ns := []hooks.Neuron{post(0, 1)}
	for _, c := range []struct {
		opt  ablate.SelectivityOptions
		want string
	}{
		{ablate.SelectivityOptions{Key: "relation", Target: "r9"}, "r0, r1, r2"},
		{ablate.SelectivityOptions{Key: "tense", Target: "past"}, `no "tense" label`},
		{ablate.SelectivityOptions{Key: "relation", Target: "r1", Random: 1}, "at least 2"},
	} {
		if _, err := ablate.Selectivity(m, set, ns, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.opt, err, c.want)
		}
	}
	if _, err := ablate.Selectivity(m, set, []hooks.Neuron{{Point: hooks.Global(hooks.FinalScale)}}, ablate.SelectivityOptions{Key: "relation", Target: "r1"}); err == nil || !strings.Contains(err.Error(), "not a per-layer") {
		t.Errorf("a global point: %v", err)
	}
	one := &corpus.PromptSet{Items: set.Items[:1]}
	if _, err := ablate.Selectivity(m, one, ns, ablate.SelectivityOptions{Key: "relation", Target: "r0"}); err == nil {
		t.Error("a single group accepted")
	}
}

func TestParseSite(t *testing.T) {
	for in, want := range map[string]hooks.Site{
		"mlp.hook_post": hooks.MLPPost, "blocks.*.mlp.hook_pre": hooks.MLPPre, "blocks.3.hook_resid_post": hooks.ResidPost,
		"mlp.hook_out": hooks.MLPPost, "attn.hook_z": hooks.AttnZ,
	} {
		if got, err := hooks.ParseSite(in); err != nil || got != want {
			t.Errorf("ParseSite(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"hook_embed", "ln_final.hook_scale", "mlp.hook_postt", ""} {
		if _, err := hooks.ParseSite(bad); err == nil {
			t.Errorf("ParseSite(%q) accepted", bad)
		}
	}
	if _, err := ablate.ParseMode("ones"); err == nil {
		t.Error(`ParseMode("ones") accepted`)
	}
}
