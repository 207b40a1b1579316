package profile

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
)

// momentTol is the stated tolerance of merged moments against the single pass (relative to
// max(1, |x|)): both are float64 sums of the same float32 values in different association.
const momentTol = 1e-12

// compareReports checks that b equals a exactly in everything but the moments, and the moments
// within momentTol.
func compareReports(t *testing.T, what string, a, b *Report) {
	t.Helper()
	strip := func(r *Report) *Report {
		c := *r
		c.Points = nil
		for _, pt := range r.Points {
			np := pt
			np.Neurons = append([]NeuronReport(nil), pt.Neurons...)
			for j := range np.Neurons {
				n := &np.Neurons[j]
				n.Mean, n.Variance, n.Skewness, n.Kurtosis = 0, 0, 0, 0
			}
			c.Points = append(c.Points, np)
		}
		return &c
	}
	ja, _ := json.Marshal(strip(a))
	jb, _ := json.Marshal(strip(b))
	if string(ja) != string(jb) {
		i := 0
		for i < len(ja) && i < len(jb) && ja[i] == jb[i] {
			i++
		}
		t.Errorf("%s: merged report differs from the single pass at byte %d: …%s… vs …%s…", what, i,
			ja[max(0, i-80):min(len(ja), i+80)], jb[max(0, i-80):min(len(jb), i+80)])
		return
	}
	for p := range a.Points {
		for j, x := range a.Points[p].Neurons {
			y := b.Points[p].Neurons[j]
			if !close(y.Mean, x.Mean, momentTol) || !close(y.Variance, x.Variance, momentTol) ||
				!close(y.Skewness, x.Skewness, momentTol) || !close(y.Kurtosis, x.Kurtosis, momentTol) {
				t.Errorf("%s: neuron %d moments %g %g %g %g, single pass %g %g %g %g", what, j,
					y.Mean, y.Variance, y.Skewness, y.Kurtosis, x.Mean, x.Variance, x.Skewness, x.Kurtosis)
			}
		}
	}
}

// TestMergeEqualsSinglePass: the calibration prefix as one shard and the other batches split
// into shards in several ways (contiguous, interleaved at random, single contexts), each shard
// seeded from the calibration and the states merged in random order through their binary
// encoding, give the single pass's report: byte-identical but for the moments, which agree to
// momentTol.
func TestMergeEqualsSinglePass(t *testing.T) {
	const nb, T, N = 30, 7, 150
	s := makeSynth(nb, T, N)
	// later batches spread wider, so that some shards' histograms coarsen and others not
	for b := 18; b < 24; b++ {
		for i := range s.acts[b] {
			s.acts[b][i] *= 9
		}
	}
	opt := Options{TopK: 5, QuantileBins: 4, PerBin: 3, RandomSample: 6, HistBins: 8, Before: 2, After: 1, CalibContext: 10, Seed: 3}
	single := New(opt)
	s.run(single, 0, nb)
	single.Finish()
	want := single.Report(report.Provenance{}, Settings{}, nil)

	prefix := opt.CalibrationPrefix(3) // batches of 3 contexts: 12
	if prefix != 12 {
		t.Fatalf("calibration prefix %d, want 12", prefix)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	observeRows := func(p *Profiler, b, r0, r1 int) {
		rows := s.rows[b][r0:r1]
		if err := p.Observe(hooks.At(0, hooks.MLPPost), s.acts[b][r0*T*N:r1*T*N], rows, T, N); err != nil {
			t.Fatal(err)
		}
		p.EndBatch(rows)
	}
	for _, split := range []string{"contiguous", "interleaved", "contexts", "one"} {
		cal0 := New(opt)
		s.run(cal0, 0, 4)
		cal, err := cal0.Calibration(prefix)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := cal.MarshalBinary()
		var cal2 Calibration
		if err := cal2.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		k := 4
		if split == "one" {
			k = 1
		}
		shards := make([]*Profiler, k)
		for i := range shards {
			shards[i] = NewShard(&cal2)
		}
		for b := 4; b < nb; b++ {
			switch split {
			case "contiguous":
				observeRows(shards[(b-4)*k/(nb-4)], b, 0, 3)
			case "interleaved", "one":
				observeRows(shards[rng.IntN(k)], b, 0, 3)
			case "contexts":
				for r := range 3 {
					observeRows(shards[rng.IntN(k)], b, r, r+1)
				}
			}
		}
		// merge in a random tree, through the binary encoding
		states := []*Profiler{cal0}
		for _, sh := range shards {
			b, err := sh.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			d, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			states = append(states, d)
		}
		for len(states) > 1 {
			i := rng.IntN(len(states))
			j := rng.IntN(len(states) - 1)
			if j >= i {
				j++
			}
			if err := states[i].Merge(states[j]); err != nil {
				t.Fatalf("%s: %v", split, err)
			}
			states = append(states[:j], states[j+1:]...)
		}
		got := states[0]
		got.Finish()
		if got.Tokens != single.Tokens || got.Contexts != single.Contexts {
			t.Errorf("%s: %d tokens %d contexts, single pass %d %d", split, got.Tokens, got.Contexts, single.Tokens, single.Contexts)
		}
		compareReports(t, split, want, got.Report(report.Provenance{}, Settings{}, nil))
	}
}

// TestMergeErrors: shards of other options or hook points, an uncalibrated shard, shards of
// different calibrations, a context of the calibration prefix in a seeded shard, and a corrupt
// encoding are errors.
func TestMergeErrors(t *testing.T) {
	s := makeSynth(8, 5, 20)
	opt := Options{TopK: 3, CalibContext: 6}
	base := func() *Profiler {
		p := New(opt)
		s.run(p, 0, 2)
		return p
	}
	cal, err := base().Calibration(6)
	if err != nil {
		t.Fatal(err)
	}
	shard := func(c *Calibration) *Profiler {
		p := NewShard(c)
		s.run(p, 2, 4)
		return p
	}
	other := New(Options{TopK: 4, CalibContext: 6})
	s.run(other, 0, 2)
	if err := base().Merge(other); err == nil || !strings.Contains(err.Error(), "different options") {
		t.Errorf("options: %v", err)
	}
	uncal := New(opt)
	s.run(uncal, 2, 3) // 3 contexts: not calibrated
	if err := base().Merge(uncal); err == nil || !strings.Contains(err.Error(), "not calibrated") {
		t.Errorf("uncalibrated: %v", err)
	}
	cal2, _ := base().Calibration(6)
	cal2.Layers[0].QB[0] += 1
	if err := shard(cal).Merge(shard(cal2)); err == nil || !strings.Contains(err.Error(), "calibrated differently") {
		t.Errorf("calibration: %v", err)
	}
	p := NewShard(cal)
	if err := p.Observe(hooks.At(0, hooks.MLPPost), s.acts[1], s.rows[1], 5, 20); err == nil || !strings.Contains(err.Error(), "calibration prefix") {
		t.Errorf("prefix context in a shard: %v", err)
	}
	if _, err := base().Calibration(9); err == nil {
		t.Error("a calibration from a shard of the wrong length")
	}
	b, _ := shard(cal).MarshalBinary()
	for _, cut := range []int{10, len(b) / 2, len(b) - 3} {
		if _, err := Unmarshal(b[:cut]); err == nil {
			t.Errorf("a state cut at %d bytes decoded", cut)
		}
	}
}

// TestBinSampleUniform: the bottom-k bin sample includes every context of a bin with the same
// probability PerBin/M (M contexts in the bin), over many seeds.
func TestBinSampleUniform(t *testing.T) {
	const M, per, trials = 20, 5, 4000
	hits := make([]int, M)
	for seed := range uint64(trials) {
		keys, ctx := make([]int64, per), make([]int64, per)
		for i := range int64(M) {
			if s := binSlot(keys, ctx, i, binKey(seed, 77, i*3+1), i*3+1); s >= 0 {
				ctx[s] = i*3 + 1
			}
		}
		for _, c := range ctx {
			hits[(c-1)/3]++
		}
	}
	// expected trials·per/M = 1000 each, σ ≈ 27: allow 6σ
	for i, h := range hits {
		if h < 1000-160 || h > 1000+160 {
			t.Errorf("context %d sampled %d times of %d, want ≈ 1000", i, h, trials)
		}
	}
}
