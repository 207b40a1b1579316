// Notebook 11 — linear probes of the demo model's MLP neurons, layer by layer.
//
// The question: at which layer can a linear read-out of blocks.L.mlp.hook_post tell a
// question's relation or language, and how much better is logistic regression than the
// difference of class means? For every layer of testdata/world-llama and each label
// (relation: 10 classes, language: 4) the program trains, with seeded stratified 5-fold
// cross-validation (package probes/linear), an L2-regularised multinomial logistic regression
// (C = 1, standardised inputs) and a difference-in-means probe, on the prompt's last position
// and on the mean over the prompt's positions after BOS, and prints the held-out accuracy with
// the majority-class baseline. `neuronscope probe` does the same for any checkpoint and tap and
// writes the probe directions for `neuronscope steer`.
//
//	go run ./notebooks/11-probes
//	go run ./notebooks/11-probes -budget tiny      # 8 questions per relation, 3 folds
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
	"github.com/neuronscope/neuronscope/probes/linear"
)

func main() {
	budget := flag.String("budget", "full", "full (60 questions per relation, 5 folds) or tiny (8, 3 folds)")
	_ = flag.String("out", "", "unused: this notebook only prints")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(*budget == "tiny"); err != nil {
		fmt.Fprintln(os.Stderr, "notebook 11:", err)
		os.Exit(1)
	}
}

func run(tiny bool) error {
	perRelation, folds := 60, 5
	if tiny {
		perRelation, folds = 8, 3
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
		fmt.Printf("%s (%d classes, %d questions): held-out accuracy of world-llama's hook_post probes, %d-fold\n", key, len(d.Groups), len(d.Sentences), folds)
		fmt.Printf("  %5s | %-36s | %-36s\n", "", "last position", "mean after BOS")
		fmt.Printf("  %5s | %15s %10s %8s | %15s %10s %8s\n", "layer", "logistic", "diff-means", "majority", "logistic", "diff-means", "majority")
		last, err := d.Probes(in, linear.Last, folds)
		if err != nil {
			return err
		}
		mean, err := d.Probes(in, linear.Mean, folds)
		if err != nil {
			return err
		}
		for l := range last {
			a, b := last[l], mean[l]
			fmt.Printf("  %5d | %6.1f%% ± %4.1f %9.1f%% %7.1f%% | %6.1f%% ± %4.1f %9.1f%% %7.1f%%\n", l,
				100*a.Logistic, 100*a.LogisticS, 100*a.DiffMeans, 100*a.Majority, 100*b.Logistic, 100*b.LogisticS, 100*b.DiffMeans, 100*b.Majority)
		}
	}
	return nil
}
