package expertise

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

func labels(s string) []bool {
	out := make([]bool, len(s))
	for i, c := range s {
		out[i] = c == '1'
	}
	return out
}

// TestAveragePrecisionByHand: values worked out on paper from the definition (step
// interpolation; tied scores are one threshold).
func TestAveragePrecisionByHand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float32
		labels string
		want   float64
	}{
		// sklearn's docstring example: thresholds 0.8(+) 0.4(−) 0.35(+) 0.1(−):
		// ΔR·P = 0.5·1 + 0.5·(2/3)
		{"docstring", []float32{0.1, 0.4, 0.35, 0.8}, "0011", 0.5 + 0.5*2.0/3},
		// thresholds 1 {+,−}: P 1/2 R 1/3; 0.5 {+,−}: P 2/4 R 2/3; 0 {+}: P 3/5 R 1.
		// (Ranking positives first within ties would give (1 + 2/3 + 3/5)/3 = 0.756.)
		{"ties", []float32{1, 1, 0.5, 0.5, 0}, "10101", (0.5 + 0.5 + 0.6) / 3},
		// a single threshold: P = 2/5 at R = 1
		{"all tied", []float32{3, 3, 3, 3, 3}, "01010", 0.4},
		// −0 and +0 are one threshold: {+0(+), −0(−)} P 1/2 R 1
		{"signed zeros", []float32{0, float32(math.Copysign(0, -1))}, "10", 0.5},
		// perfect and worst separations
		{"perfect", []float32{5, 4, 1, 0}, "1100", 1},
		{"worst", []float32{0, 1, 4, 5}, "1100", 0.5*(1.0/3) + 0.5*(2.0/4)},
		{"all positive", []float32{2, 1}, "11", 1},
		{"one example", []float32{7}, "1", 1},
	} {
		got, err := AveragePrecision(tc.scores, labels(tc.labels))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("%s: AP %.17g, want %.17g", tc.name, got, tc.want)
		}
	}
}

func TestAveragePrecisionErrors(t *testing.T) {
	if _, err := AveragePrecision([]float32{1, 2}, labels("00")); !errors.Is(err, ErrNoPositives) {
		t.Errorf("no positives: %v", err)
	}
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		if _, err := AveragePrecision([]float32{1, v}, labels("10")); err == nil || !strings.Contains(err.Error(), "example 1") {
			t.Errorf("score %v: %v", v, err)
		}
	}
}

// TestAveragePrecisionMatchesSklearn compares bit for bit with sklearn on random data
// (testdata/gen_ap_reference.py).
func TestAveragePrecisionMatchesSklearn(t *testing.T) {
	var ref struct {
		Sklearn string
		Cases   []struct {
			K      []int64
			Scale  int
			Labels string
			AP     float64
		}
	}
	b, err := os.ReadFile("testdata/ap_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	var s Scorer // reused across cases, as in the streaming path
	for c, tc := range ref.Cases {
		scores := make([]float32, len(tc.K))
		for i, k := range tc.K {
			scores[i] = float32(math.Ldexp(float64(k), -tc.Scale))
		}
		got, err := s.AveragePrecision(scores, labels(tc.Labels))
		if err != nil {
			t.Fatalf("case %d: %v", c, err)
		}
		if got != tc.AP {
			t.Errorf("case %d (n=%d): AP %.17g, sklearn %s gives %.17g", c, len(scores), got, ref.Sklearn, tc.AP)
		}
	}
	if len(ref.Cases) < 50 {
		t.Fatalf("only %d reference cases", len(ref.Cases))
	}
}

func TestPairwiseSum(t *testing.T) {
	// 1e16 followed by 299 ones: added left to right every 1 is lost (1e16 + 1 rounds back to
	// 1e16), numpy's tree keeps most of them. By hand: 300 → [0,144) + [144,300); 144 →
	// [0,72) + [72,144). In [0,72) the accumulator holding 1e16 loses its 8 ones, the other
	// seven hold 9 each: (1e16+9 → 1e16+8) + 18 + 36 = 1e16+62. The other blocks are exact:
	// 72 + 156. np.sum gives 1e16 + 290 too.
	a := make([]float64, 300)
	for i := range a {
		a[i] = 1
	}
	a[0] = 1e16
	var seq float64
	for _, v := range a {
		seq += v
	}
	if got, want := pairwiseSum(a), 1e16+290; got != want || seq != 1e16 {
		t.Errorf("pairwise %v (sequential %v), want %v", got, seq, want)
	}
}

func TestAveragePrecisionsStreaming(t *testing.T) {
	// 7 examples × 1000 neurons; neuron j responds (j%5)·[positive] + a pattern with ties.
	const E, N = 7, 1000
	pos := labels("1011000")
	d := &Dense{Examples: E, Neurons: N, Data: make([]float32, E*N)}
	for e := 0; e < E; e++ {
		for j := 0; j < N; j++ {
			v := float32((e*31+j*17)%4) * 0.25
			if pos[e] {
				v += float32(j % 5)
			}
			d.Data[e*N+j] = v
		}
	}
	rows := []int{0, 1, 2, 3, 4, 5, 6}
	want := make([]float64, N)
	col := make([]float32, E)
	for j := 0; j < N; j++ {
		for e := 0; e < E; e++ {
			col[e] = d.Data[e*N+j]
		}
		want[j], _ = AveragePrecision(col, pos)
	}
	for _, opt := range []Options{{}, {Chunk: 1, Workers: 1}, {Chunk: 7, Workers: 3}, {Chunk: 5000}} {
		got := make([]float64, N)
		if err := AveragePrecisions(got, d, rows, pos, opt); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%+v: streamed APs differ from per-neuron APs", opt)
		}
	}
	// A subset of rows in another order, with their own labels.
	sub := []int{6, 2, 0}
	got := make([]float64, N)
	if err := AveragePrecisions(got, d, sub, labels("011"), Options{Chunk: 64}); err != nil {
		t.Fatal(err)
	}
	for _, j := range []int{0, 1, 123, 999} {
		w, _ := AveragePrecision([]float32{d.Data[6*N+j], d.Data[2*N+j], d.Data[0*N+j]}, labels("011"))
		if got[j] != w {
			t.Errorf("subset neuron %d: %v, want %v", j, got[j], w)
		}
	}
	// Errors: a non-finite response names the neuron; bad rows; no positives.
	d.Data[3*N+500] = float32(math.NaN())
	if err := AveragePrecisions(got, d, rows, pos, Options{Chunk: 64}); err == nil || !strings.Contains(err.Error(), "neuron 500") {
		t.Errorf("NaN response: %v", err)
	}
	if err := AveragePrecisions(got, d, []int{0, 9}, labels("10"), Options{}); err == nil || !strings.Contains(err.Error(), "example 9") {
		t.Errorf("bad row: %v", err)
	}
	if err := AveragePrecisions(got, d, rows, labels("0000000"), Options{}); !errors.Is(err, ErrNoPositives) {
		t.Errorf("no positives: %v", err)
	}
}

func TestRank(t *testing.T) {
	aps := []float64{0.5, 0.9, 0.1, 0.9, 0.3, 0.1 + 1e-12, 0.7}
	top, err := Rank(aps, 3, RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Ranked{{1, 0.9}, {3, 0.9}, {6, 0.7}}; !slices.Equal(top, want) {
		t.Errorf("top 3 %v, want %v", top, want)
	}
	both, _ := Rank(aps, 5, RankOptions{BothEnds: true}) // ⌊5/2⌋ = 2 each end
	if want := []Ranked{{1, 0.9}, {3, 0.9}, {2, 0.1}, {5, 0.1 + 1e-12}}; !slices.Equal(both, want) {
		t.Errorf("both ends %v, want %v", both, want)
	}
	// As float32, 0.1 and 0.1+1e-12 tie and the lower index comes first either way;
	// 0.3 vs 0.30000001 style ties: check the rounding is used.
	f32, _ := Rank([]float64{0.3, 0.30000000001, 0.2}, 1, RankOptions{Float32: true})
	if f32[0].Neuron != 0 {
		t.Errorf("float32 ranking picked %v, want the lower index of the tie", f32)
	}
	f64, _ := Rank([]float64{0.3, 0.30000000001, 0.2}, 1, RankOptions{})
	if f64[0].Neuron != 1 {
		t.Errorf("float64 ranking picked %v", f64)
	}
	for _, tc := range []struct {
		k    int
		opt  RankOptions
		want string
	}{{8, RankOptions{}, "top 8 of 7"}, {0, RankOptions{}, "top 0"}, {1, RankOptions{BothEnds: true}, "k must be ≥ 2"}, {8, RankOptions{BothEnds: true}, "top 8 of 7"}} {
		if _, err := Rank(aps, tc.k, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("k=%d %+v: %v", tc.k, tc.opt, err)
		}
	}
}

func TestLayout(t *testing.T) {
	l := Layout{{"mlp.hook_pre", 32, 11008}, {"mlp.hook_pre_linear", 32, 11008}, {"hook_mlp_out", 32, 4096}}
	if l.Neurons() != 835584 {
		t.Errorf("Llama-2-7B FFN units: %d", l.Neurons())
	}
	for j, want := range map[int]Unit{
		0:                 {"mlp.hook_pre", 0, 0},
		11008*32 - 1:      {"mlp.hook_pre", 31, 11007},
		11008 * 32:        {"mlp.hook_pre_linear", 0, 0},
		11008*64 + 4096*5: {"hook_mlp_out", 5, 0},
		835583:            {"hook_mlp_out", 31, 4095},
	} {
		if got := l.Unit(j); got != want {
			t.Errorf("Unit(%d) = %+v, want %+v", j, got, want)
		}
	}
}

func TestSample(t *testing.T) {
	pool := []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}
	a, _ := Sample(pool, 4, 1)
	b, _ := Sample(pool, 4, 1)
	c, _ := Sample(pool, 4, 2)
	if !slices.Equal(a, b) || slices.Equal(a, c) || len(a) != 4 {
		t.Errorf("seeded samples %v %v %v", a, b, c)
	}
	seen := map[int]bool{}
	for _, v := range a {
		if seen[v] || v < 10 || v > 19 {
			t.Errorf("sample %v repeats or leaves the pool", a)
		}
		seen[v] = true
	}
	// Pinned: a seed means the same sample in every release (the generator is specified here).
	if want := []int{16, 17, 18, 12}; !slices.Equal(a, want) {
		t.Errorf("Sample(pool, 4, seed 1) = %v, pinned %v", a, want)
	}
	// Uniformity: each element's frequency over many seeds.
	count := make([]int, 10)
	for s := uint64(0); s < 20000; s++ {
		x, _ := Sample(pool, 3, s)
		for _, v := range x {
			count[v-10]++
		}
	}
	for i, c := range count {
		if c < 5600 || c > 6400 { // expect 6000, sd ≈ 65
			t.Errorf("element %d drawn %d times of 60000", i, c)
		}
	}
	if _, err := Negatives(pool, 3, 4, 1); err == nil || !strings.Contains(err.Error(), "4 × 3 positives = 12 negatives") {
		t.Errorf("too few negatives: %v", err)
	}
	neg, err := Negatives(pool, 2, 4, 1)
	if err != nil || len(neg) != 8 {
		t.Errorf("negatives %v %v", neg, err)
	}
}

func TestSplitBySubject(t *testing.T) {
	subjects := []string{"Paris", "Rome", "Paris", "Oslo", "Bern", "Rome", "Lima", "Oslo", "Kyiv", "Baku"}
	for seed := uint64(0); seed < 50; seed++ {
		det, ev, err := SplitBySubject(subjects, 4, seed)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev) != 4 || len(det) != 6 || !slices.IsSorted(ev) || !slices.IsSorted(det) {
			t.Fatalf("seed %d: detect %v eval %v", seed, det, ev)
		}
		held := map[string]bool{}
		for _, i := range ev {
			held[subjects[i]] = true
		}
		for _, i := range det {
			if held[subjects[i]] {
				t.Fatalf("seed %d: subject %q in both sets", seed, subjects[i])
			}
		}
	}
	a, b, _ := SplitBySubject(subjects, 4, 7)
	c, d, _ := SplitBySubject(subjects, 4, 7)
	if !slices.Equal(a, c) || !slices.Equal(b, d) {
		t.Error("same seed, different split")
	}
	if _, _, err := SplitBySubject([]string{"a", "a", "b", "b"}, 1, 0); err == nil || !strings.Contains(err.Error(), "not 1") {
		t.Errorf("unfillable: %v", err)
	}
	if _, _, err := SplitBySubject(subjects, 10, 0); err == nil {
		t.Error("holding out everything succeeded")
	}
	if _, _, err := SplitBySubject([]string{"x", "x", "x"}, 1, 0); err == nil || !strings.Contains(err.Error(), "one subject") {
		t.Errorf("one subject: %v", err)
	}
}
