package profile

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
)

// exact computes mean, population variance, skewness and excess kurtosis in two passes.
func exact(xs []float64) (mean, variance, skew, kurt float64) {
	for _, x := range xs {
		mean += x
	}
	n := float64(len(xs))
	mean /= n
	var m2, m3, m4 float64
	for _, x := range xs {
		d := x - mean
		m2 += d * d
		m3 += d * d * d
		m4 += d * d * d * d
	}
	variance = m2 / n
	skew = math.Sqrt(n) * m3 / math.Pow(m2, 1.5)
	kurt = n*m4/(m2*m2) - 3
	return
}

func close(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// TestMomentsMerge: Welford adds, merging two halves and the two-pass exact values agree to
// 1e-10 relative; the data are shifted far from 0 to exercise cancellation.
func TestMomentsMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 10001)
	for i := range xs {
		xs[i] = 1000 + math.Exp(rng.NormFloat64()) // skewed, heavy right tail
	}
	var one, a, b Moments
	for i, x := range xs {
		one.Add(x)
		if i < 3777 {
			a.Add(x)
		} else {
			b.Add(x)
		}
	}
	a.Merge(b)
	mean, v, s, k := exact(xs)
	for _, m := range []Moments{one, a} {
		if m.N != int64(len(xs)) || !close(m.Mean, mean, 1e-12) || !close(m.Variance(), v, 1e-10) ||
			!close(m.Skewness(), s, 1e-9) || !close(m.Kurtosis(), k, 1e-9) {
			t.Errorf("moments %+v: mean %g var %g skew %g kurt %g; exact %g %g %g %g",
				m, m.Mean, m.Variance(), m.Skewness(), m.Kurtosis(), mean, v, s, k)
		}
	}
}

type synth struct {
	rows  [][]Context
	acts  [][]float32
	t, n  int
	hook  string
	layer int
}

// makeSynth builds nb batches of 3 contexts × t positions × n neurons (the last row of each
// batch is short, as a padded document tail), with ties and exact zeros.
func makeSynth(nb, t, n int) synth {
	rng := rand.New(rand.NewPCG(7, 9))
	s := synth{t: t, n: n, hook: "blocks.0.mlp.hook_post"}
	ctx := int64(0)
	for range nb {
		var rows []Context
		for r := range 3 {
			ln := t
			if r == 2 {
				ln = 1 + rng.IntN(t)
			}
			ids := make([]int, t)
			for i := range ids {
				ids[i] = rng.IntN(50)
			}
			rows = append(rows, Context{IDs: ids[:ln], Doc: ctx / 2, Start: int(ctx%2) * t, Index: ctx})
			ctx++
		}
		a := make([]float32, 3*t*n)
		for i := range a {
			switch rng.IntN(10) {
			case 0:
				a[i] = 0
			case 1:
				a[i] = 1.5 // ties
			default:
				a[i] = float32(rng.NormFloat64()*0.5 + 0.1*float64(i%n))
			}
		}
		s.rows, s.acts = append(s.rows, rows), append(s.acts, a)
	}
	return s
}

func (s synth) run(p *Profiler, from, to int) {
	for b := from; b < to; b++ {
		if err := p.Observe(hooks.At(0, hooks.MLPPost), s.acts[b], s.rows[b], s.t, s.n); err != nil {
			panic(err)
		}
		p.EndBatch(s.rows[b])
	}
}

type ctxVal struct {
	v   float32
	ctx int64
	at  int
}

// TestProfilerMatchesBruteForce: statistics equal the two-pass exact values (float64 sums of
// float32 data: 1e-9 relative), fractions and extremes are exact, top-k max/min lists equal a
// brute-force sort of per-context maxima/minima (ties by earlier context), windows hold the
// right tokens and activations, histogram counts are exact on the final grid, and the bins'
// reservoirs hold contexts of the right bins.
//
// With BOS rows, the BOS positions (whose activations are the largest of all) are left out of
// every statistic and example list, and a context of BOS alone out of the quantile bins, unless
// IncludeBOS: then everything is counted.
func TestProfilerMatchesBruteForce(t *testing.T) {
	const nb, T, N = 20, 9, 300 // N > chunk: several workers
	for _, c := range []struct {
		name       string
		bos        bool
		includeBOS bool
	}{{"no BOS", false, false}, {"BOS excluded", true, false}, {"BOS included", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			s := makeSynth(nb, T, N)
			if c.bos {
				s = withBOS(s)
			}
			bruteForce(t, s, nb, T, N, c.includeBOS)
		})
	}
}

// withBOS marks the first position of the first two rows of every batch as BOS, with an
// activation above every other, and makes the short row of batch 3 a lone BOS.
func withBOS(s synth) synth {
	out := synth{t: s.t, n: s.n, hook: s.hook}
	for b, rows := range s.rows {
		rows = append([]Context(nil), rows...)
		a := append([]float32(nil), s.acts[b]...)
		for r := range 2 {
			rows[r].BOS = 1
			for j := 0; j < s.n; j++ {
				a[(r*s.t)*s.n+j] = 100 + float32(j%7)
			}
		}
		if b == 3 {
			rows[2].IDs, rows[2].BOS = rows[2].IDs[:1], 1
		}
		out.rows, out.acts = append(out.rows, rows), append(out.acts, a)
	}
	return out
}

func bruteForce(t *testing.T, s synth, nb, T, N int, includeBOS bool) {
	p := New(Options{TopK: 7, QuantileBins: 4, PerBin: 3, RandomSample: 5, HistBins: 16, Before: 3, After: 2, CalibContext: 12, Seed: 5, IncludeBOS: includeBOS})
	s.run(p, 0, nb)
	p.Finish()
	rep := p.Report(report.Provenance{}, Settings{}, nil)
	if len(rep.Points) != 1 || len(rep.Points[0].Neurons) != N {
		t.Fatalf("report has %d points", len(rep.Points))
	}
	var bos, tokens int64
	for _, rows := range s.rows {
		for _, row := range rows {
			tokens += int64(len(row.IDs))
			if !includeBOS {
				bos += int64(row.BOS)
			}
		}
	}
	if rep.BOSExcluded != bos || rep.Tokens != tokens {
		t.Errorf("%d tokens, %d BOS positions excluded; want %d, %d", rep.Tokens, rep.BOSExcluded, tokens, bos)
	}
	for j := 0; j < N; j += 37 {
		var xs []float64
		var maxes, mins []ctxVal
		var pos, nz int64
		for b := range nb {
			for r, row := range s.rows[b] {
				skip := row.BOS
				if includeBOS {
					skip = 0
				}
				if skip == len(row.IDs) {
					continue
				}
				mx, mn := ctxVal{float32(math.Inf(-1)), row.Index, 0}, ctxVal{float32(math.Inf(1)), row.Index, 0}
				for i := skip; i < len(row.IDs); i++ {
					v := s.acts[b][(r*T+i)*N+j]
					xs = append(xs, float64(v))
					if v > 0 {
						pos++
					}
					if v != 0 {
						nz++
					}
					if v > mx.v {
						mx.v, mx.at = v, i
					}
					if v < mn.v {
						mn.v, mn.at = v, i
					}
				}
				maxes, mins = append(maxes, mx), append(mins, mn)
			}
		}
		nr := rep.Points[0].Neurons[j]
		mean, v, sk, ku := exact(xs)
		if nr.Count != int64(len(xs)) || !close(nr.Mean, mean, 1e-9) || !close(nr.Variance, v, 1e-9) ||
			!close(nr.Skewness, sk, 1e-9) || !close(nr.Kurtosis, ku, 1e-9) {
			t.Errorf("neuron %d: %d %g %g %g %g, exact %d %g %g %g %g", j, nr.Count, nr.Mean, nr.Variance, nr.Skewness, nr.Kurtosis, len(xs), mean, v, sk, ku)
		}
		if nr.FracPositive != float64(pos)/float64(len(xs)) || nr.FracNonzero != float64(nz)/float64(len(xs)) {
			t.Errorf("neuron %d: fractions %g %g", j, nr.FracPositive, nr.FracNonzero)
		}
		sort.SliceStable(maxes, func(a, b int) bool { return better(maxes[a].v, maxes[a].ctx, maxes[b].v, maxes[b].ctx) })
		sort.SliceStable(mins, func(a, b int) bool { return better(-mins[a].v, mins[a].ctx, -mins[b].v, mins[b].ctx) })
		if nr.Max != maxes[0].v || nr.Min != mins[0].v {
			t.Errorf("neuron %d: max %g min %g, want %g %g", j, nr.Max, nr.Min, maxes[0].v, mins[0].v)
		}
		check := func(name string, got []Example, want []ctxVal) {
			if len(got) != 7 {
				t.Fatalf("neuron %d %s: %d examples", j, name, len(got))
			}
			for i, e := range got {
				w := want[i]
				if e.Value != w.v || e.Context != w.ctx || e.Acts[e.MaxIndex] != w.v {
					t.Errorf("neuron %d %s #%d: %g ctx %d, want %g ctx %d", j, name, i, e.Value, e.Context, w.v, w.ctx)
				}
				b, r := int(w.ctx/3), int(w.ctx%3)
				row := s.rows[b][r]
				lo := max(0, w.at-3)
				for k := range e.TokenIDs {
					if int(e.TokenIDs[k]) != row.IDs[lo+k] || e.Acts[k] != s.acts[b][(r*T+lo+k)*N+j] {
						t.Errorf("neuron %d %s #%d: window token %d differs", j, name, i, k)
					}
				}
				if e.Pos != row.Start+w.at || e.Doc != row.Doc || len(e.TokenIDs) != min(len(row.IDs), w.at+3)-lo {
					t.Errorf("neuron %d %s #%d: pos %d doc %d len %d", j, name, i, e.Pos, e.Doc, len(e.TokenIDs))
				}
			}
		}
		check("top_max", nr.TopMax, maxes)
		check("top_min", nr.TopMin, mins)
		// histogram: exact counts on the final grid
		h := nr.Histogram
		cnt := make([]int64, len(h.Counts))
		for _, x := range xs {
			cnt[int(math.Floor(x/h.Width)-math.Floor(h.Start/h.Width))]++
		}
		if !reflect.DeepEqual(cnt, h.Counts) {
			t.Errorf("neuron %d: histogram %v, brute force %v", j, h.Counts, cnt)
		}
		// quantile samples lie in their bins; bin counts add up to the contexts after calibration
		var contains int64
		for q, bs := range nr.QuantileSamples {
			contains += bs.Contains
			for _, e := range bs.Examples {
				if (q > 0 && e.Value < bs.Min) || (q < 3 && e.Value >= bs.Max) {
					t.Errorf("neuron %d bin %d [%g,%g): sample %g", j, q, bs.Min, bs.Max, e.Value)
				}
			}
		}
		// contexts after the batch that completes the 12 calibration contexts go to the bins
		var seen, binned int64
		for b := range nb {
			n := int64(0)
			for _, row := range s.rows[b] {
				if includeBOS || row.BOS < len(row.IDs) {
					n++
				}
			}
			if seen >= 12 {
				binned += n
			}
			seen += n
		}
		if contains != binned || len(nr.RandomSample) != 5 {
			t.Errorf("neuron %d: bins contain %d contexts, want %d; random %d", j, contains, binned, len(nr.RandomSample))
		}
	}
}

// TestCheckpointResume: saving after some batches, loading and continuing gives exactly the
// report of an uninterrupted run.
func TestCheckpointResume(t *testing.T) {
	s := makeSynth(10, 6, 130)
	opt := Options{TopK: 4, CalibContext: 6}
	full := New(opt)
	s.run(full, 0, 10)
	full.Finish()

	part := New(opt)
	s.run(part, 0, 4)
	path := filepath.Join(t.TempDir(), "state.ckpt")
	if err := part.Save(path, "fp"); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, "other"); err == nil {
		t.Error("a checkpoint with another fingerprint loaded")
	}
	res, err := Load(path, "fp")
	if err != nil {
		t.Fatal(err)
	}
	s.run(res, 4, 10)
	res.Finish()
	a := full.Report(report.Provenance{}, Settings{}, nil)
	b := res.Report(report.Provenance{}, Settings{}, nil)
	if !reflect.DeepEqual(a, b) {
		t.Error("resumed run differs from the uninterrupted run")
	}
}
