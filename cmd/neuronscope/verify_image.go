package main

import (
	"fmt"
	"strings"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/spf13/cobra"
)

// runVerifyImages is verify --experiment path on the images of an image classifier: the
// paths `find path --image/--images` found, each removed (×0) and enhanced (×2) at its image's
// CLS token, the class probability deviation and the classification accuracy against random
// paths.
func runVerifyImages(cmd *cobra.Command, mf *modelFlags, f *verifyFlags) error {
	switch {
	case f.neurons == "":
		return usagef("--neurons is required")
	case f.experiment != expPath:
		return usagef("--experiment %s: with --image/--images only the path experiment runs (give --experiment path and a find path set of the images)", f.experiment)
	case f.eval != "" || len(f.texts) > 0 || f.facts != "":
		return usagef("give either --eval/--text/--facts or --image/--images, not both")
	case f.out == "" && !f.asJSON:
		return usagef("--out is required (or --json)")
	case f.random < 2:
		return usagef("--random %d: want at least 2", f.random)
	}
	if err := checkOut(f.out); err != nil {
		return err
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	set, proc, err := f.img.listImages(m)
	if err != nil {
		return err
	}
	ns, err := hooks.ReadNeuronSet(f.neurons)
	if err != nil {
		return usagef("--neurons: %v", err)
	}
	if p := ns.Provenance; p != nil && p.ConfigHash != "" && p.ConfigHash != m.Provenance().ConfigHash {
		return usagef("--neurons %s was found on another model (%s), not --model %s", f.neurons, p.ModelDir, m.Dir)
	}
	st, err := attribute.PathSettingsOf(ns)
	if err != nil {
		return usagef("--neurons %s: %v", f.neurons, err)
	}
	byID := map[string]int{}
	for i, id := range imageIDs(set.files) {
		byID[id] = i
	}
	var items []ablate.PathItem
	for _, r := range st.Items {
		i, ok := byID[r.ID]
		if !ok {
			return usagef("--neurons %s: path item %s is none of the images given (the images the paths were found on?)", f.neurons, r.ID)
		}
		if r.Position != 0 {
			return usagef("--neurons %s: path item %s is at position %d, not an image's CLS token", f.neurons, r.ID, r.Position)
		}
		if l := set.labels[i]; l >= 0 && l != r.Token {
			return usagef("--neurons %s: path item %s targets class %s, but the image's label is %s", f.neurons, r.ID, className(m, r.Token), className(m, l))
		}
		if r.Token >= m.Config.DVocab {
			return usagef("--neurons %s: path item %s targets class %d of %d", f.neurons, r.ID, r.Token, m.Config.DVocab)
		}
		px, err := proc.ReadFiles(set.files[i])
		if err != nil {
			return f.img.fileError(err)
		}
		suffix := "/" + r.ID
		if _, ok := ns.Group("path"); ok && len(st.Items) == 1 {
			suffix = ""
		}
		it := ablate.PathItem{ID: r.ID, Labels: r.Labels, Target: r.Token, Image: px, Paths: map[string][]hooks.Neuron{}}
		for _, k := range attribute.PathKinds {
			g, ok := ns.Group(k + suffix)
			if !ok {
				return usagef("--neurons %s: path item %s has no group %q", f.neurons, r.ID, k+suffix)
			}
			it.Paths[k] = hooks.Plain(g)
		}
		items = append(items, it)
	}
	compare := splitList(f.compare)
	if len(compare) == 0 && st.Similarity != nil {
		compare = []string{st.Similarity.Key}
	}
	for _, key := range compare {
		for _, it := range items {
			if _, ok := it.Labels[key]; !ok {
				return usagef("--compare %s: path item %s has no such label", key, it.ID)
			}
		}
	}
	var progress func(int)
	if !f.noProgress {
		bar := newBar(cmd, int64(len(items)), "verify path", "images")
		defer bar.Finish()
		progress = func(n int) { bar.Add(n) }
	}
	lf, err := ablate.VerifyPaths(m, items, ablate.PathVerifyOptions{Compare: compare, Random: f.random, Seed: f.seed, Resamples: f.resamples,
		Permutations: f.permutations, Verdict: ablate.VerdictOptions{MinEffect: f.minEffect, Margin: f.margin, Alpha: f.alpha},
		BatchSize: f.batch, Progress: progress, Source: f.neurons})
	if err != nil {
		return err
	}
	var inputs []labels.Input
	for _, in := range []struct{ role, path string }{{"neurons", f.neurons}, {"images", f.img.list}} {
		if in.path == "" {
			continue
		}
		h, err := labels.HashInput(in.role, in.path)
		if err != nil {
			return usagef("%v", err)
		}
		inputs = append(inputs, h)
	}
	lf.Provenance = m.Provenance()
	seed := int64(f.seed)
	lf.Provenance.Seed = &seed
	lf.Provenance.Dataset = fmt.Sprintf("%d images", len(items))
	if f.img.list != "" {
		lf.Provenance.Dataset = f.img.list
	}
	lf.Inputs = inputs
	lf.Settings = verifySettings{Experiment: expPath, Positions: "each image's CLS token", GroupKey: strings.Join(compare, ","), Random: f.random,
		Seed: f.seed, Resamples: f.resamples, MinEffect: f.minEffect, Margin: f.margin, Alpha: f.alpha}
	if f.out != "" {
		if err := lf.WriteFile(f.out); err != nil {
			return err
		}
	}
	if f.asJSON {
		return lf.Write(cmd.OutOrStdout())
	}
	printLabels(cmd.OutOrStdout(), lf, nil)
	if f.out != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.out)
	}
	return nil
}
