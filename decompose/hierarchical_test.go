package decompose

import (
	"context"
	"math"
	"testing"
)

type hierReference struct {
	Ranks         []int       `json:"ranks"`
	Iters         int         `json:"iters"`
	FineTuneIters int         `json:"finetune_iters"`
	LR            float64     `json:"lr"`
	Levels        []torchRun  `json:"levels"`
	FineTuneLoss  []float64   `json:"finetune_loss"`
	JointF        []float64   `json:"joint_f"`
	JointG        [][]float64 `json:"joint_g"`
}

// TestHierarchyParityTorch64: the two-level hierarchy with the random init drawn from one
// continuing stream (each level's G0 after the previous level's G0 and unused randn F0) and
// the joint Adam fine-tune match the published train_hierarchical_nmf run in float64 PyTorch.
func TestHierarchyParityTorch64(t *testing.T) {
	ref := loadReference(t)
	hr := ref.Hierarchy
	opt := DefaultHierarchyOptions(hr.Ranks...)
	opt.Level.Sparsity, opt.Level.MaxIter, opt.Level.Patience = ref.Sparsity, hr.Iters, hr.Iters+1
	opt.Level.Tol, opt.Level.Reg, opt.Level.Seed = ref.Tol, ref.Reg, ref.G0Seed
	opt.FineTuneIters, opt.LearningRate = hr.FineTuneIters, hr.LR
	h, err := FitHierarchy(context.Background(), ref.X, ref.N, ref.DMLP, opt)
	if err != nil {
		t.Fatal(err)
	}
	for l, lv := range h.Levels {
		want := hr.Levels[l]
		for i, loss := range lv.Loss {
			if d := relDiff(loss, want.Loss[i]); d > 1e-9 {
				t.Fatalf("level %d iteration %d: loss %.15g, torch %.15g", l+1, i+1, loss, want.Loss[i])
			}
		}
		if lv.BestIter != want.BestIter {
			t.Errorf("level %d: best iteration %d, torch %d", l+1, lv.BestIter, want.BestIter)
		}
		checkClose(t, "level G", lv.G, want.G, 1e-8) // also: the fine-tune left the levels alone
	}
	if len(h.Joint.Loss) != hr.FineTuneIters {
		t.Fatalf("%d fine-tune steps, want %d", len(h.Joint.Loss), hr.FineTuneIters)
	}
	for i, loss := range h.Joint.Loss {
		if d := relDiff(loss, hr.FineTuneLoss[i]); d > 1e-9 {
			t.Fatalf("fine-tune step %d: MSE %.15g, torch %.15g", i+1, loss, hr.FineTuneLoss[i])
		}
	}
	checkClose(t, "joint F", h.Joint.F, hr.JointF, 1e-8)
	for l := range h.Joint.G {
		checkClose(t, "joint G", h.Joint.G[l], hr.JointG[l], 1e-8)
	}
}

func checkClose(t *testing.T, what string, got []float64, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*scale {
			t.Fatalf("%s[%d] = %.15g, torch %.15g", what, i, got[i], want[i])
		}
	}
}

func TestRandnDraws(t *testing.T) {
	// Measured on torch 1.13 (see snmf_reference.py): randn of 240, 231 and 6 elements.
	for m, want := range map[int]int{240: 240, 231: 247, 6: 12} {
		if got := randnDraws(m); got != want {
			t.Errorf("randnDraws(%d) = %d, want %d", m, got, want)
		}
	}
}

func TestHierarchyErrors(t *testing.T) {
	x, _ := planted(4, 40, 20, 3, 3, 0.1)
	opt := DefaultHierarchyOptions(5, 8) // level 2's rank exceeds level 1's 5 features
	if _, err := FitHierarchy(context.Background(), x, 40, 20, opt); err == nil {
		t.Error("rank 8 on 5 features accepted")
	}
	if _, err := FitHierarchy(context.Background(), x, 40, 20, DefaultHierarchyOptions()); err == nil {
		t.Error("no ranks accepted")
	}
	opt = DefaultHierarchyOptions(3)
	opt.Level.G0 = make([]float64, 40*3)
	if _, err := FitHierarchy(context.Background(), x, 40, 20, opt); err == nil {
		t.Error("G0 for a hierarchy accepted")
	}
}
