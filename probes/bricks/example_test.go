package bricks_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/neuronscope/neuronscope/probes/bricks"
)

// Example plants two groups of three neurons, each group driven by one latent factor that is
// stronger on the tokens of one language, then recovers the bricks and their languages.
func Example() {
	const tokens, width = 400, 6
	rng := rand.New(rand.NewPCG(1, 2))
	acts := make([]float32, tokens*width)
	lang := make([]int, tokens) // 0 = en, 1 = de
	for t := range tokens {
		lang[t] = t % 2
		for f := range 2 { // factor f drives neurons f, f+2, f+4
			z := rng.NormFloat64()
			if f == lang[t] {
				z += 3
			}
			for _, i := range []int{f, f + 2, f + 4} {
				acts[t*width+i] = float32(z + 0.3*rng.NormFloat64())
			}
		}
	}
	co := bricks.NewCoActivation(width, bricks.CoActivationOptions{})
	gm := bricks.NewGroupMass(width, 2, bricks.AbsMass)
	for t0 := 0; t0 < tokens; t0 += 100 { // four batches
		batch := acts[t0*width : (t0+100)*width]
		if err := co.Add(batch, 100); err != nil {
			panic(err)
		}
		if err := gm.Add(batch, lang[t0:t0+100]); err != nil {
			panic(err)
		}
	}
	corr, constant, err := co.Correlation()
	if err != nil {
		panic(err)
	}
	part, err := bricks.Cluster(corr, constant, bricks.PartitionOptions{Bricks: 2, Seed: 1})
	if err != nil {
		panic(err)
	}
	rep, err := bricks.Analyze(part, gm, bricks.AnalyzeOptions{RandomPartitions: 100, Seed: 1, Groups: []string{"en", "de"}})
	if err != nil {
		panic(err)
	}
	for _, b := range rep.Bricks {
		fmt.Printf("brick %d: neurons %v, serves %s (share %.2f)\n", b.Index, b.Neurons, rep.Groups[b.Top].Name, b.TopShare)
	}
	fmt.Printf("specialisation %.2f vs random %.2f, p = %.3f\n", rep.Specialisation.Observed, rep.Specialisation.Mean, rep.Specialisation.P)
	// With six neurons there are only 10 distinct partitions into two bricks of three, so the
	// smallest attainable p-value is about 1/10.

	// Output:
	// brick 0: neurons [0 2 4], serves en (share 0.79)
	// brick 1: neurons [1 3 5], serves de (share 0.78)
	// specialisation 0.25 vs random 0.05, p = 0.119
}
