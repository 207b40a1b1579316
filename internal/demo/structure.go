package demo

import (
	"fmt"
	"io"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/probes/bricks"
	"github.com/neuronscope/neuronscope/probes/linear"
	"github.com/neuronscope/neuronscope/probes/spectra"
)

// StructureOptions size the structure stage (AnalyzeStructure).
type StructureOptions struct {
	// PerRelation is the number of questions of each relation used (spread over the
	// languages; default 24).
	PerRelation int
	// Key is the label the bricks and probes are about (default "relation").
	Key string
	// Bricks is the number of bricks per layer (default 16); RandomPartitions the random
	// partitions of the same sizes each layer is compared with (default 200).
	Bricks           int
	RandomPartitions int
	// Folds is the probes' cross-validation folds (default 5).
	Folds int
}

func (o *StructureOptions) defaults() {
	if o.PerRelation <= 0 {
		o.PerRelation = 24
	}
	if o.Key == "" {
		o.Key = "relation"
	}
	if o.Bricks <= 0 {
		o.Bricks = 16
	}
	if o.RandomPartitions <= 0 {
		o.RandomPartitions = 200
	}
	if o.Folds <= 0 {
		o.Folds = 5
	}
}

// Structure is what the structure stage measured: the NerVE spectra of every layer, each
// layer's bricks against random partitions, and per-layer linear probes of the label.
type Structure struct {
	// Sentences is the number of questions (prompt and answer as one sentence) streamed;
	// Tokens the activation rows per layer (BOS left out).
	Sentences int      `json:"sentences"`
	Tokens    int64    `json:"tokens"`
	Key       string   `json:"key"`
	Groups    []string `json:"groups"`
	// Spectra is the NerVE report over the sentences (hook_pre vs hook_post).
	Spectra *spectra.Report `json:"spectra"`
	// Bricks are the per-layer brick analyses of blocks.L.mlp.hook_post, with the label's
	// values as the groups.
	Bricks []*bricks.Report `json:"bricks"`
	// Probes are the per-layer probes of the label at the prompt's last position.
	Probes []ProbeLayer `json:"probes"`
}

// ProbeLayer is one layer's cross-validated probes of the label at blocks.L.mlp.hook_post,
// the prompt's last position.
type ProbeLayer struct {
	Layer     int     `json:"layer"`
	Logistic  float64 `json:"logistic_accuracy"`
	LogisticS float64 `json:"logistic_accuracy_sd"`
	DiffMeans float64 `json:"diffmeans_accuracy"`
	// Majority is the mean over folds of the majority-class baseline.
	Majority float64 `json:"majority_baseline"`
}

// AnalyzeStructure runs the structure stage on up to opt.PerRelation questions of each relation
// (round-robin over the languages): every question's prompt and answer as one sentence is
// streamed through the model for the spectra (package probes/spectra) and the bricks'
// co-activation and group masses (package probes/bricks, k-means on the hook_post
// correlation, seed 1); the probes (package probes/linear, logistic regression with C = 1 and
// difference-in-means, seed 1) read each prompt's last position. Progress, if set, gets one
// line per part.
func AnalyzeStructure(in Inputs, opt StructureOptions, progress io.Writer) (*Structure, error) {
	opt.defaults()
	say := func(format string, a ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", a...)
		}
	}
	m, c := in.Model, in.Model.Config
	q := spread(in.Questions, opt.PerRelation)
	groups, err := q.Groups(opt.Key)
	if err != nil {
		return nil, err
	}
	if len(groups) < 2 {
		return nil, fmt.Errorf("demo: the questions have %d %s values; the structure stage needs 2", len(groups), opt.Key)
	}
	st := &Structure{Sentences: len(q.Items), Key: opt.Key, Groups: groups}
	sentences := make([][]int, len(q.Items))
	label := make([]int, len(q.Items))
	for i, it := range q.Items {
		sentences[i] = append(slices.Clone(it.IDs), it.AnswerIDs...)
		label[i] = slices.Index(groups, it.Labels[opt.Key])
	}
	contexts := func(yield func(corpus.Context) error) error {
		for i, ids := range sentences {
			bos := 0
			for bos < len(ids) && ids[bos] == c.BOS {
				bos++
			}
			if err := yield(corpus.Context{IDs: ids, Doc: int64(i), Index: int64(i), BOS: bos}); err != nil {
				return err
			}
		}
		return nil
	}
	padID := max(c.Pad, 0)

	say("spectra: hook_pre and hook_post covariances of %d layers over %d sentences", c.NLayers, len(sentences))
	pairs, err := spectra.NewPairs(m, nil, spectra.Options{})
	if err != nil {
		return nil, err
	}
	stats, err := spectra.Stream(m, pairs, contexts, spectra.StreamOptions{Batch: 64, PadID: padID})
	if err != nil {
		return nil, err
	}
	st.Tokens = stats.Rows
	if st.Spectra, err = spectra.Analyze(pairs, report.New(), spectra.AnalyzeOptions{}); err != nil {
		return nil, err
	}

	say("bricks: %d bricks per layer from hook_post co-activation, shares of %d %s groups, %d random partitions",
		opt.Bricks, len(groups), opt.Key, opt.RandomPartitions)
	for l := range c.NLayers {
		p := hooks.At(l, hooks.MLPPost)
		co := bricks.NewCoActivation(c.DMLP, bricks.CoActivationOptions{})
		if _, err := bricks.CoActivate(m, p, co, contexts, spectra.StreamOptions{Batch: 64, PadID: padID}); err != nil {
			return nil, err
		}
		corr, constant, err := co.Correlation()
		if err != nil {
			return nil, err
		}
		part, err := bricks.Cluster(corr, constant, bricks.PartitionOptions{Bricks: opt.Bricks, Seed: 1, Restarts: 3})
		if err != nil {
			return nil, err
		}
		gm := bricks.NewGroupMass(c.DMLP, len(groups), bricks.AbsMass)
		if err := bricks.AddGroupMass(gm, m, p, sentences, label, c.BOS, 64); err != nil {
			return nil, err
		}
		rep, err := bricks.Analyze(part, gm, bricks.AnalyzeOptions{RandomPartitions: opt.RandomPartitions, Seed: 1, Groups: groups, Layer: l})
		if err != nil {
			return nil, err
		}
		st.Bricks = append(st.Bricks, rep)
	}

	say("probes: logistic regression and difference-in-means for %s at every layer's hook_post, %d-fold", opt.Key, opt.Folds)
	var points []hooks.Point
	for l := range c.NLayers {
		points = append(points, hooks.At(l, hooks.MLPPost))
	}
	acts, err := linear.Collect(m, q.Prompts(), points, linear.CollectOptions{Pool: linear.Last, BOS: c.BOS, Batch: 64})
	if err != nil {
		return nil, err
	}
	for l, x := range acts {
		d := linear.Data{X: x, N: len(q.Items), P: c.DMLP, Labels: label, Classes: len(groups)}
		lr, err := linear.Logistic(d, linear.LogisticOptions{Folds: opt.Folds, Seed: 1})
		if err != nil {
			return nil, err
		}
		dm, err := linear.DiffMeans(d, linear.DiffMeansOptions{Folds: opt.Folds, Seed: 1})
		if err != nil {
			return nil, err
		}
		var maj float64
		for _, f := range lr.Folds {
			maj += f.Majority
		}
		st.Probes = append(st.Probes, ProbeLayer{Layer: l, Logistic: lr.MeanAccuracy, LogisticS: lr.StdAccuracy,
			DiffMeans: dm.MeanAccuracy, Majority: maj / float64(len(lr.Folds))})
	}
	return st, nil
}

// spread keeps up to perRelation questions of each relation, taken round-robin over the
// languages in file order.
func spread(q *corpus.PromptSet, perRelation int) *corpus.PromptSet {
	langs := map[string]bool{}
	for _, it := range q.Items {
		langs[it.Labels["language"]] = true
	}
	perCell := (perRelation + len(langs) - 1) / max(len(langs), 1)
	taken := map[[2]string]int{}
	perRel := map[string]int{}
	return q.Filter(func(p corpus.Prompt) bool {
		rel := p.Labels["relation"]
		cell := [2]string{rel, p.Labels["language"]}
		if taken[cell] >= perCell || perRel[rel] >= perRelation {
			return false
		}
		taken[cell]++
		perRel[rel]++
		return true
	})
}

// Summary writes the structure stage's numbers: the spectra per layer, the bricks'
// specialisation and sparsity against random partitions, and the probes against the
// majority baseline.
func (s *Structure) Summary(w io.Writer) {
	fmt.Fprintf(w, "spectra (NerVE, %d sentences, %d tokens per layer): hook_pre → hook_post\n", s.Sentences, s.Tokens)
	fmt.Fprintf(w, "  %5s %13s %15s %13s %7s %8s\n", "layer", "SE", "PR", "EEE", "JS", "PR gain")
	for _, l := range s.Spectra.Layers {
		fmt.Fprintf(w, "  %5d %5.2f → %5.2f %6.1f → %6.1f %5.3f → %5.3f %7.4f %8.2f\n", l.Layer, l.Pre.SE, l.Post.SE,
			l.Pre.PR, l.Post.PR, l.Pre.EEE, l.Post.EEE, l.JS, l.PRGain)
	}
	for _, wn := range s.Spectra.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", wn)
	}
	if len(s.Bricks) > 0 {
		fmt.Fprintf(w, "bricks (%d per layer, hook_post co-activation; %s shares; random: %d partitions of the same sizes)\n",
			len(s.Bricks[0].Bricks), s.Key, s.Bricks[0].Specialisation.R)
		fmt.Fprintf(w, "  %5s %34s %34s\n", "layer", "specialisation (random mean ± sd, p)", "sparsity (random mean ± sd, p)")
		for _, b := range s.Bricks {
			fmt.Fprintf(w, "  %5d %34s %34s\n", b.Layer, control(b.Specialisation), control(b.Sparsity))
		}
	}
	if len(s.Probes) > 0 {
		fmt.Fprintf(w, "probes of %s (%d classes) at hook_post, prompt's last position, held-out accuracy\n", s.Key, len(s.Groups))
		fmt.Fprintf(w, "  %5s %16s %10s %9s\n", "layer", "logistic", "diff-means", "majority")
		for _, p := range s.Probes {
			fmt.Fprintf(w, "  %5d %8.1f%% ± %4.1f %9.1f%% %8.1f%%\n", p.Layer, 100*p.Logistic, 100*p.LogisticS, 100*p.DiffMeans, 100*p.Majority)
		}
	}
}

// control formats a statistic against its random partitions.
func control(c bricks.Control) string {
	return fmt.Sprintf("%.3f (%.3f ± %.3f, p %.3f)", c.Observed, c.Mean, c.SD, c.P)
}
