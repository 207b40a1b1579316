package sae

import (
	"os"
	"testing"
)

func TestScratchJumpReal(t *testing.T) {
	if os.Getenv("SCRATCH2") == "" {
		t.Skip()
	}
	a, err := OpenActivations("/tmp/sae-helper/train.safetensors", ActivationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	steps := int(envf("STEPS", 1000))
	type v struct{ lr, th, l0 float64 }
	vs := []v{{3e-3, 0.01, 1}, {1e-2, 0.01, 1}, {3e-3, 0.1, 1}, {3e-3, 0.1, 3}}
	var trs []*Trainer
	for _, x := range vs {
		c := DefaultTrainConfig(JumpReLU, 512, 2048, steps, 512)
		c.LR, c.InitThreshold, c.Sparsity = x.lr, x.th, x.l0
		c.StatsRows = 8192
		tr, _ := NewTrainer(c)
		trs = append(trs, tr)
	}
	last := make([]StepStats, len(trs))
	err = Train(NewShuffled(a.Rows, 1), trs, RunOptions{OnStep: func(i int, st StepStats) {
		last[i] = st
		if st.Step%250 == 0 {
			t.Logf("%+v step %d FVU %.4f L0 %.1f", vs[i], st.Step, st.FVU, st.L0)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range trs {
		s := tr.SAE("", -1, "")
		m, _ := Evaluate(s, a.Rows, 0, 4096)
		t.Logf("%+v: FVU %.4f L0 %.1f dead %.3f dense %.3f", vs[i], m.FVU, m.L0, m.DeadFraction, m.DenseFraction)
	}
}
