// Notebook 09 — NerVE eigenspectra of the FFN activations of the two demo models.
//
// The question (after Jha & Reagen, "NerVE: Nonlinear Eigenspectrum Dynamics in LLM
// Feed-Forward Networks"): how does the FFN nonlinearity reshape the spectrum of the
// activation covariance, layer by layer? For each demo model (testdata/world-llama, SwiGLU,
// and testdata/world-gpt2, GELU) the program streams the world's held-out questions (prompt and
// answer as one sentence, BOS left out) through the model, accumulates the float64 covariance
// of every layer's blocks.L.mlp.hook_pre (gate_proj or c_fc output) and blocks.L.mlp.hook_post
// (the input of the down projection), and prints the four NerVE measures pre → post: spectral
// entropy SE, participation ratio PR, early-eigenvalue enrichment EEE, the Jensen-Shannon
// distance JS between the two spectra, with PR gain = PR_post/PR_pre, the numerical rank and
// the eigenvalues at the 1e-12 floor. -out DIR writes spectra-MODEL.json and a PNG plot per
// model (the same files as `neuronscope spectra`).
//
//	go run ./notebooks/09-spectra -out /tmp/nb09
//	go run ./notebooks/09-spectra -budget tiny      # 8 questions per relation, world-llama only
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
	"github.com/neuronscope/neuronscope/probes/spectra"
)

func main() {
	budget := flag.String("budget", "full", "full (every question, both demo models) or tiny (8 questions per relation, world-llama)")
	out := flag.String("out", "", "directory for spectra-MODEL.json and spectra-MODEL.png (empty: print only)")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(*budget == "tiny", *out); err != nil {
		fmt.Fprintln(os.Stderr, "notebook 09:", err)
		os.Exit(1)
	}
}

func run(tiny bool, out string) error {
	models, perRelation := []string{"world-llama", "world-gpt2"}, 0
	if tiny {
		models, perRelation = models[:1], 8
	}
	for _, name := range models {
		dir, err := nb.Testdata(name)
		if err != nil {
			return err
		}
		in, closeModel, err := nb.World(dir, "")
		if err != nil {
			return err
		}
		defer closeModel()
		d, err := demo.NewStructureData(in.Questions, perRelation, "relation")
		if err != nil {
			return err
		}
		rep, rows, err := d.Spectra(in)
		if err != nil {
			return err
		}
		c := in.Model.Config
		fmt.Printf("%s (%s, %d layers, d_mlp %d): %d sentences, %d tokens per layer\n", name, c.ModelType, c.NLayers, c.DMLP, len(d.Sentences), rows)
		fmt.Printf("  %5s %15s %15s %15s %7s %8s %15s\n", "layer", "SE", "PR", "EEE", "JS", "PR gain", "rank pre/post")
		for _, l := range rep.Layers {
			fmt.Printf("  %5d %6.3f → %5.3f %6.1f → %6.1f %6.3f → %5.3f %7.4f %8.2f %7d/%d\n", l.Layer, l.Pre.SE, l.Post.SE,
				l.Pre.PR, l.Post.PR, l.Pre.EEE, l.Post.EEE, l.JS, l.PRGain, l.Pre.NumericalRank, l.Post.NumericalRank)
		}
		s := rep.Summary
		fmt.Printf("  mean over layers: SE %.3f → %.3f, PR %.1f → %.1f, EEE %.3f → %.3f, JS %.4f, PR gain %.2f, EEE diff %+.3f\n",
			s.SEPre, s.SEPost, s.PRPre, s.PRPost, s.EEEPre, s.EEEPost, s.JS, s.PRGain, s.EEEDiff)
		for _, w := range rep.Warnings {
			fmt.Printf("  warning: %s\n", w)
		}
		if out == "" {
			continue
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		js, png := filepath.Join(out, "spectra-"+name+".json"), filepath.Join(out, "spectra-"+name+".png")
		if err := report.WriteJSONFile(js, rep); err != nil {
			return err
		}
		if err := spectra.SavePlot(png, rep.Layers); err != nil {
			return err
		}
		fmt.Printf("  wrote %s and %s\n", js, png)
	}
	return nil
}
