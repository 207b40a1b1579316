// Notebook 10 — functional bricks of the demo model's MLP neurons.
//
// The question (after Configurable Foundation Models' emergent "bricks"): do a layer's MLP
// neurons fall into co-activating groups that serve particular parts of the data? On the
// synthetic world the parts are known: ten relations and four languages. For every layer of
// testdata/world-llama the program partitions the blocks.L.mlp.hook_post neurons into k bricks
// (kernel k-means on the correlation of their activations over the held-out questions, prompt
// and answer as one sentence, seed 1; package probes/bricks), then for the relation and the
// language labels measures each brick's share of activation magnitude per group and two
// statistics against random partitions of the same brick sizes:
//
//   - specialisation: mean over bricks of 1 − H(brick's group shares)/ln G (1: a brick serves
//     one group only),
//   - sparsity: mean over groups of 1 − H(group's use of the bricks)/ln B (1: a group uses one
//     brick only),
//
// with the empirical one-sided p-value (1 + #random ≥ observed)/(1 + R). It then lists the
// last layer's bricks with the group each serves most. The causal check (ablating each brick
// and measuring every relation's accuracy, the brick × group matrix through package ablate) is
// `neuronscope bricks`; this notebook stays with the activation shares.
//
//	go run ./notebooks/10-bricks
//	go run ./notebooks/10-bricks -budget tiny      # 8 questions per relation, 50 random partitions
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
	"github.com/neuronscope/neuronscope/probes/bricks"
)

func main() {
	budget := flag.String("budget", "full", "full (every question, 1000 random partitions) or tiny")
	_ = flag.String("out", "", "unused: this notebook only prints")
	k := flag.Int("bricks", 16, "bricks per layer")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(*budget == "tiny", *k); err != nil {
		fmt.Fprintln(os.Stderr, "notebook 10:", err)
		os.Exit(1)
	}
}

func run(tiny bool, k int) error {
	perRelation, random := 0, 1000
	if tiny {
		perRelation, random = 8, 50
	}
	in, closeModel, err := nb.World("", "")
	if err != nil {
		return err
	}
	defer closeModel()
	for _, key := range []string{"relation", "language"} {
		d, err := demo.NewStructureData(in.Questions, perRelation, key)
		if err != nil {
			return err
		}
		reps, parts, err := d.Bricks(in, k, random)
		if err != nil {
			return err
		}
		fmt.Printf("%s (%d groups): %d bricks per layer of world-llama's hook_post, %d sentences; random: %d partitions of the same sizes\n",
			key, len(d.Groups), k, len(d.Sentences), random)
		fmt.Printf("  %5s %9s %38s %38s\n", "layer", "constant", "specialisation (random mean ± sd, p)", "sparsity (random mean ± sd, p)")
		for l, r := range reps {
			fmt.Printf("  %5d %9d %38s %38s\n", r.Layer, parts[l].Constant, control(r.Specialisation), control(r.Sparsity))
		}
		last := reps[len(reps)-1]
		bs := slices.Clone(last.Bricks)
		slices.SortStableFunc(bs, func(a, b bricks.Brick) int {
			switch {
			case a.Specialisation > b.Specialisation:
				return -1
			case a.Specialisation < b.Specialisation:
				return 1
			}
			return 0
		})
		fmt.Printf("  layer %d bricks, most specialised first (size, top %s and its share; uniform share %.3f):\n", last.Layer, key, 1/float64(len(d.Groups)))
		for _, b := range bs {
			fmt.Printf("    brick %2d  %4d neurons  %-22s %.3f  specialisation %.3f\n", b.Index, b.Size, d.Groups[b.Top], b.TopShare, b.Specialisation)
		}
	}
	return nil
}

// control formats a statistic against its random partitions.
func control(c bricks.Control) string {
	return fmt.Sprintf("%.3f (%.3f ± %.3f, p %.4f)", c.Observed, c.Mean, c.SD, c.P)
}
