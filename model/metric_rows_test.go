package model

import (
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
)

// TestEachRow: a per-row metric over a left-padded batch is the sum of each row's own metric;
// row r's part of the value and of the gradient equal those of a single-row metric for row r
// with its own token; bad per-row metrics are errors.
func TestEachRow(t *testing.T) {
	m := tinyModels(t)["llama"]
	b, _ := NewBatch(prompts, PadLeft, 0)
	last := b.Len - 1
	toks := []int{7, 11, 3}
	p := hooks.At(0, hooks.MLPPre)
	for _, kind := range []MetricKind{ProbMetric, LogProbMetric, LogitMetric} {
		all, err := m.Gradient(b, EachRow(kind, last, toks), []hooks.Point{p})
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for r, tok := range toks {
			one, err := m.Gradient(b, Metric{Kind: kind, Row: r, Pos: last, Tokens: []int{tok}}, []hooks.Point{p})
			if err != nil {
				t.Fatal(err)
			}
			sum += one.Value
			if math.Abs(all.Rows[r]-one.Value) > 1e-6*math.Max(1, math.Abs(one.Value)) {
				t.Errorf("%v row %d: value %g, alone %g", kind, r, all.Rows[r], one.Value)
			}
			w := len(all.Grads[p].Data) / b.Size
			if d := maxDiff(all.Grads[p].Data[r*w:(r+1)*w], one.Grads[p].Data[r*w:(r+1)*w]); d > 1e-6 {
				t.Errorf("%v row %d: gradient differs by %g from the row's own", kind, r, d)
			}
		}
		if math.Abs(all.Value-sum) > 1e-6*math.Max(1, math.Abs(sum)) {
			t.Errorf("%v: value %g, Σ rows %g", kind, all.Value, sum)
		}
	}
	for _, bad := range []Metric{EachRow(LogitDiffMetric, last, toks), EachRow(ProbMetric, last, toks[:2]), EachRow(ProbMetric, last, []int{1, 2, 999}),
		EachRow(ProbMetric, 0, toks), {Kind: ProbMetric, Row: 0, Pos: last, Tokens: toks, PerRow: true}} {
		if _, err := m.Gradient(b, bad, []hooks.Point{p}); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}
