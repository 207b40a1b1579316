package labels

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
)

// Schema is the schema_version of label files.
const Schema = "neuronscope.labels/v1"

// Claim kinds: what a label says its neurons are about.
const (
	KindRelation = "relation" // a relation of fact questions (capital_of)
	KindLanguage = "language" // a language (pelan)
	KindConcept  = "concept"  // any other group of inputs
	KindToken    = "token"    // a token or token class
	KindPath     = "path"     // a path of neurons across layers
	KindFeature  = "feature"  // an SNMF or SAE feature
	KindFact     = "fact"     // one fact's prompts (knowledge neurons)
)

// Verdicts of a verification (the rules are in package ablate's documentation).
const (
	Confirmed    = "confirmed"     // the claimed effect is there, selective, and beyond random sets of the same shape
	NotSelective = "not_selective" // an effect, but no more selective than random sets
	NoEffect     = "no_effect"     // intervening barely changes the claimed group
	Inconclusive = "inconclusive"  // beyond random by the margin, but too few random sets or items to say so at the chosen level
)

// File is a label file (schema neuronscope.labels/v1): what produced it, the data it read
// (with their sha256), one Label per neuron group, and the experiments' full results that
// the labels' verifications summarise (matrices, sweeps, steering calibrations).
type File struct {
	SchemaVersion string            `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	Inputs        []Input           `json:"inputs"`
	Settings      any               `json:"settings,omitempty"`
	Labels        []Label           `json:"labels"`
	Matrices      []Matrix          `json:"matrices,omitempty"`
	Sweeps        []Sweep           `json:"sweeps,omitempty"`
	Steering      []Steering        `json:"steering,omitempty"`
	Patching      []Patching        `json:"patching,omitempty"`
	// ItemEffects are the experiments in which every item has its own neurons (paths,
	// knowledge neurons).
	ItemEffects []ItemEffects `json:"item_effects,omitempty"`
}

// Input is one data file a run read, with its content hash.
type Input struct {
	Role   string `json:"role"` // "neurons", "eval", "text:pelan", "profile", ...
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// HashInput hashes the file at path.
func HashInput(role, path string) (Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return Input{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Input{}, fmt.Errorf("%s: %v", path, err)
	}
	return Input{Role: role, Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n}, nil
}

// HashBytes is HashInput for data already in memory (an embedded file), named path.
func HashBytes(role, path string, data []byte) Input {
	s := sha256.Sum256(data)
	return Input{Role: role, Path: path, SHA256: hex.EncodeToString(s[:]), Bytes: int64(len(data))}
}

// Label is one claim about a group of neurons (or one neuron), the evidence a finder gave for
// it, and the experiments that checked it.
type Label struct {
	// Set is the group's name in the neuron-set file.
	Set   string `json:"set"`
	Claim Claim  `json:"claim"`
	// Units are the labelled neurons in the finder's order, each with its own evidence.
	Units         []Unit         `json:"units"`
	Evidence      Evidence       `json:"evidence"`
	Verifications []Verification `json:"verifications"`
	// Verdict is the verdict of the first verification ("" when none ran).
	Verdict string `json:"verdict,omitempty"`
}

// Claim says what the neurons are claimed to do.
type Claim struct {
	Kind string `json:"kind"`
	// Key is the eval-set label the claim is about ("relation"), when there is one.
	Key   string `json:"key,omitempty"`
	Value string `json:"value"`
	// Description is one line built from the evidence and the verification.
	Description string `json:"description"`
}

// Evidence is what the finder reported for the group.
type Evidence struct {
	Finder string `json:"finder"`
	Source string `json:"source,omitempty"` // the neuron-set file
	// Population is the number of units at the group's taps over all layers: the denominator
	// of every unit's percentile.
	Population int    `json:"population"`
	PerLayer   string `json:"per_layer"` // e.g. "L0:28 L3:4"
}

// Unit is one labelled neuron and its evidence. Rank is its 1-based place in the finder's
// ranking of the group; Percentile = 100·(1 − (Rank−1)/Population), its place among every unit
// at the tap when the group is the top of a ranking of all of them. TopExamples, LMHead and DLA
// come from a profile of the model, when one is given.
type Unit struct {
	Hook        string    `json:"hook"`
	Index       int       `json:"index"`
	Score       *float64  `json:"score,omitempty"`
	Rank        int       `json:"rank"`
	Percentile  float64   `json:"percentile"`
	TopExamples []Example `json:"top_examples,omitempty"`
	LMHead      []string  `json:"lm_head,omitempty"`
	DLA         []string  `json:"dla,omitempty"`
}

// Neuron returns the unit as a hooks.Neuron.
func (u Unit) Neuron() (hooks.Neuron, error) {
	p, err := hooks.Parse(u.Hook)
	if err != nil {
		return hooks.Neuron{}, err
	}
	if !p.Site.PerLayer() {
		return hooks.Neuron{}, fmt.Errorf("unit %s[%d]: not a per-layer hook point", u.Hook, u.Index)
	}
	return hooks.Neuron{Point: p, Index: u.Index}, nil
}

// UnitOf returns the unit of neuron n with its rank and percentile.
func UnitOf(n hooks.Neuron, rank, population int) Unit {
	u := Unit{Hook: n.Point.String(), Index: n.Index, Rank: rank}
	if population > 0 {
		u.Percentile = 100 * (1 - float64(rank-1)/float64(population))
	}
	return u
}

// Example is one top-activating context of a unit: its tokens and the activation.
type Example struct {
	Text  string  `json:"text"`
	Value float32 `json:"value"`
}

// Verification is one experiment's check of a label. Effect is the tested statistic (for a
// group × group matrix the selectivity: the effect on the claimed group minus the mean effect
// on the others), Random its distribution over random neuron sets of the same shape, P the
// empirical p-value (#random ≥ Effect + 1)/(n + 1), EffectSize (Effect − random mean)/random
// std, CI95 a bootstrap 95% interval of Effect over the items.
type Verification struct {
	Experiment   string  `json:"experiment"` // matrix, sweep, enhance, steer, patch, selectivity
	Intervention string  `json:"intervention"`
	Measure      string  `json:"measure"`
	Statistic    string  `json:"statistic"`     // what Effect is
	Target       float64 `json:"target_effect"` // the measure's effect on the claimed group
	// Others is the mean effect on the other groups (absent when there are none).
	Others     *float64 `json:"other_effect,omitempty"`
	Effect     float64  `json:"effect"`
	Random     Stat     `json:"random"`
	RandomRule string   `json:"random_rule"`
	EffectSize *float64 `json:"effect_size,omitempty"` // absent when the random std is 0
	P          float64  `json:"p"`
	// PBootstrap is the percentile-bootstrap p-value over items: (#{resamples whose Effect is
	// ≤ the random sets' mean} + 1)/(resamples + 1) (absent when the experiment does not
	// resample items).
	PBootstrap *float64   `json:"p_bootstrap,omitempty"`
	CI95       [2]float64 `json:"ci95"`
	Resamples  int        `json:"bootstrap_resamples"`
	Items      int        `json:"items"`
	Verdict    string     `json:"verdict"`
	Rule       string     `json:"rule"`
	// Notes states what the numbers alone do not: interference (other groups improving),
	// unreachable KL targets, skipped items.
	Notes []string `json:"notes,omitempty"`
	// Ref points at the full result in the file ("matrices[0]", "sweeps[3]").
	Ref string `json:"ref,omitempty"`
}

// Stat summarises a sample: mean, sample standard deviation (n−1), extremes and size.
type Stat struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// StatOf summarises xs (the zero Stat for none).
func StatOf(xs []float64) Stat {
	s := Stat{N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	s.Min, s.Max = xs[0], xs[0]
	for _, x := range xs {
		s.Mean += x
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var v float64
		for _, x := range xs {
			v += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(v / float64(len(xs)-1))
	}
	return s
}

// Matrix is a group × group experiment: the neurons of each set (row) intervened on, the
// measure read on every group of items (column), against random sets of the same shape.
type Matrix struct {
	Name         string `json:"name"`
	Key          string `json:"group_key"`
	Intervention string `json:"intervention"`
	// Measure is "accuracy" (greedy; Cell.Effect is the relative drop
	// (acc_orig − acc_after)/acc_orig) or "perplexity" (Cell.Effect is the ratio after/before).
	Measure    string    `json:"measure"`
	Effect     string    `json:"effect"`
	Sets       []string  `json:"sets"`
	Groups     []string  `json:"groups"`
	GroupItems []int     `json:"group_items"`
	Baseline   []float64 `json:"baseline"` // per group: accuracy or perplexity before
	Cells      [][]Cell  `json:"cells"`    // [set][group]
	RandomSets int       `json:"random_sets"`
	// Interference lists every cell of a set on a group other than its own whose measure
	// improved (accuracy up, perplexity down).
	Interference []Interference `json:"interference"`
}

// Cell is one set's effect on one group.
type Cell struct {
	Value  float64 `json:"value"`          // accuracy or perplexity after the intervention
	Drop   float64 `json:"drop,omitempty"` // accuracy: baseline − value
	Effect float64 `json:"effect"`
	Random Stat    `json:"random"` // Effect of the random sets
	// P is the empirical p-value of Effect against the random sets' (one-sided, large effects).
	P float64 `json:"p"`
}

// Interference is a set improving another group's measure.
type Interference struct {
	Set    string  `json:"set"`
	Group  string  `json:"group"`
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Effect float64 `json:"effect"`
	// BeyondRandom: the improvement is larger than every random set's on that group.
	BeyondRandom bool `json:"beyond_random"`
}

// Sweep is a cumulativity experiment: the top k of a ranked set intervened on, k over a grid,
// the effect on the claimed group and on the others, with random sets of each top k's shape.
type Sweep struct {
	Set          string       `json:"set"`
	Key          string       `json:"group_key"`
	Target       string       `json:"target_group"`
	Intervention string       `json:"intervention"`
	Measure      string       `json:"measure"`
	Effect       string       `json:"effect"`
	Points       []SweepPoint `json:"points"`
}

// SweepPoint is one k of a sweep.
type SweepPoint struct {
	K            int     `json:"k"`
	Target       float64 `json:"target_effect"`
	Others       float64 `json:"other_effect"` // mean over the other groups
	Random       Stat    `json:"random_target"`
	RandomOthers Stat    `json:"random_other"`
	P            float64 `json:"p"` // empirical p of the target effect
}

// Steering is a steering-strength calibration: α found by binary search so that the KL
// divergence KL(base ‖ steered) of the next-token distribution at a base prompt reaches each
// target, for both signs.
type Steering struct {
	Set        string       `json:"set,omitempty"`
	Direction  string       `json:"direction"`
	Points     []string     `json:"points"`
	BasePrompt string       `json:"base_prompt"`
	Tolerance  float64      `json:"tolerance"`
	Bounds     [2]float64   `json:"alpha_bounds"`
	Targets    []SteerPoint `json:"targets"`
}

// SteerPoint is one KL target and sign. Reached is false when the search could not bring the
// KL within the tolerance of the target: Alpha and KL are then the closest it came.
type SteerPoint struct {
	TargetKL    float64      `json:"target_kl"`
	Sign        int          `json:"sign"`
	Alpha       float64      `json:"alpha"`
	KL          float64      `json:"kl"`
	Reached     bool         `json:"reached"`
	Why         string       `json:"why,omitempty"`
	Generations []Generation `json:"generations,omitempty"`
	// Measure is the effect at this α on the eval groups, when an eval set was given.
	Measure []GroupEffect `json:"measure,omitempty"`
}

// Generation is one seeded continuation.
type Generation struct {
	Prompt string `json:"prompt"`
	Seed   uint64 `json:"seed"`
	Text   string `json:"text"`
	IDs    []int  `json:"ids"`
}

// GroupEffect is a measure on one group before and after.
type GroupEffect struct {
	Group  string  `json:"group"`
	N      int     `json:"n"`
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Effect float64 `json:"effect"`
}

// Patching is an activation-patching experiment: clean activations written into corrupted
// runs (or back), per hook point or neuron set, with the metric recovered as a fraction.
type Patching struct {
	Direction string       `json:"direction"` // "clean→corrupt" or "corrupt→clean"
	Metric    string       `json:"metric"`
	Pairs     int          `json:"pairs"`
	Clean     float64      `json:"clean_metric"`
	Corrupt   float64      `json:"corrupt_metric"`
	Positions string       `json:"positions"`
	Sites     []PatchPoint `json:"sites"`
}

// PatchPoint is the result of patching one site: Recovered = (M_patched − M_corrupt) /
// (M_clean − M_corrupt), averaged over pairs as a ratio of means.
type PatchPoint struct {
	Site      string     `json:"site"`
	Metric    float64    `json:"metric"`
	Recovered float64    `json:"recovered"`
	CI95      [2]float64 `json:"ci95"`
}

// Write writes the file as indented JSON to w.
func (f *File) Write(w io.Writer) error { return report.WriteJSON(w, f) }

// WriteFile writes the file to path atomically.
func (f *File) WriteFile(path string) error { return report.WriteJSONFile(path, f) }

// ReadFile reads a label file and checks it: the schema version, and every unit names a
// per-layer hook point. Errors name path.
func ReadFile(path string) (*File, error) {
	var f File
	if err := report.ReadJSONFile(path, &f); err != nil {
		return nil, err
	}
	if f.SchemaVersion != Schema {
		return nil, fmt.Errorf("%s: not a label file (schema_version %q, want %q)", path, f.SchemaVersion, Schema)
	}
	for i, l := range f.Labels {
		for _, u := range l.Units {
			if _, err := u.Neuron(); err != nil {
				return nil, fmt.Errorf("%s: label %d (%s): %v", path, i, l.Set, err)
			}
		}
	}
	return &f, nil
}

// CheckModel returns an error naming name when the file's model is not the one of other (a
// profile's or a model's provenance): their config hashes differ. Labels of one model say
// nothing about another.
func (f *File) CheckModel(other report.Provenance, name string) error {
	a, b := f.Provenance.ConfigHash, other.ConfigHash
	if a == "" || b == "" || a == b {
		return nil
	}
	return fmt.Errorf("%s: labels of a different model (config sha256 %.12s…, model dir %s) than %s (config sha256 %.12s…, model dir %s)",
		name, a, f.Provenance.ModelDir, other.ModelDir, b, other.ModelDir)
}

// Merge adds another run's results on the same neuron set to f: each of o's labels' verifications
// is appended to f's label of the same set (a set f lacks is added), and o's matrices, sweeps,
// steering calibrations and patching results are appended, with the verifications' Ref
// indices moved accordingly. Inputs f lacks are added.
func (f *File) Merge(o *File) {
	off := map[string]int{"matrices": len(f.Matrices), "sweeps": len(f.Sweeps), "steering": len(f.Steering), "patching": len(f.Patching),
		"item_effects": len(f.ItemEffects)}
	f.ItemEffects = append(f.ItemEffects, o.ItemEffects...)
	f.Matrices = append(f.Matrices, o.Matrices...)
	f.Sweeps = append(f.Sweeps, o.Sweeps...)
	f.Steering = append(f.Steering, o.Steering...)
	f.Patching = append(f.Patching, o.Patching...)
	for _, in := range o.Inputs {
		have := false
		for _, x := range f.Inputs {
			have = have || x == in
		}
		if !have {
			f.Inputs = append(f.Inputs, in)
		}
	}
	for _, ol := range o.Labels {
		i := -1
		for k := range f.Labels {
			if f.Labels[k].Set == ol.Set {
				i = k
			}
		}
		if i < 0 {
			f.Labels = append(f.Labels, ol)
			f.Labels[len(f.Labels)-1].Verifications = nil
			i = len(f.Labels) - 1
		}
		l := &f.Labels[i]
		for _, v := range ol.Verifications {
			var kind string
			var n int
			if _, err := fmt.Sscanf(strings.NewReplacer("[", " ", "]", "").Replace(v.Ref), "%s %d", &kind, &n); err == nil {
				v.Ref = fmt.Sprintf("%s[%d]", kind, n+off[kind])
			}
			l.Verifications = append(l.Verifications, v)
		}
		if l.Verdict == "" && len(l.Verifications) > 0 {
			l.Verdict = l.Verifications[0].Verdict
		}
	}
}
