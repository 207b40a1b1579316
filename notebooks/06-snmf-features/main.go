// Command 06-snmf-features decomposes the world model's MLP activations with SNMF (package
// decompose, the published algorithm of Shafran, Geiger & Geva 2025) and checks the features
// against the world's planted concepts.
//
// On blocks.2.mlp.hook_post of the world Llama (testdata/world-llama), over the
// mixed-language, mixed-relation fit text of ablate/steering.FromWorld (BOS dropped, as the
// published mask), it fits A ≈ F Gᵀ with the published settings (sparsity 0.01 → 6 of 512
// neurons per feature, random init, seed 42) at rank 50, and prints:
//
//   - the fit: iterations, best iterate, FVU = ‖A − F Gᵀ‖² / Σ‖a − ā‖²;
//   - for each concept (4 languages, 10 relations), the feature that detects it best (ROC-AUC
//     of the max-over-tokens cosine between a text's activations and F_j, concept texts
//     against neutral texts, picked on a selection half, reported on the held-out half:
//     steering.Detector, the published concept-detection score);
//   - for the features picked most often, their neurons, the tokens with the largest
//     coefficients G (inputs) and the vocabulary projection of F_j/‖F_j‖ through W_out, the
//     final norm and the unembedding (outputs; decompose.ProjectVocab).
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/06-snmf-features                 # rank 50, up to 2000 iterations
//	go run ./notebooks/06-snmf-features -budget tiny    # rank 8, 10 iterations
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/ablate/steering"
	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
)

func main() {
	budget := flag.String("budget", "full", "full, or tiny: rank 8, 10 iterations, a small fit text")
	modelDir := flag.String("model", "", "model directory (default: testdata/world-llama of this repository)")
	worldDir := flag.String("world", "", "world directory with ground_truth.json (default: testdata/world of this repository)")
	layer := flag.Int("layer", 2, "block whose mlp.hook_post is decomposed")
	out := flag.String("out", "", "directory to write the features to (neuronscope.features/v1; empty: print only)")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(os.Stdout, *modelDir, *worldDir, *out, *layer, *budget == "tiny"); err != nil {
		fmt.Fprintln(os.Stderr, "06-snmf-features:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, modelDir, worldDir, out string, layer int, tiny bool) error {
	wo := steering.WorldOptions{}
	opt := decompose.DefaultOptions()
	if tiny {
		wo = steering.WorldOptions{FitFacts: 1, FitFiller: 5, DetectFacts: 2, DetectFiller: 4}
		opt.Rank, opt.MaxIter = 8, 10
	}
	m, enc, task, err := nb.WorldTask(modelDir, worldDir, wo)
	if err != nil {
		return err
	}
	defer m.Close()
	acts, err := steering.FitActivations(m, task, layer, 64)
	if err != nil {
		return err
	}
	f, err := decompose.SNMF(context.Background(), acts, opt)
	if err != nil {
		return err
	}
	var mean = make([]float64, acts.DMLP)
	for t := 0; t < acts.N(); t++ {
		for i, v := range acts.Rows[t*acts.DMLP : (t+1)*acts.DMLP] {
			mean[i] += float64(v) / float64(acts.N())
		}
	}
	var ss float64
	for t := 0; t < acts.N(); t++ {
		for i, v := range acts.Rows[t*acts.DMLP : (t+1)*acts.DMLP] {
			ss += (float64(v) - mean[i]) * (float64(v) - mean[i])
		}
	}
	fmt.Fprintf(w, "A: %d tokens × %d neurons of blocks.%d.mlp.hook_post (%d fit texts, BOS dropped: %d)\n", acts.N(), acts.DMLP, layer, len(task.Fit), acts.DroppedBOS)
	fmt.Fprintf(w, "SNMF: rank %d, %d neurons kept per feature, %d iterations (stop: %s), best iterate %d, FVU %.3f, ‖A − F Gᵀ‖²/‖A‖² %.3f\n\n",
		f.Rank, f.Kept, f.Iters, f.Stop, f.BestIter+1, f.BestLoss/ss, f.BestLoss/f.SumSquares)

	feats := make([][]float32, f.Rank)
	for j := range feats {
		feats[j] = f.Column(nil, j)
	}
	det, err := steering.NewDetector(m, task, layer, 64)
	if err != nil {
		return err
	}
	picks := det.Best("snmf", feats)
	aucs := det.AUCs(feats)
	fmt.Fprintf(w, "best feature per concept (held-out detection ROC-AUC; the median over all features for scale):\n")
	uses := map[int][]string{}
	var sum float64
	for ci, c := range task.Concepts {
		all := append([]float64(nil), aucs[ci]...)
		sort.Float64s(all)
		fmt.Fprintf(w, "  %-30s feature %-3d AUC %.3f   (median feature %.3f)\n", c.Name, picks[ci].Index, picks[ci].TestAUC, all[len(all)/2])
		uses[picks[ci].Index] = append(uses[picks[ci].Index], c.Name)
		sum += picks[ci].TestAUC
	}
	fmt.Fprintf(w, "  mean best-feature AUC %.3f over %d concepts; %d distinct features picked\n\n", sum/float64(len(task.Concepts)), len(task.Concepts), len(uses))

	vp, err := decompose.ProjectVocab(m, layer, f.F, f.DMLP, f.Rank, 5)
	if err != nil {
		return err
	}
	name := func(id int) string { s, _ := enc.Tok.IDToToken(id); return s }
	var order []int
	for j := range uses {
		order = append(order, j)
	}
	sort.Slice(order, func(a, b int) bool {
		if len(uses[order[a]]) != len(uses[order[b]]) {
			return len(uses[order[a]]) > len(uses[order[b]])
		}
		return order[a] < order[b]
	})
	fmt.Fprintf(w, "picked features: neurons (sign), top input tokens by G, vocabulary projection (top of +F_j):\n")
	for _, j := range order[:min(6, len(order))] {
		var neurons []string
		for i := 0; i < f.DMLP; i++ {
			if v := f.F[i*f.Rank+j]; v != 0 {
				neurons = append(neurons, fmt.Sprintf("%d%s", i, map[bool]string{true: "+", false: "−"}[v > 0]))
			}
		}
		type tg struct {
			t int
			g float32
		}
		var tops []tg
		for t := 0; t < f.N; t++ {
			tops = append(tops, tg{t, f.G[t*f.Rank+j]})
		}
		sort.SliceStable(tops, func(a, b int) bool { return tops[a].g > tops[b].g })
		count := map[string]int{}
		var seen []string
		for _, x := range tops[:min(25, len(tops))] {
			s := name(acts.Tokens[x.t].ID)
			if count[s] == 0 {
				seen = append(seen, s)
			}
			count[s]++
		}
		var in []string
		for _, s := range seen[:min(5, len(seen))] {
			in = append(in, fmt.Sprintf("%s×%d", s, count[s]))
		}
		var outTok []string
		for _, v := range vp[j].Top {
			outTok = append(outTok, name(v.ID))
		}
		fmt.Fprintf(w, "  feature %-3d for %s\n    neurons %s\n    inputs  %s\n    outputs %s\n", j, strings.Join(uses[j], ", "),
			strings.Join(neurons, " "), strings.Join(in, " "), strings.Join(outTok, " "))
	}
	if out == "" {
		return nil
	}
	rep, err := decompose.NewReport(f, acts, opt, decompose.DefaultReportOptions())
	if err != nil {
		return err
	}
	if err := decompose.Write(out, &decompose.Output{F: f.F, Report: rep}); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote features.safetensors, features.json and neurons.json to %s\n", out)
	return nil
}
