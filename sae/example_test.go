package sae_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/sae"
)

// Train a TopK SAE on activations built from a planted dictionary, check that it found the
// planted directions, and splice it into a (random) model with the error term, where it changes
// nothing until a latent is steered.
func Example() {
	const d, atoms, n = 16, 24, 4096
	rng := rand.New(rand.NewPCG(1, 1))
	dict := make([][]float32, atoms)
	for a := range dict {
		dict[a] = make([]float32, d)
		var s float64
		for i := range dict[a] {
			v := rng.NormFloat64()
			dict[a][i], s = float32(v), s+v*v
		}
		for i := range dict[a] {
			dict[a][i] /= float32(math.Sqrt(s))
		}
	}
	x := make([]float32, n*d) // every token: 3 planted directions with weights in [0.5, 1.5)
	for t := range n {
		for _, a := range rng.Perm(atoms)[:3] {
			c := float32(0.5 + rng.Float64())
			for i := range d {
				x[t*d+i] += c * dict[a][i]
			}
		}
	}
	rows := sae.NewRows(x, d, "planted")

	cfg := sae.DefaultTrainConfig(sae.TopK, d, 2*atoms, 800, 128)
	cfg.K, cfg.AuxK, cfg.LR, cfg.StatsRows = 3, 16, 3e-3, 2048
	tr, _ := sae.NewTrainer(cfg)
	if err := sae.Train(sae.NewShuffled(rows, 1), []*sae.Trainer{tr}, sae.RunOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	s := tr.SAE("blocks.0.hook_resid_post", 0, "example")
	m, _ := sae.Evaluate(s, rows, 0, 1024)
	found := 0
	for _, a := range dict {
		for j := range s.DSAE {
			dir := s.Direction(j)
			var dp, nn float64
			for i := range d {
				dp += float64(a[i] * dir[i])
				nn += float64(dir[i] * dir[i])
			}
			if dp/math.Sqrt(nn) > 0.9 {
				found++
				break
			}
		}
	}
	fmt.Printf("L0 %.0f, FVU below 0.1: %v, ≥ 90%% of the planted directions found: %v\n", m.L0, m.FVU < 0.1, found*10 >= atoms*9)

	// Splice it into a model whose residual stream is 16 wide.
	mc, _ := model.ParseConfig([]byte(`{"model_type":"gpt2","n_layer":1,"n_embd":16,"n_head":2,"vocab_size":50,"n_positions":16}`), "config.json")
	lm, _ := model.NewRandom(mc, 1)
	b, _ := model.NewBatch([][]int{{1, 2, 3, 4}}, model.PadRight, 0)
	clean, _ := lm.Forward(b)
	quiet, _ := sae.NewSplice(s, lm.Catalog(), sae.SpliceOptions{ErrorTerm: true, CaptureLatents: true})
	same, _ := lm.Forward(b, quiet.Option())
	steer, _ := sae.NewSplice(s, lm.Catalog(), sae.SpliceOptions{ErrorTerm: true, Interventions: []sae.Intervention{sae.Steer(0, 5)}})
	steered, _ := lm.Forward(b, steer.Option())
	changed := func(r *model.Result) bool {
		for i, v := range r.Logits.Data {
			if v != clean.Logits.Data[i] {
				return true
			}
		}
		return false
	}
	p, _ := hooks.Parse(s.HookName)
	fmt.Println("spliced at", p, "latents", quiet.LatentsName(), quiet.Latents().Shape)
	fmt.Println("logits changed with the error term:", changed(same), "- after steering latent 0:", changed(steered))
	// Output:
	// L0 3, FVU below 0.1: true, ≥ 90% of the planted directions found: true
	// spliced at blocks.0.hook_resid_post latents blocks.0.hook_resid_post.sae.hook_sae_acts_post [1 4 48]
	// logits changed with the error term: false - after steering latent 0: true
}
