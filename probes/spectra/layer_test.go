package spectra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
)

// axisRows returns activations whose sample covariance is diagonal with entries proportional
// to counts: counts[i] copies of +e_i and of −e_i (mean 0, scatter diag(2·counts)).
func axisRows(counts []int) ([]float32, int) {
	d := len(counts)
	var x []float32
	for i, m := range counts {
		for range m {
			for _, s := range []float32{1, -1} {
				row := make([]float32, d)
				row[i] = s
				x = append(x, row...)
			}
		}
	}
	return x, len(x) / d
}

func addAll(t *testing.T, c *Covariance, counts []int) {
	t.Helper()
	x, n := axisRows(counts)
	if err := c.Add(x, n); err != nil {
		t.Fatal(err)
	}
}

// TestAnalyzeAnalytic runs the whole pipeline (accumulate, eigenvalues, measures) on
// activations with the spectra of algorithms.md §9.
func TestAnalyzeAnalytic(t *testing.T) {
	p0 := NewPair(0, 4, Options{})
	addAll(t, p0.Pre, []int{8, 6, 4, 2})  // spectrum ∝ [4,3,2,1], N = 40
	addAll(t, p0.Post, []int{5, 5, 5, 5}) // uniform, N = 40
	p1 := NewPair(1, 4, Options{})
	addAll(t, p1.Pre, []int{20, 0, 0, 0}) // rank 1, N = 40
	addAll(t, p1.Post, []int{8, 6, 4, 2})
	rep, err := Analyze([]*Pair{p0, p1}, report.New(), AnalyzeOptions{KeepEigenvalues: true})
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("%s = %.7f, want %.7f", what, got, want)
		}
	}
	l0, l1 := rep.Layers[0], rep.Layers[1]
	near("L0 pre SE", l0.Pre.SE, 1.279854)
	near("L0 pre PR", l0.Pre.PR, 10.0/3)
	near("L0 pre EEE", l0.Pre.EEE, 0.25)
	near("L0 post SE", l0.Post.SE, math.Log(4))
	near("L0 post PR", l0.Post.PR, 4)
	near("L0 post EEE", l0.Post.EEE, 0)
	near("L0 JS", l0.JS, 0.0278656)
	near("L0 PR gain", l0.PRGain, 1.2)
	near("L0 EEE diff", l0.EEEDiff, -0.25)
	near("L1 pre SE", l1.Pre.SE, 0)
	near("L1 pre PR", l1.Pre.PR, 1)
	near("L1 pre EEE", l1.Pre.EEE, 0.75)
	near("mean SE pre", rep.Summary.SEPre, 1.279854/2)
	if l1.Pre.AtFloor != 3 || l1.Pre.NumericalRank != 1 || l1.Pre.RankBound != 4 {
		t.Errorf("rank-1 side: at floor %d, numerical rank %d, bound %d", l1.Pre.AtFloor, l1.Pre.NumericalRank, l1.Pre.RankBound)
	}
	// Eigenvalues of the covariance itself: 2·counts/(N−1).
	for i, m := range []float64{8, 6, 4, 2} {
		near("L0 pre eigenvalue", l0.Pre.Eigenvalues[i], 2*m/39)
	}
	if l0.Pre.Point != "blocks.0.mlp.hook_pre" || l1.Post.Point != "blocks.1.mlp.hook_post" || l0.Pre.Tokens != 40 {
		t.Errorf("sides: %+v", l0.Pre)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("unexpected warnings %q", rep.Warnings)
	}
	// The JSON form carries NerVE's names.
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"schema":"neuronscope.spectra/v1"`, `"se":`, `"pr":`, `"eee":`, `"js":`, `"pr_gain":`, `"eee_diff":`, `"rank_bound":`, `"pr_gain_mean":`} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil || back.Layers[1].Pre.EEE != l1.Pre.EEE {
		t.Errorf("JSON round trip: %v", err)
	}
}

func TestRankWarning(t *testing.T) {
	p := NewPair(3, 8, Options{})
	x := testRows(9, 3, 8)
	for _, c := range []*Covariance{p.Pre, p.Post} {
		if err := c.Add(x, 3); err != nil {
			t.Fatal(err)
		}
	}
	l, err := p.Measure(AnalyzeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Pre.RankBound != 2 || l.Pre.NumericalRank != 2 || l.Pre.AtFloor != 6 {
		t.Errorf("3 tokens, width 8: bound %d, numerical rank %d, at floor %d", l.Pre.RankBound, l.Pre.NumericalRank, l.Pre.AtFloor)
	}
	if len(l.Warnings) != 2 || !strings.Contains(l.Warnings[0], "3 tokens ≤ width 8") || !strings.Contains(l.Warnings[0], "blocks.3.mlp.hook_pre") {
		t.Errorf("warnings %q", l.Warnings)
	}
	if _, err := Analyze(nil, report.Provenance{}, AnalyzeOptions{}); err == nil {
		t.Error("Analyze of no layers: no error")
	}
	if _, err := NewPair(0, 4, Options{}).Measure(AnalyzeOptions{}); err == nil || !strings.Contains(err.Error(), "hook_pre") {
		t.Errorf("empty layer: %v", err)
	}
}

func TestPlot(t *testing.T) {
	layers := make([]Layer, 4)
	for i := range layers {
		f := float64(i)
		layers[i] = Layer{Layer: i, Pre: Side{Measures: Measures{SE: 1 + f, PR: 2 + f, EEE: 0.5 - 0.1*f}},
			Post: Side{Measures: Measures{SE: 2 + f, PR: 5 + f, EEE: 0.3 - 0.05*f}}, JS: 0.01 * f}
	}
	dir := t.TempDir()
	for _, name := range []string{"spectra.png", "spectra.svg"} {
		path := filepath.Join(dir, name)
		if err := SavePlot(path, layers); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".png") {
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 700 {
				t.Errorf("PNG is %v", b)
			}
		} else if !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, []byte("Participation ratio")) {
			t.Errorf("SVG lacks <svg or a panel title (%d bytes)", len(data))
		}
	}
	if err := SavePlot(filepath.Join(dir, "x.gif"), layers); err == nil {
		t.Error("gif accepted")
	}
	if err := SavePlot(filepath.Join(dir, "none.png"), nil); err == nil {
		t.Error("empty plot accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "none.png")); !os.IsNotExist(err) {
		t.Error("a failed plot left a file behind")
	}
}

// TestObservers runs a tiny random GPT-2 with the observers and checks the accumulators
// against the activations captured by the same forward pass.
func TestObservers(t *testing.T) {
	cfg, err := model.PresetConfig("gpt2-small")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NLayers, cfg.DModel, cfg.NHeads, cfg.NKVHeads, cfg.DHead, cfg.DMLP, cfg.DVocab, cfg.MaxPos = 2, 16, 2, 2, 8, 24, 50, 32
	m, err := model.NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	seqs := [][]int{{1, 2, 3, 4, 5, 6}, {7, 8, 9}} // right-padded: 3 padding positions
	bt, err := model.NewBatch(seqs, model.PadRight, 0)
	if err != nil {
		t.Fatal(err)
	}
	pairs := []*Pair{NewPair(0, 24, Options{}), NewPair(1, 24, Options{})}
	opts := append(Observers(pairs, func() []bool { return bt.Mask }), hooks.Capture("blocks.*.mlp.hook_pre", "blocks.*.mlp.hook_post"))
	res, err := m.Forward(bt, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for l, p := range pairs {
		for _, side := range []struct {
			name string
			c    *Covariance
		}{{fmt.Sprintf("blocks.%d.mlp.hook_pre", l), p.Pre}, {fmt.Sprintf("blocks.%d.mlp.hook_post", l), p.Post}} {
			act, ok := res.Cache.GetName(side.name)
			if !ok {
				t.Fatalf("%s not captured", side.name)
			}
			want := NewCovariance(24, Options{})
			if err := want.AddMasked(act.Data, bt.Mask); err != nil {
				t.Fatal(err)
			}
			if side.c.N() != 9 || want.N() != 9 {
				t.Fatalf("%s: %d tokens (want 9 unpadded)", side.name, side.c.N())
			}
			a, b := side.c.Scatter(nil), want.Scatter(nil)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("%s: scatter differs from the captured activations", side.name)
				}
			}
		}
	}
	if _, err := m.Forward(bt, Observers(pairs[:1], nil)...); err == nil || !strings.Contains(err.Error(), "blocks.1") {
		t.Errorf("missing layer: %v", err)
	}
}

func TestOneToken(t *testing.T) {
	p := NewPair(0, 3, Options{})
	for _, c := range []*Covariance{p.Pre, p.Post} {
		if err := c.Add([]float32{1, 2, 3}, 1); err != nil {
			t.Fatal(err)
		}
	}
	l, err := p.Measure(AnalyzeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Pre.RankBound != 0 || l.Pre.NumericalRank != 0 || l.Pre.AtFloor != 3 || len(l.Warnings) != 2 {
		t.Errorf("one token: %+v, warnings %q", l.Pre, l.Warnings)
	}
	// All eigenvalues at the floor: NerVE's 1e-12 guards dominate. λ̂ = 1e-12/(3e-12 + 1e-12)
	// = 1/4 each, so SE = ¾ ln 4 (not ln 3), and PR = (4e-12)²/(3e-24 + 1e-12) ≈ 1.6e-11
	// (below NerVE's nominal range [1, D]).
	if math.Abs(l.Pre.SE-0.75*math.Log(4)) > 1e-9 || math.Abs(l.Pre.PR-16e-24/(3e-24+1e-12)) > 1e-20 {
		t.Errorf("floor spectrum: SE %v PR %v", l.Pre.SE, l.Pre.PR)
	}
}
