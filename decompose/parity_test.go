package decompose

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// torchReference is testdata/snmf_reference.json, written by testdata/snmf_reference.py.
type torchReference struct {
	DMLP     int       `json:"d_mlp"`
	N        int       `json:"n"`
	Rank     int       `json:"rank"`
	Sparsity float64   `json:"sparsity"`
	Iters    int       `json:"iters"`
	Tol      float64   `json:"tol"`
	Reg      float64   `json:"reg"`
	G0Seed   uint64    `json:"g0_seed"`
	X        []float64 `json:"x"`
	G0       []float64 `json:"g0"`
	Float64  torchRun  `json:"float64"`
	Float32  torchRun  `json:"float32"`

	Hierarchy hierReference `json:"hierarchy"`
}

type torchRun struct {
	Loss     []float64 `json:"loss"`
	BestLoss float64   `json:"best_loss"`
	BestIter int       `json:"best_iter"`
	F        []float64 `json:"f"`
	G        []float64 `json:"g"`
}

func loadReference(t *testing.T) *torchReference {
	t.Helper()
	data, err := os.ReadFile("testdata/snmf_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return &ref
}

func (r *torchReference) options() Options {
	opt := DefaultOptions()
	opt.Rank, opt.Sparsity, opt.MaxIter, opt.Patience = r.Rank, r.Sparsity, r.Iters, r.Iters+1
	opt.Tol, opt.Reg, opt.G0 = r.Tol, r.Reg, r.G0
	return opt
}

func relDiff(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1e-300) }

// TestRandomInitIsTorchRand: InitRandom draws exactly torch.rand(n, k) after
// torch.manual_seed(seed), clamped at ≥ 1e-6 (the reference's G0 is that, in float32).
func TestRandomInitIsTorchRand(t *testing.T) {
	ref := loadReference(t)
	g := make([]float32, ref.N*ref.Rank)
	uniformG0(g, newMT19937(ref.G0Seed))
	for i, v := range g {
		if float64(v) != ref.G0[i] {
			t.Fatalf("G0[%d] = %v, torch.rand gave %v", i, v, ref.G0[i])
		}
	}
}

// TestParityTorch64: from the same G0, the float64 fit's loss after every one of the 10
// iterations matches the published algorithm run in float64 PyTorch to 1e-6 relative (the
// issue's bar); it actually agrees to about 1e-12, and so do F and G.
func TestParityTorch64(t *testing.T) {
	ref := loadReference(t)
	res, err := Fit(context.Background(), ref.X, ref.N, ref.DMLP, ref.options())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Loss) != ref.Iters {
		t.Fatalf("ran %d iterations, want %d", len(res.Loss), ref.Iters)
	}
	worst := 0.0
	for i, l := range res.Loss {
		if d := relDiff(l, ref.Float64.Loss[i]); d > 1e-6 {
			t.Errorf("iteration %d: loss %.15g, torch float64 %.15g (rel %.2g)", i+1, l, ref.Float64.Loss[i], d)
		} else {
			worst = max(worst, d)
		}
	}
	t.Logf("worst relative loss difference over %d iterations: %.2g", ref.Iters, worst)
	if res.BestIter != ref.Float64.BestIter || relDiff(res.BestLoss, ref.Float64.BestLoss) > 1e-9 {
		t.Errorf("best iterate %d (loss %.15g), torch %d (%.15g)", res.BestIter, res.BestLoss, ref.Float64.BestIter, ref.Float64.BestLoss)
	}
	fmax, gmax := 0.0, 0.0
	for _, v := range ref.Float64.F {
		fmax = max(fmax, math.Abs(v))
	}
	for _, v := range ref.Float64.G {
		gmax = max(gmax, math.Abs(v))
	}
	for i, v := range res.F {
		if math.Abs(v-ref.Float64.F[i]) > 1e-9*fmax {
			t.Fatalf("F[%d] = %.15g, torch %.15g", i, v, ref.Float64.F[i])
		}
	}
	for i, v := range res.G {
		if math.Abs(v-ref.Float64.G[i]) > 1e-9*gmax {
			t.Fatalf("G[%d] = %.15g, torch %.15g", i, v, ref.Float64.G[i])
		}
	}
}

// TestParityTorch32: the float32 path follows torch's float32 run to float32 rounding
// (different summation orders and a float64 k×k inverse; see doc.go).
func TestParityTorch32(t *testing.T) {
	ref := loadReference(t)
	x := make([]float32, len(ref.X))
	for i, v := range ref.X {
		x[i] = float32(v)
	}
	res, err := Fit(context.Background(), x, ref.N, ref.DMLP, ref.options())
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range res.Loss {
		if d := relDiff(l, ref.Float32.Loss[i]); d > 2e-5 {
			t.Errorf("iteration %d: loss %.9g, torch float32 %.9g (rel %.2g)", i+1, l, ref.Float32.Loss[i], d)
		}
		if d := relDiff(l, ref.Float64.Loss[i]); d > 2e-5 {
			t.Errorf("iteration %d: float32 loss %.9g, torch float64 %.9g (rel %.2g)", i+1, l, ref.Float64.Loss[i], d)
		}
	}
}
