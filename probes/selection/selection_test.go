package selection

import (
	"math"
	"slices"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// TestSimilarityByHand: r = {u0: 2, u2: 1}, p = [1, 1, 1, 0]: Σmin = 1+0+1+0 = 2,
// Σmax = 2+1+1+0 = 4, J = 0.5; identical profiles give 1, disjoint ones 0.
func TestSimilarityByHand(t *testing.T) {
	r := Profile{Units: []int32{0, 2}, Values: []float32{2, 1}}
	if got := Similarity(r, []float64{1, 1, 1, 0}); math.Abs(got-0.5) > 1e-15 {
		t.Errorf("J = %v, want 0.5", got)
	}
	if got := Similarity(r, []float64{2, 0, 1, 0}); math.Abs(got-1) > 1e-15 {
		t.Errorf("J(identical) = %v, want 1", got)
	}
	if got := Similarity(r, []float64{0, 3, 0, 1}); got != 0 {
		t.Errorf("J(disjoint) = %v, want 0", got)
	}
	if got := Similarity(Profile{}, make([]float64, 4)); got != 0 {
		t.Errorf("J(0, 0) = %v, want 0", got)
	}
}

// TestSparsify: the k largest (scaled) units in unit order, ties to the lower unit, zeros and
// zero-scale units dropped; Prototype is the mean profile.
func TestSparsify(t *testing.T) {
	act := []float32{
		1, 5, 5, 0, 2, // k=2: units 1, 2 (tie 5, 5)
		0, 0, 0, 0, 3, // only unit 4 is non-zero
		4, 4, 4, 4, 4, // all tied: units 0, 1
	}
	ps := Sparsify(act, 3, 5, nil, 2)
	want := []Profile{
		{Units: []int32{1, 2}, Values: []float32{5, 5}},
		{Units: []int32{4}, Values: []float32{3}},
		{Units: []int32{0, 1}, Values: []float32{4, 4}},
	}
	for i := range want {
		if !slices.Equal(ps[i].Units, want[i].Units) || !slices.Equal(ps[i].Values, want[i].Values) {
			t.Errorf("profile %d = %+v, want %+v", i, ps[i], want[i])
		}
	}
	// Scale: unit 1 has scale 0 (counts 0), unit 2 is halved, unit 4 divided by 0.5.
	sc := Sparsify(act[:5], 1, 5, []float64{1, 0, 2, 1, 0.5}, 2)[0]
	if !slices.Equal(sc.Units, []int32{2, 4}) || !slices.Equal(sc.Values, []float32{2.5, 4}) {
		t.Errorf("scaled profile %+v, want units [2 4] values [2.5 4]", sc)
	}
	proto := Prototype(ps, 5)
	if want := []float64{4.0 / 3, 3, 5.0 / 3, 0, 1}; !slices.Equal(proto, want) {
		t.Errorf("prototype %v, want %v", proto, want)
	}
}

// TestSelect: the highest scores first, ties to the lower index; n out of range is an error.
func TestSelect(t *testing.T) {
	proto := []float64{1, 1, 0}
	cands := []Profile{
		{Units: []int32{2}, Values: []float32{1}},             // 0
		{Units: []int32{0, 1}, Values: []float32{1, 1}},       // 1
		{Units: []int32{0}, Values: []float32{1}},             // 0.5
		{Units: []int32{1}, Values: []float32{1}},             // 0.5
		{Units: []int32{0, 1, 2}, Values: []float32{1, 1, 1}}, // 2/3
	}
	idx, scores, err := Select(cands, proto, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(idx, []int{1, 4, 2}) {
		t.Errorf("selected %v, want [1 4 2]", idx)
	}
	if math.Abs(scores[4]-2.0/3) > 1e-15 || scores[0] != 0 {
		t.Errorf("scores %v", scores)
	}
	for _, n := range []int{0, 6} {
		if _, _, err := Select(cands, proto, n); err == nil {
			t.Errorf("Select n=%d: no error", n)
		}
	}
}

// TestActivity: the rows are each example's max (or mean) |hook_post| after BOS, run alone,
// points concatenated in order.
func TestActivity(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 3)
	seqs := [][]int{{1, 4, 9, 2}, {1, 1, 7}, {3, 8, 8, 5}}
	pts := []hooks.Point{hooks.At(0, hooks.MLPPost), hooks.At(1, hooks.MLPPost)}
	w := m.Catalog().Width(pts[0])
	for _, meanPool := range []bool{false, true} {
		act, units, err := Activity(m, seqs, ActivityOptions{BOS: 1, MeanPool: meanPool, Batch: 2})
		if err != nil {
			t.Fatal(err)
		}
		if units != m.Config.NLayers*w {
			t.Fatalf("units %d, want %d", units, m.Config.NLayers*w)
		}
		for i, ids := range seqs {
			b, _ := model.NewBatch([][]int{ids}, model.PadRight, 0)
			res, err := m.Forward(b, hooks.CapturePoints(pts...))
			if err != nil {
				t.Fatal(err)
			}
			lo := 0
			for lo < len(ids) && ids[lo] == 1 {
				lo++
			}
			for pi, p := range pts {
				a, _ := res.Cache.Get(p)
				for j := range w {
					var want float64
					for tk := lo; tk < len(ids); tk++ {
						v := math.Abs(float64(a.Data[tk*w+j]))
						if meanPool {
							want += v / float64(len(ids)-lo)
						} else {
							want = max(want, v)
						}
					}
					if g := float64(act[i*units+pi*w+j]); math.Abs(g-want) > 1e-4*(1+want) {
						t.Fatalf("mean=%v example %d point %s unit %d: %g, alone %g", meanPool, i, p, j, g, want)
					}
				}
			}
		}
	}
	if _, _, err := Activity(m, nil, ActivityOptions{}); err == nil {
		t.Error("no examples: no error")
	}
	if _, _, err := Activity(m, [][]int{{1, 1}}, ActivityOptions{BOS: 1}); err == nil {
		t.Error("an example of only BOS: no error")
	}
}

// TestCompare: the exact permutation p-value and Cohen's d on hand-checked arms.
func TestCompare(t *testing.T) {
	// sel = {3, 4}, rnd = {1, 2}: diff 2; of the C(4,2) = 6 splits only {3,4} reaches 2 → p = 1/6.
	// Pooled sd: both arms have sd √0.5, pooled √0.5 → d = 2/√0.5 = 2√2.
	c, err := Compare([]float64{3, 4}, []float64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if c.Splits != 6 || math.Abs(c.P-1.0/6) > 1e-15 || c.Diff != 2 || math.Abs(c.CohenD-2*math.Sqrt2) > 1e-12 {
		t.Errorf("compare = %+v, want splits 6, p 1/6, diff 2, d 2√2", c)
	}
	// Reversed arms: every split has diff ≥ −2 → p = 1.
	if c, _ := Compare([]float64{1, 2}, []float64{3, 4}); c.P != 1 {
		t.Errorf("reversed p = %v, want 1", c.P)
	}
	// Ties: all equal → every split ties → p = 1, d = 0.
	if c, _ := Compare([]float64{1, 1, 1}, []float64{1, 1}); c.P != 1 || c.CohenD != 0 || c.Splits != 10 {
		t.Errorf("ties: %+v", c)
	}
	// Five against five: the best split of 252.
	c, _ = Compare([]float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5})
	if c.Splits != 252 || math.Abs(c.P-1.0/252) > 1e-15 {
		t.Errorf("5 vs 5: splits %d p %v, want 252, 1/252", c.Splits, c.P)
	}
	if _, err := Compare(nil, []float64{1}); err == nil {
		t.Error("empty arm: no error")
	}
	if _, err := Compare(make([]float64, 20), make([]float64, 20)); err == nil {
		t.Error("C(40,20) splits: no error")
	}
}
