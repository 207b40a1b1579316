package ablate_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// leftBatch is the experiment batch of some prompts of the set (left-padded, as Eval runs
// them), with items 0..n−1.
func leftBatch(t *testing.T, set *corpus.PromptSet, items []int) *ablate.Batch {
	t.Helper()
	b := &ablate.Batch{}
	var seqs [][]int
	for k, i := range items {
		seqs = append(seqs, set.Items[i].IDs)
		b.Items = append(b.Items, k)
		b.Lens = append(b.Lens, len(set.Items[i].IDs))
		b.PromptLens = append(b.PromptLens, len(set.Items[i].IDs))
	}
	mb, err := model.NewBatch(seqs, model.PadLeft, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.Batch = mb
	return b
}

// sameLogits runs the batch with the intervention's hooks and with a hand-written edit and
// requires bit-identical logits at every real position.
func sameLogits(t *testing.T, m *model.Model, b *ablate.Batch, iv ablate.Intervention, hand ...hooks.Option) {
	t.Helper()
	opts, err := iv.Hooks(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Forward(b.Batch, opts...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Forward(b.Batch, hand...)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := m.Forward(b.Batch)
	V := m.Config.DVocab
	changed := false
	for i, ok := range b.Mask {
		if !ok {
			continue
		}
		for v := 0; v < V; v++ {
			g, w := got.Logits.Data[i*V+v], want.Logits.Data[i*V+v]
			if math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("%s: logit %d at flat position %d = %v, the hand-written edit gives %v", iv, v, i, g, w)
			}
			changed = changed || g != plain.Logits.Data[i*V+v]
		}
	}
	if !changed {
		t.Fatalf("%s changed nothing: the test would not see a wrong edit", iv)
	}
}

// handEdit edits point p at the chosen positions of every row (positions(first, len) lists
// a row's batch positions) with fn on the [width] activation.
func handEdit(p hooks.Point, b *ablate.Batch, positions func(first, n int) []int, fn func(r, t int, row []float32)) hooks.Option {
	return hooks.EditPoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
		w := a.Shape[2]
		for r := 0; r < b.Size; r++ {
			first := b.Len - b.Lens[r]
			for _, t := range positions(first, b.Lens[r]) {
				fn(r, t, a.Data[(r*b.Len+t)*w:][:w])
			}
		}
		return nil
	})
}

func every(first, n int) []int {
	var out []int
	for t := first; t < first+n; t++ {
		out = append(out, t)
	}
	return out
}

func TestInterventionsEqualHandWrittenEdits(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 30)
	b := leftBatch(t, set, []int{0, 1, 2, 3, 4, 5})
	if b.Lens[0] == b.Lens[1] && b.Lens[1] == b.Lens[2] {
		t.Fatal("the test needs rows of different lengths")
	}
	p := hooks.At(0, hooks.MLPPost)
	ns := []hooks.Neuron{post(0, 3), post(0, 17), post(0, 40)}
	idx := []int{3, 17, 40}
	last := func(first, n int) []int { return []int{first + n - 1} }
	list := func(first, n int) []int { // prompt positions 0 and −2
		out := []int{first}
		if n >= 2 {
			out = append(out, first+n-2)
		}
		return out
	}
	set3 := func(v ...float32) func(r, t int, row []float32) {
		return func(_, _ int, row []float32) {
			for k, i := range idx {
				row[i] = v[k]
			}
		}
	}
	sameLogits(t, m, b, ablate.ZeroAt(ns, ablate.AllPositions), handEdit(p, b, every, set3(0, 0, 0)))
	sameLogits(t, m, b, ablate.ZeroAt(ns, ablate.LastPosition), handEdit(p, b, last, set3(0, 0, 0)))
	at, _ := ablate.ParsePositions("0,-2")
	sameLogits(t, m, b, ablate.ClampAt(ns, 5, at), handEdit(p, b, list, set3(5, 5, 5)))
	means, err := ablate.ComputeMeans(m, set, []hooks.Point{p}, 0)
	if err != nil {
		t.Fatal(err)
	}
	mu := means.Points[p]
	iv, err := ablate.MeanAt(ns, means, ablate.AllPositions)
	if err != nil {
		t.Fatal(err)
	}
	sameLogits(t, m, b, iv, handEdit(p, b, every, set3(mu[3], mu[17], mu[40])))
	sameLogits(t, m, b, ablate.ForceAt(ns, []float32{1, -2, 3}, "force", ablate.LastPosition), handEdit(p, b, last, set3(1, -2, 3)))
	sameLogits(t, m, b, &ablate.Scale{Neurons: ns, Factor: 2, At: ablate.AllPositions}, handEdit(p, b, every, func(_, _ int, row []float32) {
		for _, i := range idx {
			row[i] *= 2
		}
	}))
	// a pre-activation tap of the gated MLP
	pre := hooks.At(1, hooks.MLPPre)
	sameLogits(t, m, b, ablate.ZeroAt([]hooks.Neuron{{Point: pre, Index: 5}}, ablate.AllPositions),
		handEdit(pre, b, every, func(_, _ int, row []float32) { row[5] = 0 }))
	// steering: add α·v at two layers
	dir, err := ablate.NeuronDirection("d", []hooks.Neuron{post(0, 1), post(1, 2), post(1, 9)}, m.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	v := float32(1 / math.Sqrt(3))
	add := func(is ...int) func(r, t int, row []float32) {
		return func(_, _ int, row []float32) {
			for _, i := range is {
				row[i] += 4 * v
			}
		}
	}
	sameLogits(t, m, b, &ablate.Add{Dir: dir, Alpha: 4, At: ablate.AllPositions},
		handEdit(p, b, every, add(1)), handEdit(hooks.At(1, hooks.MLPPost), b, every, add(2, 9)))
	// combined: zero, then scale at another layer
	sameLogits(t, m, b, ablate.Combined{ablate.ZeroAt(ns, ablate.LastPosition), &ablate.Scale{Neurons: []hooks.Neuron{post(1, 4)}, Factor: -1, At: ablate.AllPositions}},
		handEdit(p, b, last, set3(0, 0, 0)), handEdit(hooks.At(1, hooks.MLPPost), b, every, func(_, _ int, row []float32) { row[4] *= -1 }))
}

// Eval's scores under an intervention are those of the hand-edited model: next-token
// correctness, answer log-probabilities and KL from the logits, and the same whether the pass
// starts from the embeddings or from the cached residual stream.
func TestEvalScoresMatchHandComputation(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 40)
	ns := []hooks.Neuron{post(1, 3), post(1, 30)}
	iv := ablate.ZeroAt(ns, ablate.AllPositions)
	run := func(cache int64) *ablate.Scores {
		e, err := ablate.NewEval(m, set, nil, ablate.EvalOptions{BatchSize: 7, LogProb: true, KL: true, CacheBytes: cache})
		if err != nil {
			t.Fatal(err)
		}
		e.Reuse(iv)
		base, err := e.Baseline()
		if err != nil {
			t.Fatal(err)
		}
		for i, ok := range base.Correct {
			if !ok || base.KL[i] != 0 {
				t.Fatalf("baseline item %d: correct %v, KL %v", i, ok, base.KL[i])
			}
		}
		s, err := e.Run(iv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	full, reused := run(-1), run(0)
	if !reflect.DeepEqual(full, reused) {
		t.Fatal("scores from the cached residual stream differ from a full pass")
	}
	V := m.Config.DVocab
	for i, it := range set.Items {
		b, _ := model.NewBatch([][]int{it.IDs}, model.PadLeft, 0)
		edit := hooks.EditPoint(hooks.At(1, hooks.MLPPost), func(_ hooks.Point, a *tensor.Tensor) error {
			w := a.Shape[2]
			for r := 0; r < len(a.Data)/w; r++ {
				a.Data[r*w+3], a.Data[r*w+30] = 0, 0
			}
			return nil
		})
		res, _ := m.Forward(b, edit)
		plain, _ := m.Forward(b)
		row := res.Logits.Data[(len(it.IDs)-1)*V:][:V]
		prow := plain.Logits.Data[(len(it.IDs)-1)*V:][:V]
		if (model.Argmax(row) == it.AnswerIDs[0]) != full.Correct[i] {
			t.Errorf("item %d: correct %v, hand says %v", i, full.Correct[i], !full.Correct[i])
		}
		lp, pp := logSoftmax64(row), logSoftmax64(prow)
		if d := math.Abs(lp[it.AnswerIDs[0]] - full.LogProb[i]); d > 1e-5 {
			t.Errorf("item %d: log P(answer) %v, hand %v", i, full.LogProb[i], lp[it.AnswerIDs[0]])
		}
		var kl float64
		for v := range pp {
			kl += math.Exp(pp[v]) * (pp[v] - lp[v])
		}
		if math.Abs(kl-full.KL[i]) > 1e-5*(1+kl) {
			t.Errorf("item %d: KL %v, hand %v", i, full.KL[i], kl)
		}
	}
}

func logSoftmax64(row []float32) []float64 {
	mx := math.Inf(-1)
	for _, x := range row {
		mx = math.Max(mx, float64(x))
	}
	var z float64
	for _, x := range row {
		z += math.Exp(float64(x) - mx)
	}
	out := make([]float64, len(row))
	for i, x := range row {
		out[i] = float64(x) - mx - math.Log(z)
	}
	return out
}

// Multi-token answers: greedy generation with AnswerTokens = 3 is corpus.Generate's, and the
// teacher-forced log-probability sums the answer tokens' log-probabilities.
func TestEvalMultiTokenAnswers(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 12)
	gen, err := corpus.Generate(m, set.Prompts(), corpus.GenerateOptions{MaxNew: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range set.Items {
		set.Items[i].AnswerIDs = gen[i][:2+i%2] // 2 or 3 tokens, all greedy
	}
	e, err := ablate.NewEval(m, set, nil, ablate.EvalOptions{AnswerTokens: 3, LogProb: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.DVocab
	for i, it := range set.Items {
		if !s.Correct[i] || !slices.Equal(s.Generated[i], gen[i]) {
			t.Errorf("item %d: generated %v (correct %v), corpus.Generate %v", i, s.Generated[i], s.Correct[i], gen[i])
		}
		seq := append(slices.Clone(it.IDs), it.AnswerIDs...)
		b, _ := model.NewBatch([][]int{seq}, model.PadRight, 0)
		res, _ := m.Forward(b)
		var want float64
		for k, a := range it.AnswerIDs {
			want += logSoftmax64(res.Logits.Data[(len(it.IDs)-1+k)*V:][:V])[a]
		}
		if math.Abs(want-s.LogProb[i]) > 1e-4 {
			t.Errorf("item %d: log P(answer) %v, hand %v", i, s.LogProb[i], want)
		}
	}
}

// Texts: the summed NLL of each text's tokens after the first, from the logits.
func TestEvalTextNLL(t *testing.T) {
	m := tinyModel(t)
	rng := rand.New(rand.NewPCG(5, 6))
	ts := &ablate.TextSet{Source: "t"}
	for i := 0; i < 9; i++ {
		ids := make([]int, 3+rng.IntN(6))
		for j := range ids {
			ids[j] = rng.IntN(m.Config.DVocab)
		}
		ts.Items = append(ts.Items, ablate.Text{ID: "t", IDs: ids, Labels: map[string]string{"lang": []string{"a", "b"}[i%2]}})
	}
	e, err := ablate.NewEval(m, nil, ts, ablate.EvalOptions{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.DVocab
	for i, it := range ts.Items {
		b, _ := model.NewBatch([][]int{it.IDs}, model.PadRight, 0)
		res, _ := m.Forward(b)
		var nll float64
		for k := 0; k+1 < len(it.IDs); k++ {
			nll -= logSoftmax64(res.Logits.Data[k*V:][:V])[it.IDs[k+1]]
		}
		if math.Abs(nll-s.NLL[i]) > 1e-4*nll || s.Tokens[i] != len(it.IDs)-1 {
			t.Errorf("text %d: NLL %v over %d tokens, hand %v over %d", i, s.NLL[i], s.Tokens[i], nll, len(it.IDs)-1)
		}
	}
}

// Resampling takes each item's values from an item of another group, at the same position
// counted from the end of the prompt.
func TestResampleTakesValuesFromOtherGroups(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 24)
	ns := []hooks.Neuron{post(0, 5), post(1, 11)}
	acts, err := ablate.CaptureActivations(m, set.Prompts(), ns, 5)
	if err != nil {
		t.Fatal(err)
	}
	lab := make([]string, len(set.Items))
	for i, it := range set.Items {
		lab[i] = it.Labels["relation"]
	}
	rs, err := ablate.NewResample(ns, ablate.AllPositions, acts, lab, 9)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[int]bool{}
	for i, j := range rs.From {
		if lab[j] == lab[i] {
			t.Fatalf("item %d (%s) takes values from item %d of the same group", i, lab[i], j)
		}
		sources[j] = true
	}
	if len(sources) < 6 {
		t.Errorf("only %d distinct source items for %d items", len(sources), len(rs.From))
	}
	again, _ := ablate.NewResample(ns, ablate.AllPositions, acts, lab, 9)
	other, _ := ablate.NewResample(ns, ablate.AllPositions, acts, lab, 10)
	if !slices.Equal(again.From, rs.From) || slices.Equal(other.From, rs.From) {
		t.Error("the source draw is not a function of the seed")
	}
	// The edited activations hold the source's values, aligned from the end.
	items := []int{0, 1, 2, 3, 4, 5, 6, 7}
	b := leftBatch(t, set, items)
	sub := &ablate.Patch{Neurons: ns, At: ablate.AllPositions, Source: acts, From: rs.From[:len(items)]}
	// leftBatch numbers rows 0..n−1 = items 0..n−1 of the set
	opts, err := sub.Hooks(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Forward(b.Batch, append(opts, hooks.Capture("blocks.*.mlp.hook_post"))...)
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range ns {
		a, _ := res.Cache.Get(n.Point)
		w := a.Shape[2]
		for r, i := range items {
			src := rs.From[i]
			sl, l := acts.Lens[src], b.Lens[r]
			for pos := 0; pos < l; pos++ {
				sp := max(pos-l+sl, 0)
				want := acts.Data[src][sp*len(ns)+k]
				got := a.Data[(r*b.Len+b.Len-l+pos)*w+n.Index]
				if got != want {
					t.Fatalf("item %d position %d of %s: %v, source item %d position %d has %v", i, pos, n, got, src, sp, want)
				}
			}
		}
	}
	one := slices.Repeat([]string{"x"}, len(lab))
	if _, err := ablate.NewResample(ns, ablate.AllPositions, acts, one, 1); err == nil {
		t.Error("resampling with a single group accepted")
	}
}

func TestEmpiricalPAndEffectSize(t *testing.T) {
	random := []float64{0.1, 0.5, 0.7, 0.2}
	// #random ≥ 0.5 is 2: (2+1)/(4+1)
	if p := ablate.EmpiricalP(0.5, random); p != 0.6 {
		t.Errorf("p = %v, want 0.6", p)
	}
	if p := ablate.EmpiricalP(0.9, random); p != 0.2 {
		t.Errorf("p = %v, want 1/5 (the +1 correction)", p)
	}
	if p := ablate.EmpiricalP(0, random); p != 1 {
		t.Errorf("p = %v, want 1", p)
	}
	// mean 0.375; deviations -0.275 0.125 0.325 -0.175; squares sum 0.2275; /3; sqrt
	z, ok := ablate.EffectSize(0.9, random)
	want := (0.9 - 0.375) / math.Sqrt(0.2275/3)
	if !ok || math.Abs(z-want) > 1e-12 {
		t.Errorf("z = %v, %v; want %v", z, ok, want)
	}
	if _, ok := ablate.EffectSize(1, []float64{0.2, 0.2}); ok {
		t.Error("an effect size against a random std of 0")
	}
	// bootstrap p: #{resamples ≤ 0.3} = 2 (0.1 and 0.3): (2+1)/(5+1)
	if p := ablate.BootstrapP([]float64{0.1, 0.5, 0.3, 0.9, 0.31}, 0.3); p != 0.5 {
		t.Errorf("bootstrap p = %v, want 0.5", p)
	}
}

func TestBootstrapAndQuantiles(t *testing.T) {
	// type-7 quantiles of 1..4: position q·3
	xs := []float64{4, 1, 3, 2}
	for q, want := range map[float64]float64{0: 1, 1: 4, 0.5: 2.5, 0.025: 1.075, 0.975: 3.925} {
		if got := ablate.Quantile(xs, q); math.Abs(got-want) > 1e-12 {
			t.Errorf("quantile %v = %v, want %v", q, got, want)
		}
	}
	if !slices.Equal(xs, []float64{4, 1, 3, 2}) {
		t.Error("Quantile changed its input")
	}
	// the documented draw order: PCG(seed, "boot"), per resample, per stratum, one index per item
	strata := [][]int{{10, 20, 30}, {7}}
	got := ablate.Bootstrap(strata, 3, 5, func(s [][]int) float64 { return float64(s[0][0]*100 + s[0][1]*10 + s[0][2] + s[1][0]*1000) })
	rng := rand.New(rand.NewPCG(5, 0x626f6f74))
	for b := 0; b < 3; b++ {
		var d [3]int
		for k := range d {
			d[k] = strata[0][rng.IntN(3)]
		}
		_ = rng.IntN(1)
		want := float64(d[0]*100+d[1]*10+d[2]) + 7000
		if got[b] != want {
			t.Errorf("resample %d: %v, hand draw %v", b, got[b], want)
		}
	}
	// the mean of {0, 1} resampled in pairs takes 0, ½, 1 with probabilities ¼, ½, ¼
	boot := ablate.Bootstrap([][]int{{0, 1}}, 4000, 1, func(s [][]int) float64 { return float64(s[0][0]+s[0][1]) / 2 })
	n := map[float64]int{}
	for _, b := range boot {
		n[b]++
	}
	if len(n) != 3 || math.Abs(float64(n[0.5])/4000-0.5) > 0.03 || math.Abs(float64(n[0])/4000-0.25) > 0.03 {
		t.Errorf("bootstrap distribution %v", n)
	}
	if ci := ablate.CI95(boot); ci != [2]float64{0, 1} {
		t.Errorf("CI %v, want [0, 1]", ci)
	}
	// the CI of a mean of many values is close to mean ± 1.96 standard errors
	var vals []int
	var sum, sq float64
	r := rand.New(rand.NewPCG(2, 3))
	for i := 0; i < 400; i++ {
		v := r.IntN(100)
		vals = append(vals, v)
		sum += float64(v)
		sq += float64(v * v)
	}
	mean := sum / 400
	se := math.Sqrt((sq/400 - mean*mean) / 400)
	ci := ablate.CI95(ablate.Bootstrap([][]int{vals}, 4000, 7, func(s [][]int) float64 {
		var t float64
		for _, v := range s[0] {
			t += float64(v)
		}
		return t / float64(len(s[0]))
	}))
	if math.Abs(ci[0]-(mean-1.96*se)) > 0.15*se*1.96 || math.Abs(ci[1]-(mean+1.96*se)) > 0.15*se*1.96 {
		t.Errorf("CI %v, normal approximation [%v, %v]", ci, mean-1.96*se, mean+1.96*se)
	}
}

func TestVerdictRule(t *testing.T) {
	rnd := []float64{0.01, -0.01, 0.02, 0, 0.01, -0.02, 0.005, 0, 0.01, -0.005}
	for _, c := range []struct {
		name string
		test ablate.Test
		opt  ablate.VerdictOptions
		want string
	}{
		{"no effect", ablate.Test{Target: 0.03, Effect: 0.5, Random: rnd, CI: [2]float64{0.4, 0.6}}, ablate.VerdictOptions{}, labels.NoEffect},
		{"confirmed", ablate.Test{Target: 0.3, Effect: 0.25, Random: rnd, CI: [2]float64{0.2, 0.3}}, ablate.VerdictOptions{}, labels.Confirmed},
		{"ci reaches random", ablate.Test{Target: 0.3, Effect: 0.25, Random: rnd, CI: [2]float64{-0.1, 0.3}}, ablate.VerdictOptions{}, labels.Inconclusive},
		{"too few sets for alpha", ablate.Test{Target: 0.3, Effect: 0.25, Random: rnd, CI: [2]float64{0.2, 0.3}}, ablate.VerdictOptions{Alpha: 0.05}, labels.Inconclusive},
		{"random as good", ablate.Test{Target: 0.3, Effect: 0.015, Random: rnd, CI: [2]float64{0.01, 0.02}}, ablate.VerdictOptions{}, labels.NotSelective},
		{"hurts others more", ablate.Test{Target: 0.3, Effect: -0.1, Random: rnd, CI: [2]float64{-0.2, 0}}, ablate.VerdictOptions{}, labels.NotSelective},
		{"std 0, above all", ablate.Test{Target: 0.3, Effect: 0.2, Random: make([]float64, 10), CI: [2]float64{0.1, 0.3}}, ablate.VerdictOptions{}, labels.Confirmed},
	} {
		var v labels.Verification
		c.test.Decide(c.opt, &v)
		if v.Verdict != c.want {
			t.Errorf("%s: %s (p %v, z %v), want %s", c.name, v.Verdict, v.P, v.EffectSize, c.want)
		}
		if !strings.Contains(v.Rule, "confirmed if") || v.Random.N != len(c.test.Random) {
			t.Errorf("%s: rule %q, random %+v", c.name, v.Rule, v.Random)
		}
	}
}

// The calibration reaches its KL targets within the tolerance, and the KL it reports is the KL
// of the steered model at that α; unreachable targets are reported, and bounds that reach no
// target are an error.
func TestCalibrateReachesKLTargets(t *testing.T) {
	m := tinyModel(t)
	prompt := []int{5, 9, 2, 40, 11}
	dir, err := ablate.NeuronDirection("d", []hooks.Neuron{post(1, 1), post(1, 7), post(1, 20)}, m.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	opt := ablate.CalibrateOptions{Targets: []float64{0.02, 0.1, 0.3, 1e9}, Lo: 0.01, Hi: 200, Tolerance: 0.002, Iterations: 40}
	st, err := ablate.Calibrate(m, prompt, dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Targets) != 8 {
		t.Fatalf("%d points, want 4 targets × 2 signs", len(st.Targets))
	}
	b, _ := model.NewBatch([][]int{prompt}, model.PadLeft, 0)
	plain, _ := m.Forward(b)
	V := m.Config.DVocab
	base := logSoftmax64(plain.Logits.Data[(len(prompt)-1)*V:][:V])
	reached := 0
	for _, sp := range st.Targets {
		if sp.TargetKL == 1e9 {
			if sp.Reached || !strings.Contains(sp.Why, "upper bound") {
				t.Errorf("KL 1e9 reported as %+v", sp)
			}
			continue
		}
		if !sp.Reached {
			t.Errorf("target %v sign %d not reached: %s", sp.TargetKL, sp.Sign, sp.Why)
			continue
		}
		reached++
		if math.Abs(sp.KL-sp.TargetKL) > opt.Tolerance {
			t.Errorf("target %v: KL %v outside the tolerance", sp.TargetKL, sp.KL)
		}
		alpha := float32(float64(sp.Sign) * sp.Alpha / math.Sqrt(3))
		res, _ := m.Forward(b, hooks.EditPoint(hooks.At(1, hooks.MLPPost), func(_ hooks.Point, a *tensor.Tensor) error {
			w := a.Shape[2]
			for r := 0; r < len(a.Data)/w; r++ {
				for _, i := range []int{1, 7, 20} {
					a.Data[r*w+i] += alpha
				}
			}
			return nil
		}))
		lq := logSoftmax64(res.Logits.Data[(len(prompt)-1)*V:][:V])
		var kl float64
		for v := range base {
			kl += math.Exp(base[v]) * (base[v] - lq[v])
		}
		if math.Abs(kl-sp.KL) > 1e-3*(sp.KL+1e-3) {
			t.Errorf("target %v sign %d: reported KL %v, the hand-steered model's %v", sp.TargetKL, sp.Sign, sp.KL, kl)
		}
	}
	if reached != 6 {
		t.Errorf("%d targets reached, want 6", reached)
	}
	_, err = ablate.Calibrate(m, prompt, dir, ablate.CalibrateOptions{Targets: []float64{0.5}, Lo: 1e-6, Hi: 2e-6})
	var ue *ablate.UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("bounds that reach no target: %v", err)
	}
	zero := ablate.Direction{Name: "zero", Parts: []ablate.DirectionPart{{Point: hooks.At(0, hooks.MLPPost), Vector: make([]float32, m.Config.DMLP)}}}
	if _, err := ablate.Calibrate(m, prompt, zero, ablate.CalibrateOptions{}); err == nil || !strings.Contains(err.Error(), "norm 0") {
		t.Errorf("a zero direction: %v", err)
	}
	short := ablate.Direction{Name: "short", Parts: []ablate.DirectionPart{{Point: hooks.At(0, hooks.MLPPost), Vector: []float32{1}}}}
	if _, err := ablate.Calibrate(m, prompt, short, ablate.CalibrateOptions{}); err == nil || !strings.Contains(err.Error(), "width") {
		t.Errorf("a direction of the wrong width: %v", err)
	}
}

// Sampling: greedy decoding is corpus.Generate's; seeded sampling repeats under its seed; top-k 1
// is greedy.
func TestSample(t *testing.T) {
	m := tinyModel(t)
	prompts := [][]int{{1, 5, 9}, {4, 4, 8, 2, 7}}
	greedy, err := ablate.Sample(m, prompts, nil, ablate.SampleOptions{MaxNew: 6})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := corpus.Generate(m, prompts, corpus.GenerateOptions{MaxNew: 6})
	if !reflect.DeepEqual(greedy, want) {
		t.Errorf("greedy %v, corpus.Generate %v", greedy, want)
	}
	s1, _ := ablate.Sample(m, prompts, nil, ablate.SampleOptions{MaxNew: 6, TopP: 0.9, Temperature: 2, Seed: 3})
	s2, _ := ablate.Sample(m, prompts, nil, ablate.SampleOptions{MaxNew: 6, TopP: 0.9, Temperature: 2, Seed: 3})
	s3, _ := ablate.Sample(m, prompts, nil, ablate.SampleOptions{MaxNew: 6, TopP: 0.9, Temperature: 2, Seed: 4})
	if !reflect.DeepEqual(s1, s2) || reflect.DeepEqual(s1, s3) {
		t.Errorf("seeded sampling: %v, %v (same seed), %v (another)", s1, s2, s3)
	}
	k1, _ := ablate.Sample(m, prompts, nil, ablate.SampleOptions{MaxNew: 6, TopK: 1, Temperature: 3, Seed: 9})
	if !reflect.DeepEqual(k1, greedy) {
		t.Errorf("top-k 1 %v, greedy %v", k1, greedy)
	}
	// steering changes the continuation
	dir, _ := ablate.NeuronDirection("d", []hooks.Neuron{post(1, 1)}, m.Catalog())
	st, _ := ablate.Sample(m, prompts, &ablate.Add{Dir: dir, Alpha: 50, At: ablate.AllPositions}, ablate.SampleOptions{MaxNew: 6})
	if reflect.DeepEqual(st, greedy) {
		t.Error("adding 50 × a direction changed no token")
	}
}

// The matrix's cells are the group accuracies of the per-item scores, its interference list
// is every improvement on another group, and a set named after a group is verified.
func TestMatrixCells(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 60)
	e, err := ablate.NewEval(m, set, nil, ablate.EvalOptions{BatchSize: 16, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	sets := []hooks.NeuronGroup{
		{Name: "r0", Neurons: scored(post(0, 1), post(0, 2), post(1, 3), post(1, 9), post(1, 10))},
		{Name: "general", Neurons: scored(post(1, 20), post(1, 21))},
	}
	res, err := ablate.Matrix(e, sets, ablate.MatrixOptions{Key: "relation", Random: 3, Seed: 4, Resamples: 200})
	if err != nil {
		t.Fatal(err)
	}
	tab := res.Questions
	if tab == nil || res.Texts != nil || len(tab.Cells) != 2 || !slices.Equal(tab.Groups, []string{"r0", "r1", "r2"}) {
		t.Fatalf("table %+v", tab)
	}
	for i, run := range res.Runs {
		if len(run.Random) != 3 || run.Seeds[2] != 6 || !reflect.DeepEqual(run.RandomNeurons[1], ablate.RandomSet(m.Catalog(), hooks.Plain(sets[i].Neurons), 5)) {
			t.Errorf("set %s: random sets %v", run.Name, run.Seeds)
		}
		for j, g := range tab.Groups {
			var n, c0, c1 int
			for k, it := range set.Items {
				if it.Labels["relation"] != g {
					continue
				}
				n++
				if res.Base.Correct[k] {
					c0++
				}
				if run.Claimed.Correct[k] {
					c1++
				}
			}
			cell := tab.Cells[i][j]
			a0, a1 := float64(c0)/float64(n), float64(c1)/float64(n)
			if tab.GroupItems[j] != n || tab.Baseline[j] != a0 || cell.Value != a1 || math.Abs(cell.Effect-(a0-a1)/a0) > 1e-15 {
				t.Errorf("cell %s/%s: %+v; hand: n %d, before %v, after %v", run.Name, g, cell, n, a0, a1)
			}
			improved := a1 > a0
			listed := slices.ContainsFunc(tab.Interference, func(it labels.Interference) bool { return it.Set == run.Name && it.Group == g })
			if improved != listed && g != run.Name {
				t.Errorf("%s on %s: improved %v, listed %v", run.Name, g, improved, listed)
			}
		}
	}
	if res.Verifications[0] == nil || res.Verifications[1] != nil {
		t.Errorf("verifications %v: want one for r0 and none for general", res.Verifications)
	}
	v := res.Verifications[0]
	if v.Random.N != 3 || v.Others == nil || v.P < 0.25 || v.Verdict == "" || v.Resamples != 200 {
		t.Errorf("verification %+v", v)
	}
	// Workers do not change anything.
	e1, _ := ablate.NewEval(m, set, nil, ablate.EvalOptions{BatchSize: 16})
	res1, _ := ablate.Matrix(e1, sets, ablate.MatrixOptions{Key: "relation", Random: 3, Seed: 4, Resamples: 200})
	if !reflect.DeepEqual(res1.Questions, res.Questions) || !reflect.DeepEqual(res1.Verifications, res.Verifications) {
		t.Error("2 workers and 1 give different results")
	}
}

func scored(ns ...hooks.Neuron) []hooks.ScoredNeuron {
	out := make([]hooks.ScoredNeuron, len(ns))
	for i, n := range ns {
		out[i] = hooks.ScoredNeuron{Neuron: n, Score: float64(len(ns) - i)}
	}
	return out
}

// Patching the whole residual stream into the corrupted run restores the clean run: recovered 1.
func TestPatchExperiment(t *testing.T) {
	m := tinyModel(t)
	pairs := &ablate.PairSet{Source: "p"}
	rng := rand.New(rand.NewPCG(8, 9))
	for i := 0; i < 8; i++ {
		n := 3 + rng.IntN(4)
		clean, corrupt := make([]int, n), make([]int, n)
		for j := range clean {
			clean[j] = rng.IntN(m.Config.DVocab)
			corrupt[j] = clean[j]
		}
		corrupt[1] = (clean[1] + 1) % m.Config.DVocab
		pairs.Items = append(pairs.Items, ablate.Pair{ID: "p", Clean: clean, Corrupt: corrupt, Answer: 7, Foil: -1})
	}
	cat := m.Catalog()
	out, verifs, err := ablate.PatchExperiment(m, pairs, ablate.PatchOptions{Sites: []ablate.PatchSite{
		ablate.PointSite(cat, hooks.At(1, hooks.ResidPost)),
		{Name: "two", Neurons: []hooks.Neuron{post(0, 1), post(0, 2)}, Controls: true},
	}, Random: 3, Resamples: 100})
	if err != nil {
		t.Fatal(err)
	}
	if out.Clean == out.Corrupt {
		t.Fatal("corrupting a token changed nothing")
	}
	if r := out.Sites[0].Recovered; math.Abs(r-1) > 1e-6 {
		t.Errorf("patching the last residual stream recovers %v, want 1", r)
	}
	if verifs[0] != nil || verifs[1] == nil || verifs[1].Random.N != 3 {
		t.Errorf("verifications %v", verifs)
	}
	back, _, err := ablate.PatchExperiment(m, pairs, ablate.PatchOptions{Back: true, Sites: []ablate.PatchSite{ablate.PointSite(cat, hooks.At(1, hooks.ResidPost))}})
	if err != nil || math.Abs(back.Sites[0].Recovered-1) > 1e-6 {
		t.Errorf("noising with the whole residual stream destroys %v (err %v), want 1", back.Sites[0].Recovered, err)
	}
}

// A sweep tries each k of the grid below the set's size, and the size.
func TestSweep(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 45)
	e, _ := ablate.NewEval(m, set, nil, ablate.EvalOptions{})
	g := hooks.NeuronGroup{Name: "r1", Neurons: scored(post(1, 1), post(1, 2), post(0, 3), post(0, 4), post(0, 5), post(1, 6), post(1, 7))}
	sw, v, err := ablate.Sweep(e, g, ablate.SweepOptions{MatrixOptions: ablate.MatrixOptions{Key: "relation", Random: 2, Resamples: 50}, Target: "r1", Ks: []int{2, 5, 50}})
	if err != nil {
		t.Fatal(err)
	}
	var ks []int
	for _, p := range sw.Points {
		ks = append(ks, p.K)
		if p.Random.N != 2 || p.P <= 0 {
			t.Errorf("k %d: %+v", p.K, p)
		}
	}
	if !slices.Equal(ks, []int{2, 5, 7}) || v == nil || v.Experiment != "sweep" {
		t.Errorf("ks %v, verification %+v", ks, v)
	}
	if _, _, err := ablate.Sweep(e, g, ablate.SweepOptions{MatrixOptions: ablate.MatrixOptions{Key: "relation"}, Target: "r9"}); err == nil {
		t.Error("a target that is no group accepted")
	}
}

// Zeroing a gated MLP's gate pre-activation (mlp.hook_pre) zeroes that neuron's output
// exactly, as zeroing mlp.hook_post does (silu(0)·up = 0); any other value at hook_pre goes
// through the nonlinearity and the up projection, so scaling there is a different experiment.
func TestGatePreAndPostTaps(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 10)
	b := leftBatch(t, set, []int{0, 1, 2, 3})
	pre := []hooks.Neuron{hooks.NeuronAt(1, hooks.MLPPre, 5), hooks.NeuronAt(0, hooks.MLPPre, 9)}
	postN := []hooks.Neuron{post(1, 5), post(0, 9)}
	logits := func(iv ablate.Intervention) []float32 {
		opts, err := iv.Hooks(b)
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Forward(b.Batch, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return res.Logits.Data
	}
	if !reflect.DeepEqual(logits(ablate.ZeroAt(pre, ablate.AllPositions)), logits(ablate.ZeroAt(postN, ablate.AllPositions))) {
		t.Error("zeroing the gate pre-activation differs from zeroing hook_post")
	}
	if reflect.DeepEqual(logits(&ablate.Scale{Neurons: pre, Factor: 2}), logits(&ablate.Scale{Neurons: postN, Factor: 2})) {
		t.Error("scaling the gate pre-activation ×2 equals scaling hook_post ×2")
	}
}
