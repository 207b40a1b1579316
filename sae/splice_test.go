package sae

import (
	"math"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Small configs of two architectures (as in model/invariants_test.go), with random weights.
var tinyConfigs = map[string]string{
	"llama": `{"model_type":"llama","num_hidden_layers":2,"hidden_size":32,"intermediate_size":48,"num_attention_heads":4,
		"num_key_value_heads":2,"vocab_size":97,"max_position_embeddings":64,"rms_norm_eps":1e-5}`,
	"gpt2": `{"model_type":"gpt2","n_layer":2,"n_embd":32,"n_head":4,"vocab_size":97,"n_positions":64}`,
}

func tinyModel(t testing.TB, name string) *model.Model {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(tinyConfigs[name]), name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// perfectSAE reconstructs every input exactly: 2d latents reading +x and −x through a ReLU
// (or a top-d), decoded with +1 and −1.
func perfectSAE(arch Arch, d int, hook string) *SAE {
	s := New(arch, d, 2*d, d)
	if arch != TopK {
		s.K = 0
	}
	s.ApplyBDecToInput = false
	for i := range d {
		s.WEnc[i*2*d+i] = 1
		s.WEnc[i*2*d+d+i] = -1
		s.WDec[i*d+i] = 1
		s.WDec[(d+i)*d+i] = -1
	}
	s.HookName = hook
	return s
}

var splicePrompts = [][]int{{3, 14, 15, 92, 65, 35, 89}, {27, 18, 28}}

func forward(t *testing.T, m *model.Model, opts ...hooks.Option) *model.Result {
	t.Helper()
	b, err := model.NewBatch(splicePrompts, model.PadRight, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Forward(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSplicePerfectReconstructionChangesNoLogit(t *testing.T) {
	for name := range tinyConfigs {
		m := tinyModel(t, name)
		clean := forward(t, m)
		for _, hook := range []string{"blocks.1.mlp.hook_post", "blocks.0.hook_resid_post"} {
			p, _ := hooks.Parse(hook)
			d := m.Catalog().Width(p)
			for _, arch := range []Arch{Standard, TopK} {
				for _, errTerm := range []bool{false, true} {
					s := perfectSAE(arch, d, hook)
					sp, err := NewSplice(s, m.Catalog(), SpliceOptions{ErrorTerm: errTerm, CaptureLatents: true})
					if err != nil {
						t.Fatal(err)
					}
					res := forward(t, m, sp.Option())
					for i, v := range res.Logits.Data {
						if math.Float32bits(v) != math.Float32bits(clean.Logits.Data[i]) {
							t.Fatalf("%s %s %s error-term=%v: logit %d changed from %g to %g", name, hook, arch, errTerm, i, clean.Logits.Data[i], v)
						}
					}
					if lat := sp.Latents(); lat == nil || lat.Shape[2] != 2*d || lat.Shape[0] != 2 {
						t.Fatalf("%s: latents not captured: %v", name, lat)
					}
					if sp.LatentsName() != hook+".sae.hook_sae_acts_post" {
						t.Errorf("latents name %q", sp.LatentsName())
					}
				}
			}
		}
	}
}

func TestSpliceInterventions(t *testing.T) {
	m := tinyModel(t, "llama")
	hook := "blocks.1.mlp.hook_post"
	p, _ := hooks.Parse(hook)
	s := randomSAE(TopK, 48, 96, 6, 3)
	s.HookName = hook
	// Capture the clean activation and the SAE's own view of it.
	clean := forward(t, m, hooks.CapturePoints(p))
	x, _ := clean.Cache.Get(p)
	var pass Pass
	s.Run(&pass, x.Data)
	const j = 5
	for _, tc := range []struct {
		name string
		iv   Intervention
		want func(row int, z []float32) float32 // change of latent j
	}{
		{"ablate", Ablate(j), func(r int, z []float32) float32 { return -z[r*96+j] }},
		{"clamp", Clamp(j, 2.5), func(r int, z []float32) float32 { return 2.5 - z[r*96+j] }},
		{"steer", Steer(j, -1.25), func(int, []float32) float32 { return -1.25 }},
		{"scale", Scale(j, 3), func(r int, z []float32) float32 { return 2 * z[r*96+j] }},
	} {
		sp, err := NewSplice(s, m.Catalog(), SpliceOptions{ErrorTerm: true, Interventions: []Intervention{tc.iv}, CaptureLatents: true})
		if err != nil {
			t.Fatal(err)
		}
		var seen *tensor.Tensor
		forward(t, m, sp.Option(), hooks.ObservePoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
			seen = a.Clone()
			return nil
		}))
		// With the error term the model sees x + Δz_j·W_dec[j].
		var maxErr float64
		for r := 0; r < pass.N; r++ {
			dz := tc.want(r, pass.Latents)
			for c := range 48 {
				want := x.Data[r*48+c] + dz*s.WDec[j*48+c]
				maxErr = math.Max(maxErr, math.Abs(float64(seen.Data[r*48+c]-want)))
			}
			if got, want := sp.Latents().Data[r*96+j], pass.Latents[r*96+j]+dz; math.Abs(float64(got-want)) > 1e-6 {
				t.Errorf("%s: captured latent %d at row %d = %g, want %g", tc.name, j, r, got, want)
			}
		}
		if maxErr > 1e-5 {
			t.Errorf("%s: spliced activation differs from x + Δz·W_dec[j] by %g", tc.name, maxErr)
		}
	}
	// An intervention on a latent the SAE lacks aborts the call with an error.
	sp, _ := NewSplice(s, m.Catalog(), SpliceOptions{Interventions: []Intervention{Ablate(96)}})
	b, _ := model.NewBatch(splicePrompts, model.PadRight, 0)
	if _, err := m.Forward(b, sp.Option()); err == nil || !strings.Contains(err.Error(), "latent 96 is out of range") {
		t.Errorf("out-of-range latent: got %v", err)
	}
	// Without the error term the model sees the (edited) reconstruction.
	sp, _ = NewSplice(s, m.Catalog(), SpliceOptions{})
	var seen *tensor.Tensor
	forward(t, m, sp.Option(), hooks.ObservePoint(p, func(_ hooks.Point, a *tensor.Tensor) error { seen = a.Clone(); return nil }))
	for i, v := range pass.Recon {
		if math.Abs(float64(seen.Data[i]-v)) > 1e-5 {
			t.Fatalf("without the error term the hook holds %g at %d, the reconstruction is %g", seen.Data[i], i, v)
		}
	}
}

func TestSpliceBadInput(t *testing.T) {
	m := tinyModel(t, "llama")
	s := randomSAE(Standard, 48, 10, 0, 1)
	s.Path = "/sae/dir"
	for _, tc := range []struct {
		hook string
		d    int
		want []string
	}{
		{"blocks.7.mlp.hook_post", 48, []string{"/sae/dir", "blocks.7.mlp.hook_post", "does not exist"}},
		{"blocks.1.hook_resid_post", 48, []string{"/sae/dir", "d_in is 48", "32 units"}},
		{"", 48, []string{"no hook_name"}},
		{"blocks.*.mlp.hook_post", 48, []string{"names 2 hook points"}},
	} {
		s.HookName = tc.hook
		_, err := NewSplice(s, m.Catalog(), SpliceOptions{})
		if err == nil {
			t.Errorf("hook %q: no error", tc.hook)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("hook %q: error %q does not mention %q", tc.hook, err, w)
			}
		}
	}
}

func TestEvaluateInModel(t *testing.T) {
	m := tinyModel(t, "gpt2")
	hook := "blocks.0.mlp.hook_post"
	p, _ := hooks.Parse(hook)
	s := perfectSAE(Standard, m.Catalog().Width(p), hook)
	seqs := [][]int{{1, 5, 9, 33, 2}, {4, 4, 8}, {7, 70, 71, 72, 73, 74, 5, 6}}
	mt, lm, err := EvaluateInModel(m, s, seqs, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if mt.FVU != 0 || mt.Tokens != 16 || lm.Targets != 13 {
		t.Errorf("perfect SAE: FVU %g over %d tokens (%d targets), want 0 over 16 (13)", mt.FVU, mt.Tokens, lm.Targets)
	}
	if lm.CEIncrease != 0 || lm.LossRecovered != 1 || lm.CEZero == lm.CEClean {
		t.Errorf("perfect SAE: %+v", lm)
	}
	// A zero SAE reconstructs b_dec = 0: the same as zero ablation.
	z := New(Standard, s.DIn, 4, 0)
	z.HookName = hook
	_, lz, err := EvaluateInModel(m, z, seqs, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(lz.LossRecovered) > 1e-12 || lz.CESpliced != lz.CEZero {
		t.Errorf("zero SAE: %+v, want loss recovered 0", lz)
	}
}
