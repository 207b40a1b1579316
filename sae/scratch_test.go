package sae

import (
	"os"
	"strconv"
	"testing"
)

func envf(k string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
		return v
	}
	return def
}

func TestScratchJump(t *testing.T) {
	if os.Getenv("SCRATCH") == "" {
		t.Skip()
	}
	const n, d, atoms, s = 16384, 32, 48, 3
	x, dict := planted(n, d, atoms, s, 1)
	rows := NewRows(x, d, "planted")
	steps := int(envf("STEPS", 3000))
	cfg := plantedConfig(JumpReLU)(d, 2*atoms, steps, 256)
	cfg.Sparsity = envf("L0", 1)
	cfg.LR = envf("LR", 3e-3)
	cfg.Bandwidth = envf("BW", 0.05)
	cfg.InitThreshold = envf("TH", 0.01)
	cfg.SparsityWarmup = int(envf("WARM", float64(steps/20)))
	tr, _ := NewTrainer(cfg)
	var last StepStats
	Train(NewShuffled(rows, 3), []*Trainer{tr}, RunOptions{OnStep: func(_ int, st StepStats) {
		last = st
		if st.Step%500 == 0 {
			t.Logf("step %d FVU %.4f L0 %.2f dead %.2f", st.Step, st.FVU, st.L0, st.DeadFraction)
		}
	}})
	sae := tr.SAE("", -1, "")
	hits, mean := recovered(sae, dict, 0.9)
	t.Logf("recovered %d/%d (mean %.3f) FVU %.4f L0 %.2f", hits, atoms, mean, last.FVU, last.L0)
}
