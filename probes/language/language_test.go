package language

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

// probs builds a Probabilities from per-neuron vectors: rows[l*width+i] holds neuron (l, i)'s
// probability in each group.
func probs(groups []string, layers, width int, rows [][]float32) *Probabilities {
	G := len(groups)
	p := &Probabilities{Groups: groups, Tap: "mlp.hook_pre", Layers: layers, Width: width, P: make([]float32, G*layers*width)}
	for f, r := range rows {
		for g, v := range r {
			p.P[g*layers*width+f] = v
		}
	}
	return p
}

func flatSet(ns []Neuron, width int) []int {
	var out []int
	for _, n := range ns {
		out = append(out, n.Layer*width+n.Index)
	}
	return out
}

func TestTopKMatchesTorch(t *testing.T) {
	var ref struct {
		Torch string
		Cases []struct {
			K       int
			Values  string
			Indices []int
		}
	}
	readJSON(t, "testdata/topk_reference.json", &ref)
	partial, nth := 0, 0
	for c, tc := range ref.Cases {
		v := make([]float64, len(tc.Values))
		for i, ch := range tc.Values {
			v[i] = float64(ch - '0')
			if ch == '9' {
				v[i] = math.Inf(1)
			}
		}
		got := torchSmallest(v, tc.K)
		slices.Sort(got)
		if !slices.Equal(got, tc.Indices) {
			t.Errorf("case %d (n=%d k=%d): got %v, torch %s returns %v", c, len(v), tc.K, got, ref.Torch, tc.Indices)
		}
		if tc.K*64 <= len(v) {
			partial++
		} else {
			nth++
		}
	}
	if partial < 20 || nth < 20 {
		t.Fatalf("reference covers %d partial_sort and %d nth_element cases; want both", partial, nth)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestPublishedReference runs both finders on small random inputs full of exact ties and
// all-zero neurons and compares with the published procedures run in torch
// (testdata/gen_language_reference.py).
func TestPublishedReference(t *testing.T) {
	var ref struct {
		Cases []struct {
			Groups, Layers, Width int
			Pool                  [][]float64
			Pick                  []int
			Lambda                float64
			Runs                  []struct {
				TopRate           float64 `json:"top_rate"`
				Rate              float64
				LAPESelected      []int   `json:"lape_selected"`
				LAPEBar           float64 `json:"lape_bar"`
				AlignmentSelected []int   `json:"alignment_selected"`
				AlignmentBar      float64 `json:"alignment_bar"`
			}
		}
	}
	readJSON(t, "testdata/language_reference.json", &ref)
	for c, tc := range ref.Cases {
		groups := make([]string, tc.Groups)
		for g := range groups {
			groups[g] = "g" + strconv.Itoa(g)
		}
		rows := make([][]float32, len(tc.Pick))
		for f, k := range tc.Pick {
			for _, v := range tc.Pool[k] {
				rows[f] = append(rows[f], float32(v))
			}
		}
		p := probs(groups, tc.Layers, tc.Width, rows)
		for _, run := range tc.Runs {
			name := func(m string) string {
				return m + " case " + strconv.Itoa(c) + " top " + strconv.FormatFloat(run.TopRate, 'g', -1, 64) + " rate " + strconv.FormatFloat(run.Rate, 'g', -1, 64)
			}
			l, err := LAPE(p, LAPEOptions{TopRate: run.TopRate, FilterRate: run.Rate, BarRatio: run.Rate})
			if err != nil {
				t.Fatal(err)
			}
			if got := flatSet(l.Selected, p.Width); !slices.Equal(got, run.LAPESelected) {
				t.Errorf("%s: selected %v, published %v", name("LAPE"), got, run.LAPESelected)
			}
			if float64(l.Settings.BarThreshold) != run.LAPEBar {
				t.Errorf("%s: bar %v, published %v", name("LAPE"), l.Settings.BarThreshold, run.LAPEBar)
			}
			a, err := Alignment(p, AlignmentOptions{TopRate: run.TopRate, BarRatio: run.Rate, Lambda: tc.Lambda})
			if err != nil {
				t.Fatal(err)
			}
			if got := flatSet(a.Selected, p.Width); !slices.Equal(got, run.AlignmentSelected) {
				t.Errorf("%s λ=%g: selected %v, published %v", name("alignment"), tc.Lambda, got, run.AlignmentSelected)
			}
			if float64(a.Settings.BarThreshold) != run.AlignmentBar {
				t.Errorf("%s: bar %v, published %v", name("alignment"), a.Settings.BarThreshold, run.AlignmentBar)
			}
		}
	}
}

// handMade is 2 groups × 2 layers × 4 neurons. Sorted, its 16 probabilities are
// 0 0 0 0 0.05 0.1 0.1 0.2 | 0.3 0.3 0.5 0.5 0.6 0.7 0.8 0.9, so rate 0.5 → τ = 0.2 (8th).
func handMade() *Probabilities {
	return probs([]string{"en", "de"}, 2, 4, [][]float32{
		{0.9, 0.1}, // L0 N0: H = 0.325
		{0, 0},     // L0 N1: all zero, H = 0 (NaN → 0), filtered → +Inf
		{0.5, 0.5}, // L0 N2: H = ln 2
		{0.8, 0},   // L0 N3: H = 0
		{0, 0.7},   // L1 N0: H = 0
		{0.3, 0.3}, // L1 N1: H = ln 2
		{0.2, 0.6}, // L1 N2: H = H(1/4, 3/4) = 0.562
		{0.1, 0.05} /* L1 N3: nothing > 0.2: filtered */})
}

func TestLAPEHandMade(t *testing.T) {
	p := handMade()
	h := make([]float64, 8)
	LAPEEntropy(h, p)
	a, b := float64(float32(0.9)), float64(float32(0.1))
	want := []float64{-(a/(a+b))*math.Log(a/(a+b)) - (b/(a+b))*math.Log(b/(a+b)), 0, math.Ln2, 0, 0, math.Ln2, 0, 0}
	c, d := float64(float32(0.2)), float64(float32(0.6))
	want[6] = -(c/(c+d))*math.Log(c/(c+d)) - (d/(c+d))*math.Log(d/(c+d))
	a, b = float64(float32(0.1)), float64(float32(0.05))
	want[7] = -(a/(a+b))*math.Log(a/(a+b)) - (b/(a+b))*math.Log(b/(a+b))
	for f := range h {
		if math.Abs(h[f]-want[f]) > 1e-15 {
			t.Errorf("entropy of neuron %d = %v, want %v", f, h[f], want[f])
		}
	}

	// K = round(0.375·8) = 3: the two H = 0 neurons that pass the filter, then L0 N0.
	s, err := LAPE(p, LAPEOptions{TopRate: 0.375, FilterRate: 0.5, BarRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if s.Settings.K != 3 || s.Settings.FilterThreshold != 0.2 || s.Settings.BarThreshold != 0.2 || s.Settings.Filtered != 2 || s.Settings.FilterRank != 8 {
		t.Fatalf("settings %+v", s.Settings)
	}
	if got := flatSet(s.Selected, 4); !slices.Equal(got, []int{0, 3, 4}) {
		t.Fatalf("selected %v, want [0 3 4] (L0N0, L0N3, L1N0)", got)
	}
	if got := flatSet(s.ByGroup[0], 4); !slices.Equal(got, []int{0, 3}) {
		t.Errorf("en: %v, want [0 3]", got)
	}
	if got := flatSet(s.ByGroup[1], 4); !slices.Equal(got, []int{4}) {
		t.Errorf("de: %v, want [4]", got)
	}
	if !slices.Equal(s.Multiplicity, []int{0, 3, 0}) || s.Specific() != 3 || s.Related() != 0 || s.Agnostic() != 0 {
		t.Errorf("multiplicity %v", s.Multiplicity)
	}
	if !slices.Equal(s.PerLayer[0], []int{2, 0}) || !slices.Equal(s.PerLayer[1], []int{0, 1}) {
		t.Errorf("per layer %v", s.PerLayer)
	}

	// K = 7 needs one of the two filtered (+Inf) neurons; with 7·64 > 8 torch uses
	// std::nth_element, which keeps L1 N3 (flat 7) and drops the all-zero L0 N1 (torch 1.13
	// running identify.py's procedure returns the same set).
	// Assignment needs p > τ: L0 N2 (0.5, 0.5) and L1 N1 (0.3, 0.3) go to both groups.
	s, err = LAPE(p, LAPEOptions{TopRate: 0.875, FilterRate: 0.5, BarRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if got := flatSet(s.Selected, 4); !slices.Equal(got, []int{0, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("selected %v, want [0 2 3 4 5 6 7]", got)
	}
	if !math.IsInf(s.Selected[6].Score, 1) {
		t.Errorf("L1 N3 score %v, want +Inf", s.Selected[6].Score)
	}
	// L1 N3 (0.1, 0.05) is in no group; L1 N2 (0.2, 0.6) only in de (0.2 is not > 0.2).
	if !slices.Equal(s.Multiplicity, []int{1, 4, 2}) || s.Unique() != 6 || s.Assignments() != 8 || s.Agnostic() != 2 {
		t.Errorf("multiplicity %v unique %d assignments %d", s.Multiplicity, s.Unique(), s.Assignments())
	}
	b2, err := json.Marshal(s.Selected[6])
	if err != nil || string(b2) != `{"layer":1,"index":3,"score":null}` {
		t.Errorf("infinite score marshals as %s (%v)", b2, err)
	}
	var back Neuron
	if err := json.Unmarshal(b2, &back); err != nil || !math.IsInf(back.Score, 1) || back.Layer != 1 || back.Index != 3 {
		t.Errorf("round trip %+v %v", back, err)
	}
}

// TestLAPETieAtCutoff: with K·64 ≤ N torch uses std::partial_sort (a heap of the first K), so
// equal scores are resolved by the heap, traced here by hand. One neuron passes the filter
// (flat 100, H = 0); every other neuron has H = +Inf and K = 2. The heap starts as
// [n0, n1]; make_heap's sift-down moves n1 to the top; n100 < +Inf replaces the top, so the
// survivors are n0 and n100 (torch 1.13 agrees), where "lowest index wins" would also say n0
// but "first K in index order" would keep n1.
func TestLAPETieAtCutoff(t *testing.T) {
	rows := make([][]float32, 128)
	for f := range rows {
		rows[f] = []float32{0.01, 0.01}
	}
	rows[100] = []float32{0.9, 0}
	p := probs([]string{"en", "de"}, 2, 64, rows)
	s, err := LAPE(p, LAPEOptions{TopRate: 2.0 / 128, FilterRate: 0.99, BarRatio: 0.99})
	if err != nil {
		t.Fatal(err)
	}
	if s.Settings.K != 2 || s.Settings.Filtered != 127 {
		t.Fatalf("settings %+v", s.Settings)
	}
	if got := flatSet(s.Selected, 64); !slices.Equal(got, []int{0, 100}) {
		t.Errorf("selected %v, want [0 100]", got)
	}
	if got := flatSet(s.ByGroup[0], 64); !slices.Equal(got, []int{100}) || len(s.ByGroup[1]) != 0 {
		t.Errorf("groups %v", s.ByGroup)
	}
	// en has neurons, de (the last group) none: LAPE's saved file would hold 1 list.
	if s.PublishedLAPEGroups() != 1 {
		t.Errorf("PublishedLAPEGroups = %d, want 1", s.PublishedLAPEGroups())
	}
}

func TestAlignmentHandMade(t *testing.T) {
	p := probs([]string{"en", "de", "fr"}, 1, 4, [][]float32{
		{0, 0, 0},       // all zero: uniform p̂, entropy exactly 1, max 0
		{0.6, 0, 0},     // one language: entropy from the 1e-12 clamps only
		{0.2, 0.2, 0.4}, // p̂ = (¼, ¼, ½)
		{0.9, 0.9, 0.9}, // uniform, max 0.9
	})
	e, m := make([]float64, 4), make([]float64, 4)
	AlignmentTerms(e, m, p)
	// one language: q = (1, 1e-12, 1e-12)/Σ, the sum taken in group order (its last bit
	// matters: ln q_1 ≈ −2e-12 is sensitive to it)
	qs := 1.0
	qs += 1e-12
	qs += 1e-12
	q1, q0 := 1/qs, 1e-12/qs
	wantOne := -(q1*math.Log(q1+1e-30) + 2*q0*math.Log(q0+1e-30)) / math.Log(3)
	two, four := float64(float32(0.2)), float64(float32(0.4))
	a, c := two/(two+two+four), four/(two+two+four)
	wantMix := -(2*a*math.Log(a) + c*math.Log(c)) / math.Log(3)
	for f, w := range []float64{1, wantOne, wantMix, 1} {
		if math.Abs(e[f]-w) > 1e-13*w+1e-16 {
			t.Errorf("entropy term of neuron %d = %.17g, want %.17g", f, e[f], w)
		}
	}
	if !slices.Equal(m, []float64{0, float64(float32(0.6)), float64(float32(0.4)), float64(float32(0.9))}) {
		t.Errorf("max terms %v", m)
	}
	if got := NormMax(3); got != 0.611111111111111 { // Python: sum(1/k for k in 1..3)/3
		t.Errorf("NormMax(3) = %v", got)
	}
	if got := NormMax(10); got != 0.2928968253968254 { // Python's value
		t.Errorf("NormMax(10) = %v", got)
	}
	// λ = 0.15: scores 1, 1.5e-11−0.15·0.6/nm, 0.946−0.15·0.4/nm, 1−0.15·0.9/nm (nm = 0.6111):
	// the one-language neuron, then the uniform 0.9 one (0.779) before the mixed one (0.848).
	s, err := Alignment(p, AlignmentOptions{TopRate: 0.5, BarRatio: 0.5, Lambda: 0.15})
	if err != nil {
		t.Fatal(err)
	}
	if got := flatSet(s.Selected, 4); !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("selected %v, want [1 3]", got)
	}
	if want := float64(float32(e[3] - m[3]*0.15/NormMax(3))); s.Selected[1].Score != want {
		t.Errorf("score %v, want the float32-rounded %v", s.Selected[1].Score, want)
	}
	// τ = 6th smallest of (0 0 0 .6 0 0 .2 .2 .4 .9 .9 .9) = 0.2: neuron 1 → en, neuron 3 → all.
	if !slices.Equal(s.Multiplicity, []int{0, 1, 0, 1}) || s.Agnostic() != 1 || s.Settings.BarThreshold != 0.2 {
		t.Errorf("multiplicity %v, bar %v", s.Multiplicity, s.Settings.BarThreshold)
	}
	// λ = 0: lowest entropies are the one-language and the mixed neuron.
	s, _ = Alignment(p, AlignmentOptions{TopRate: 0.5, BarRatio: 0.5})
	if got := flatSet(s.Selected, 4); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("λ=0 selected %v, want [1 2]", got)
	}
}

// sweepCase: 2 groups, 2 neurons, K = 1, bar τ = 0.1 (the smallest of 4 probabilities).
// A = (0.3, 0.1) is specific to group 0; B = (1.0, b) is active in both. Their scores are
// H_A − λ·0.3/0.75 and H_B − λ·1/0.75 (NormMax(2) = 0.75), so A is selected, and
// Multiplicity[2] = 0, exactly while λ < λc = (H_B − H_A)·0.75/0.7.
func sweepCase(b float32) (*Probabilities, float64) {
	p := probs([]string{"x", "y"}, 1, 2, [][]float32{{0.3, 0.1}, {1.0, b}})
	e, m := make([]float64, 2), make([]float64, 2)
	AlignmentTerms(e, m, p)
	return p, (e[1] - e[0]) / ((m[1] - m[0]) / 0.75)
}

func TestSweepLambdaKnown(t *testing.T) {
	p, lc := sweepCase(0.8)
	if lc < 0.19 || lc > 0.195 {
		t.Fatalf("λc = %v, the construction expects ≈ 0.1926", lc)
	}
	sw, err := SweepLambda(p, AlignmentOptions{TopRate: 0.5, BarRatio: 0.25}, SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The bisection on [0, 0.2] ends on the largest grid point 0.2·j/256 below λc.
	j := math.Floor(lc / 0.2 * 256)
	if !sw.Found || math.Abs(sw.Lambda-0.2*j/256) > 1e-15 || j != 246 {
		t.Fatalf("λ* = %v (found %v), want 0.2·%v/256 = %v", sw.Lambda, sw.Found, j, 0.2*j/256)
	}
	if len(sw.Steps) != 10 {
		t.Errorf("%d evaluations, want lo, hi and 8 midpoints", len(sw.Steps))
	}
	if got := flatSet(sw.Selection.Selected, 2); !slices.Equal(got, []int{0}) || sw.Selection.Settings.Lambda != sw.Lambda {
		t.Errorf("selection at λ*: %v (λ %v)", got, sw.Selection.Settings.Lambda)
	}
	for _, st := range sw.Steps {
		if st.Pass != (st.Lambda < lc) {
			t.Errorf("λ=%v pass=%v, but λc=%v", st.Lambda, st.Pass, lc)
		}
	}
}

// TestSweepLambdaOverwrite: when every λ passes (hi = 0.2 included), the published search still
// ends on the last passing midpoint, 0.2·255/256, not on hi.
func TestSweepLambdaOverwrite(t *testing.T) {
	p, lc := sweepCase(0.9)
	if lc <= 0.2 {
		t.Fatalf("λc = %v, the construction expects > 0.2", lc)
	}
	sw, err := SweepLambda(p, AlignmentOptions{TopRate: 0.5, BarRatio: 0.25}, SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !sw.Steps[1].Pass || sw.Steps[1].Lambda != 0.2 {
		t.Fatalf("hi step %+v should pass", sw.Steps[1])
	}
	if !sw.Found || math.Abs(sw.Lambda-0.2*255/256) > 1e-15 {
		t.Errorf("λ* = %v, want 0.2·255/256", sw.Lambda)
	}
}

func TestSweepLambdaNone(t *testing.T) {
	// B = (1.0, 0.5) has lower entropy than A = (0.3, 0.2) and a larger maximum: always selected.
	p := probs([]string{"x", "y"}, 1, 2, [][]float32{{0.3, 0.2}, {1.0, 0.5}})
	sw, err := SweepLambda(p, AlignmentOptions{TopRate: 0.5, BarRatio: 0.25}, SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sw.Found || sw.Selection != nil || len(sw.Steps) != 10 {
		t.Errorf("found %v λ %v steps %d", sw.Found, sw.Lambda, len(sw.Steps))
	}
}

// TestSweepPublishedAppear10: the published test reads appear[10], which does not exist for
// fewer than 10 groups, so nothing passes; the general test appear[K] passes.
func TestSweepPublishedAppear10(t *testing.T) {
	p, _ := sweepCase(0.8)
	sw, err := SweepLambda(p, AlignmentOptions{TopRate: 0.5, BarRatio: 0.25}, SweepOptions{PublishedAppear10: true})
	if err != nil {
		t.Fatal(err)
	}
	if sw.Found {
		t.Errorf("published appear[10] test passed with 2 groups (λ %v)", sw.Lambda)
	}
}

func TestOptionsErrors(t *testing.T) {
	p := handMade()
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"top rate", func() error { _, err := LAPE(p, LAPEOptions{TopRate: 1.5}); return err }, "top rate"},
		{"filter rate", func() error { _, err := LAPE(p, LAPEOptions{FilterRate: -1}); return err }, "filter rate"},
		{"tiny bar", func() error { _, err := Alignment(p, AlignmentOptions{BarRatio: 0.01}); return err }, "bar ratio 0.01 selects the 0-th"},
		{"lambda", func() error { _, err := Alignment(p, AlignmentOptions{Lambda: math.NaN()}); return err }, "lambda"},
		{"sweep", func() error { _, err := SweepLambda(p, AlignmentOptions{}, SweepOptions{Lo: 0.3, Hi: 0.1}); return err }, "lo < hi"},
		{"invalid probs", func() error {
			q := handMade()
			q.P[3] = 2
			_, err := LAPE(q, LAPEOptions{})
			return err
		}, "> 1"},
	} {
		if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestProbabilitiesFile(t *testing.T) {
	dir := t.TempDir()
	p := handMade()
	p.Tokens = []int64{100, 200}
	path := filepath.Join(dir, "p.safetensors")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	q, err := ReadProbabilities(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.Groups, p.Groups) || q.Tap != p.Tap || q.Counting != CountingAll || q.Layers != 2 || q.Width != 4 ||
		!slices.Equal(q.P, p.P) || !slices.Equal(q.Tokens, p.Tokens) {
		t.Fatalf("round trip: %+v", q)
	}

	write := func(name string, shape []int, data []float32, meta map[string]string, extra ...safetensors.WriteTensor) string {
		path := filepath.Join(dir, name+".safetensors")
		ts := append([]safetensors.WriteTensor{safetensors.F32(TensorName, shape, data)}, extra...)
		if err := safetensors.WriteFile(path, ts, meta); err != nil {
			t.Fatal(err)
		}
		return path
	}
	meta := func(langs string) map[string]string {
		return map[string]string{MetaLanguages: langs, MetaTap: "mlp.hook_pre"}
	}
	ok := slices.Clone(p.P)
	with := func(j int, v float32) []float32 { d := slices.Clone(ok); d[j] = v; return d }
	cases := []struct {
		name, path, want string
	}{
		{"rank", write("rank", []int{2, 8}, ok, meta("en,de")), "want rank 3"},
		{"nan", write("nan", []int{2, 2, 4}, with(5, float32(math.NaN())), meta("en,de")), `group "en" layer 1 neuron 1: probability is NaN`},
		{"negative", write("neg", []int{2, 2, 4}, with(9, -0.5), meta("en,de")), `group "de" layer 0 neuron 1: probability -0.5 < 0`},
		{"above one", write("big", []int{2, 2, 4}, with(0, 1.5), meta("en,de")), "probability 1.5 > 1"},
		{"inf", write("inf", []int{2, 2, 4}, with(0, float32(math.Inf(1))), meta("en,de")), "+Inf"},
		{"names mismatch", write("names", []int{2, 2, 4}, ok, meta("en,de,fr")), "names 3 groups"},
		{"duplicate", write("dup", []int{2, 2, 4}, ok, meta("en,en")), `"en" appears twice`},
		{"empty name", write("empty", []int{2, 2, 4}, ok, meta("en,")), "empty name"},
		{"one group", write("one", []int{1, 2, 4}, ok[:8], meta("en")), "at least 2 groups"},
		{"no languages", write("nolang", []int{2, 2, 4}, ok, map[string]string{MetaTap: "x"}), `no "languages" key`},
		{"extra tensor", write("extra", []int{2, 2, 4}, ok, meta("en,de"), safetensors.F32("other", []int{1}, []float32{0})), "exactly one tensor"},
		{"bad tokens", write("tok", []int{2, 2, 4}, ok, map[string]string{MetaLanguages: "en,de", MetaTokens: "1,x"}), "not a token count"},
		{"bad counting", write("counting", []int{2, 2, 4}, ok, map[string]string{MetaLanguages: "en,de", MetaCounting: "some"}), "counting"},
		{"missing", filepath.Join(dir, "nope.safetensors"), "nope.safetensors"},
	}
	for _, tc := range cases {
		_, err := ReadProbabilities(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(tc.path)) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", tc.name, err, tc.want)
		}
	}
	// Response-only statistics may exceed 1.
	resp := write("resp", []int{2, 2, 4}, with(0, 1.001), map[string]string{MetaLanguages: "en,de", MetaCounting: CountingResponse})
	if _, err := ReadProbabilities(resp); err != nil {
		t.Errorf("response-only file with 1.001: %v", err)
	}
	// An invalid Probabilities writes nothing.
	bad := handMade()
	bad.Groups = []string{"a,b", "c"}
	if err := bad.WriteFile(filepath.Join(dir, "bad.safetensors")); err == nil || !strings.Contains(err.Error(), "comma") {
		t.Errorf("writing a name with a comma: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.safetensors")); !os.IsNotExist(err) {
		t.Errorf("an invalid write left a file: %v", err)
	}
}

func TestCountPositive(t *testing.T) {
	x := []float32{1, 0, float32(math.Copysign(0, -1)), -1, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, 1e-30}
	dst := make([]int64, len(x))
	countPositive(dst, x)
	for i, v := range x {
		want := int64(0)
		if v > 0 {
			want = 1
		}
		if dst[i] != want {
			t.Errorf("x=%v counted %d, want %d", v, dst[i], want)
		}
	}
	// Bit-pattern sweep: every 2^20-th float32 pattern against the comparison.
	for b := uint64(0); b < 1<<32; b += 1<<20 - 1 {
		v := math.Float32frombits(uint32(b))
		d := []int64{0}
		countPositive(d, []float32{v})
		if (d[0] == 1) != (v > 0) {
			t.Fatalf("bits %#x (%v): counted %d", b, v, d[0])
		}
	}
}

func TestCountsBatchEqualsOneAtATime(t *testing.T) {
	groups := []string{"en", "de"}
	batch, _ := NewCounts(groups, "mlp.hook_pre", 2, 3)
	single, _ := NewCounts(groups, "mlp.hook_pre", 2, 3)
	acts := []float32{1, -1, 0, 2, 3, -4, 0.5, 0, -0.1, 1, 1, 1} // 4 tokens × 3 neurons
	for l := 0; l < 2; l++ {
		batch.AddLayer(1, l, acts, 4)
		for r := 0; r < 4; r++ {
			single.AddLayer(1, l, acts[r*3:(r+1)*3], 1)
		}
	}
	batch.AddTokens(1, 4)
	single.AddTokens(1, 4)
	if !slices.Equal(batch.Positive, single.Positive) || !slices.Equal(batch.Tokens, single.Tokens) {
		t.Fatalf("batch %v single %v", batch.Positive, single.Positive)
	}
	if want := []int64{0, 0, 0, 0, 0, 0, 4, 2, 1, 4, 2, 1}; !slices.Equal(batch.Positive, want) {
		t.Errorf("counts %v, want %v", batch.Positive, want)
	}
	batch.AddTokens(0, 1)
	if err := batch.Merge(single); err != nil {
		t.Fatal(err)
	}
	if batch.Positive[6] != 8 || batch.Tokens[1] != 8 {
		t.Errorf("merge: %v %v", batch.Positive, batch.Tokens)
	}
	p, err := batch.Probabilities()
	if err != nil {
		t.Fatal(err)
	}
	if p.At(1, 0, 0) != 1 || p.At(1, 0, 1) != 0.5 || p.At(0, 1, 2) != 0 {
		t.Errorf("probabilities %v", p.P)
	}
	other, _ := NewCounts([]string{"en", "fr"}, "mlp.hook_pre", 2, 3)
	if err := batch.Merge(other); err == nil {
		t.Error("merging different groups succeeded")
	}
	empty, _ := NewCounts(groups, "x", 1, 1)
	if _, err := empty.Probabilities(); err == nil || !strings.Contains(err.Error(), `"en" has no tokens`) {
		t.Errorf("no tokens: %v", err)
	}
	if _, err := NewCounts([]string{"en"}, "x", 1, 1); err == nil {
		t.Error("one group accepted")
	}
}

// TestProbabilitiesFloat32 checks the division against torch (integer tensors divided: both
// rounded to float32 first): values printed by torch 1.13.
func TestProbabilitiesFloat32(t *testing.T) {
	for _, tc := range []struct {
		c, n int64
		want float32
	}{
		{16777217, 99999744, 0.1677725911140442}, // 16777217 rounds to 16777216 first
		{33554435, 99999744, 0.33554521203041077},
		{1, 3, 0.3333333432674408},
		{12345678, 87654321, 0.14084506034851074},
	} {
		if got := ratio32(tc.c, tc.n); got != tc.want {
			t.Errorf("%d/%d = %v, torch gives %v", tc.c, tc.n, got, tc.want)
		}
	}
}

func TestResponseProbabilities(t *testing.T) {
	groups := []string{"en", "de"}
	full, _ := NewCounts(groups, "mlp.hook_pre", 1, 2)
	prefix, _ := NewCounts(groups, "mlp.hook_pre", 1, 2)
	copy(full.Positive, []int64{10, 3, 7, 9})
	copy(prefix.Positive, []int64{4, 5, 1, 0})
	full.Tokens = []int64{12, 10}
	prefix.Tokens = []int64{6, 2}
	p, err := ResponseProbabilities(full, prefix)
	if err != nil {
		t.Fatal(err)
	}
	// en: (10−4)/6 = 1, max(3−5, 0)/6 = 0; de: 6/8, 9/8 (above 1, kept)
	if want := []float32{1, 0, 0.75, 1.125}; !slices.Equal(p.P, want) {
		t.Errorf("P = %v, want %v", p.P, want)
	}
	if p.Counting != CountingResponse || !slices.Equal(p.Tokens, []int64{6, 8}) || p.Validate() != nil {
		t.Errorf("counting %q tokens %v validate %v", p.Counting, p.Tokens, p.Validate())
	}
	prefix.Tokens[1] = 10
	if _, err := ResponseProbabilities(full, prefix); err == nil || !strings.Contains(err.Error(), `"de"`) {
		t.Errorf("no response tokens: %v", err)
	}
}
