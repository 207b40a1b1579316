package sae

import (
	"math"
	"math/rand/v2"
	"testing"
)

// planted returns n rows of x = Σ_{j∈S} c_j·D_j with |S| = s atoms drawn uniformly from a
// random unit-norm dictionary D [atoms, d] and c_j ~ U(0.5, 1.5) (non-negative codes, as
// MLP features are), plus the dictionary.
func planted(n, d, atoms, s int, seed uint64) (x, dict []float32) {
	rng := rand.New(rand.NewPCG(seed, 77))
	dict = make([]float32, atoms*d)
	for j := range atoms {
		row := dict[j*d : (j+1)*d]
		for i := range row {
			row[i] = float32(rng.NormFloat64())
		}
		nr := float32(norm(row))
		for i := range row {
			row[i] /= nr
		}
	}
	x = make([]float32, n*d)
	for r := range n {
		for _, j := range rng.Perm(atoms)[:s] {
			c := float32(0.5 + rng.Float64())
			axpy(c, dict[j*d:(j+1)*d], x[r*d:(r+1)*d])
		}
	}
	return x, dict
}

// recovered counts planted atoms whose best decoder row has cosine ≥ thr.
func recovered(s *SAE, dict []float32, thr float64) (int, float64) {
	d := s.DIn
	atoms := len(dict) / d
	hits := 0
	var meanBest float64
	for a := range atoms {
		best := -1.0
		da := dict[a*d : (a+1)*d]
		for j := range s.DSAE {
			r := s.Direction(j)
			nr := norm(r)
			if nr == 0 {
				continue
			}
			best = math.Max(best, float64(dot(da, r))/nr)
		}
		meanBest += best
		if best >= thr {
			hits++
		}
	}
	return hits, meanBest / float64(atoms)
}

type plantedCase struct {
	name string
	cfg  func(d, m, steps, batch int) TrainConfig
}

func plantedConfig(arch Arch) func(d, m, steps, batch int) TrainConfig {
	return func(d, m, steps, batch int) TrainConfig {
		c := DefaultTrainConfig(arch, d, m, steps, batch)
		c.StatsRows = 4096
		switch arch {
		case TopK:
			c.K, c.AuxK = 3, 16
			c.LR = 3e-3
			c.DeadTokens = int64(50 * batch)
		case Standard:
			c.LR = 3e-3
		case JumpReLU:
			// Adam moves log θ by about lr per step: the thresholds need ~|log θ₀|/lr steps to
			// reach the scale of the codes, so a short run needs a higher rate.
			c.LR = 1e-2
		}
		return c
	}
}

func TestPlantedDictionaryRecovery(t *testing.T) {
	const n, d, atoms, s = 16384, 32, 48, 3
	x, dict := planted(n, d, atoms, s, 1)
	rows := NewRows(x, d, "planted")
	for _, tc := range []struct {
		arch  Arch
		batch bool
	}{{TopK, false}, {TopK, true}, {Standard, false}, {JumpReLU, false}} {
		name := string(tc.arch)
		if tc.batch {
			name = "batchtopk"
		}
		t.Run(name, func(t *testing.T) {
			cfg := plantedConfig(tc.arch)(d, 2*atoms, 1500, 256)
			cfg.BatchTopK = tc.batch
			tr, err := NewTrainer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var last StepStats
			if err := Train(NewShuffled(rows, 3), []*Trainer{tr}, RunOptions{OnStep: func(_ int, st StepStats) { last = st }}); err != nil {
				t.Fatal(err)
			}
			sae := tr.SAE("", -1, "")
			hits, mean := recovered(sae, dict, 0.9)
			t.Logf("%s: recovered %d/%d planted atoms at cos ≥ 0.9 (mean best cos %.3f); last step FVU %.4f L0 %.2f dead %.2f", name, hits, atoms, mean, last.FVU, last.L0, last.DeadFraction)
			if hits*10 < atoms*9 {
				t.Errorf("%s recovered %d of %d planted directions at cosine ≥ 0.9, want ≥ 90%%", name, hits, atoms)
			}
		})
	}
}
