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

// AnalyzeStructure runs the structure stage on up to opt.PerRelation questions of each
// relation (StructureData): the spectra, the bricks and the probes. Progress, if set, gets one
// line per part.
func AnalyzeStructure(in Inputs, opt StructureOptions, progress io.Writer) (*Structure, error) {
	opt.defaults()
	say := func(format string, a ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", a...)
		}
	}
	d, err := NewStructureData(in.Questions, opt.PerRelation, opt.Key)
	if err != nil {
		return nil, err
	}
	m := in.Model
	st := &Structure{Sentences: len(d.Sentences), Key: d.Key, Groups: d.Groups}
	say("spectra: hook_pre and hook_post covariances of %d layers over %d sentences", m.Config.NLayers, len(d.Sentences))
	if st.Spectra, st.Tokens, err = d.Spectra(in); err != nil {
		return nil, err
	}
	say("bricks: %d bricks per layer from hook_post co-activation, shares of %d %s groups, %d random partitions",
		opt.Bricks, len(d.Groups), d.Key, opt.RandomPartitions)
	if st.Bricks, _, err = d.Bricks(in, opt.Bricks, opt.RandomPartitions); err != nil {
		return nil, err
	}
	say("probes: logistic regression and difference-in-means for %s at every layer's hook_post, %d-fold", d.Key, opt.Folds)
	if st.Probes, err = d.Probes(in, linear.Last, opt.Folds); err != nil {
		return nil, err
	}
	return st, nil
}

// StructureData is the labelled data of the structure stage: questions, each also as one
// sentence (prompt and answer), and each question's label value.
type StructureData struct {
	Questions *corpus.PromptSet
	Sentences [][]int
	// Key is the label; Groups its values (sorted); Label[i] question i's value's index.
	Key    string
	Groups []string
	Label  []int
}

// NewStructureData keeps up to perRelation questions of each relation of q (round-robin over
// the languages, file order; ≤ 0: all) and labels them by key. Fewer than two values of key
// is an error.
func NewStructureData(q *corpus.PromptSet, perRelation int, key string) (*StructureData, error) {
	if perRelation > 0 {
		q = spread(q, perRelation)
	}
	groups, err := q.Groups(key)
	if err != nil {
		return nil, err
	}
	if len(groups) < 2 {
		return nil, fmt.Errorf("demo: the questions have %d %s values; the structure stage needs 2", len(groups), key)
	}
	d := &StructureData{Questions: q, Key: key, Groups: groups, Label: make([]int, len(q.Items))}
	for i, it := range q.Items {
		d.Sentences = append(d.Sentences, append(slices.Clone(it.IDs), it.AnswerIDs...))
		d.Label[i] = slices.Index(groups, it.Labels[key])
	}
	return d, nil
}

// contexts yields the sentences as contexts (leading BOS marked).
func (d *StructureData) contexts(bos int) func(yield func(corpus.Context) error) error {
	return func(yield func(corpus.Context) error) error {
		for i, ids := range d.Sentences {
			n := 0
			for n < len(ids) && ids[n] == bos {
				n++
			}
			if err := yield(corpus.Context{IDs: ids, Doc: int64(i), Index: int64(i), BOS: n}); err != nil {
				return err
			}
		}
		return nil
	}
}

// Spectra streams the sentences through the model (BOS left out) and returns the NerVE
// report of every layer (hook_pre vs hook_post) and the activation rows per layer.
func (d *StructureData) Spectra(in Inputs) (*spectra.Report, int64, error) {
	m := in.Model
	pairs, err := spectra.NewPairs(m, nil, spectra.Options{})
	if err != nil {
		return nil, 0, err
	}
	stats, err := spectra.Stream(m, pairs, d.contexts(m.Config.BOS), spectra.StreamOptions{Batch: 64, PadID: max(m.Config.Pad, 0)})
	if err != nil {
		return nil, 0, err
	}
	rep, err := spectra.Analyze(pairs, report.New(), spectra.AnalyzeOptions{})
	return rep, stats.Rows, err
}

// Bricks partitions every layer's hook_post neurons into k bricks (k-means on the
// correlation of their activations over the sentences, seed 1, 3 restarts) and characterises
// them by the label's groups (activation-magnitude shares over the same sentences) against
// random partitions of the same sizes (seed 1). It returns the per-layer reports and
// partitions.
func (d *StructureData) Bricks(in Inputs, k, random int) ([]*bricks.Report, []*bricks.Partition, error) {
	m, c := in.Model, in.Model.Config
	var reps []*bricks.Report
	var parts []*bricks.Partition
	for l := range c.NLayers {
		p := hooks.At(l, hooks.MLPPost)
		co := bricks.NewCoActivation(c.DMLP, bricks.CoActivationOptions{})
		if _, err := bricks.CoActivate(m, p, co, d.contexts(c.BOS), spectra.StreamOptions{Batch: 64, PadID: max(c.Pad, 0)}); err != nil {
			return nil, nil, err
		}
		corr, constant, err := co.Correlation()
		if err != nil {
			return nil, nil, err
		}
		part, err := bricks.Cluster(corr, constant, bricks.PartitionOptions{Bricks: k, Seed: 1, Restarts: 3})
		if err != nil {
			return nil, nil, err
		}
		gm := bricks.NewGroupMass(c.DMLP, len(d.Groups), bricks.AbsMass)
		if err := bricks.AddGroupMass(gm, m, p, d.Sentences, d.Label, c.BOS, 64); err != nil {
			return nil, nil, err
		}
		rep, err := bricks.Analyze(part, gm, bricks.AnalyzeOptions{RandomPartitions: random, Seed: 1, Groups: d.Groups, Layer: l})
		if err != nil {
			return nil, nil, err
		}
		reps, parts = append(reps, rep), append(parts, part)
	}
	return reps, parts, nil
}

// Probes trains, per layer, logistic regression (C = 1) and difference-in-means probes of
// the label on the prompts' hook_post activations (pool: the last position, or the mean or
// maximum over the positions after BOS), with folds-fold cross-validation (seed 1).
func (d *StructureData) Probes(in Inputs, pool linear.Pool, folds int) ([]ProbeLayer, error) {
	m, c := in.Model, in.Model.Config
	var points []hooks.Point
	for l := range c.NLayers {
		points = append(points, hooks.At(l, hooks.MLPPost))
	}
	acts, err := linear.Collect(m, d.Questions.Prompts(), points, linear.CollectOptions{Pool: pool, BOS: c.BOS, Batch: 64})
	if err != nil {
		return nil, err
	}
	var out []ProbeLayer
	for l, x := range acts {
		ld := linear.Data{X: x, N: len(d.Label), P: c.DMLP, Labels: d.Label, Classes: len(d.Groups)}
		lr, err := linear.Logistic(ld, linear.LogisticOptions{Folds: folds, Seed: 1})
		if err != nil {
			return nil, err
		}
		dm, err := linear.DiffMeans(ld, linear.DiffMeansOptions{Folds: folds, Seed: 1})
		if err != nil {
			return nil, err
		}
		var maj float64
		for _, f := range lr.Folds {
			maj += f.Majority
		}
		out = append(out, ProbeLayer{Layer: l, Logistic: lr.MeanAccuracy, LogisticS: lr.StdAccuracy,
			DiffMeans: dm.MeanAccuracy, Majority: maj / float64(len(lr.Folds))})
	}
	return out, nil
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
