package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/world"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/language"
)

// LanguageInputs are the world's per-language texts: each language's training sentences
// (train.txt split by language: its filler and fact sentences), the counting data of the
// language-neuron stage, and the held-out filler sentences (eval_fluency.jsonl, never in
// training, labelled "language"), the texts every perplexity is measured on.
type LanguageInputs struct {
	Languages []string
	Train     [][]string // [language][sentence], train.txt order
	Fluency   *ablate.TextSet
}

// WorldLanguageInputs builds the LanguageInputs of a world from its world.json (config) and
// eval_fluency.jsonl (fluency, named source): train.txt carries no labels, so the world is
// regenerated from its config (a deterministic function of it) and its training sentences are
// taken by language (world.World.TrainText). A config whose world's fluency sentences are not
// the file's is an error: the config is not that world's.
func WorldLanguageInputs(config, fluency []byte, source string, enc corpus.Encoder, maxLen int) (*LanguageInputs, error) {
	var cfg world.Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("world.json: %v", err)
	}
	w, err := world.Generate(cfg)
	if err != nil {
		return nil, err
	}
	ts, err := ablate.ParseTextSet(bytes.NewReader(fluency), source, true, enc, maxLen, "", "")
	if err != nil {
		return nil, err
	}
	if len(ts.Items) != len(w.EvalFluency) {
		return nil, fmt.Errorf("%s has %d sentences, the world of its world.json %d: not the same world", source, len(ts.Items), len(w.EvalFluency))
	}
	for i, f := range w.EvalFluency {
		ids, err := enc.Encode(corpus.Document{Text: f.Text})
		if err != nil {
			return nil, fmt.Errorf("the world of %s's world.json: %v", source, err)
		}
		if maxLen > 0 && len(ids) > maxLen {
			ids = ids[:maxLen]
		}
		if ts.Items[i].ID != f.ID || ts.Items[i].Labels["language"] != f.Language || !slices.Equal(ts.Items[i].IDs, ids) {
			return nil, fmt.Errorf("%s line %d (%s) is not the sentence %s of the world of its world.json (%q): not the same world",
				source, i+1, ts.Items[i].ID, f.ID, f.Text)
		}
	}
	in := &LanguageInputs{Fluency: ts}
	for _, l := range w.Languages {
		in.Languages = append(in.Languages, l.ID)
		in.Train = append(in.Train, w.TrainText(l.ID))
	}
	return in, nil
}

// TrainItems yields each language's training sentences as counting items (Group is the
// language's index in Languages), at most limit per language (0: all), each document named
// train.LANGUAGE.txt line k: the items of language.Counter.Run.
func (li *LanguageInputs) TrainItems(limit int) language.Items {
	return func(yield func(language.Item) error) error {
		var ord int64
		for g, sents := range li.Train {
			if limit > 0 && len(sents) > limit {
				sents = sents[:limit]
			}
			for k, s := range sents {
				doc := corpus.Document{Ordinal: ord, Source: "train." + li.Languages[g] + ".txt", Line: k + 1, Text: s}
				ord++
				if err := yield(language.Item{Group: g, Doc: doc}); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// LanguageTopRates are the top rates of the language stage's LAPE selections: the published
// 1%, and 5% as a check of size (the world models have 2,048 neurons at the tap, Llama-2-7B
// 352,256, so 1% is 20 neurons here).
var LanguageTopRates = []float64{0.01, 0.05}

// LanguageStage is the language-neuron stage: the activation-probability counting pass over
// each language's training sentences at the LAPE tap (language.Counter.Run, `neuronscope find
// language --model --data`), LAPE at LanguageTopRates and the alignment score with its λ
// search at the published rates (language.LAPE, SweepLambda), and each selection's perplexity
// matrix through ablate.Verify (`neuronscope verify --text`): zero language i's neurons at
// every position, measure the perplexity of every language's held-out filler, against random
// sets with the same per-layer counts.
type LanguageStage struct {
	Tap       string   `json:"tap"`
	Languages []string `json:"languages"`
	Sentences []int    `json:"sentences"`
	Tokens    []int64  `json:"tokens"`
	// Why the selections look as they do: Threshold is the 95th percentile of all
	// probabilities (LAPE's filter and both methods' assignment bar), FilterPassing the
	// neurons above it in some language, FilteredEntropy the lowest entropy of those (ln K,
	// MaxEntropy, is the maximum),
	// FilteredRatio the median over the passing neurons of min_g p / max_g p, and Concentrated
	// the neurons with p > 0.2 in some language and at least 4× every other language's.
	Threshold       float32 `json:"p95_threshold"`
	FilterPassing   int     `json:"filter_passing"`
	FilteredEntropy float64 `json:"lowest_filtered_entropy"`
	MaxEntropy      float64 `json:"max_entropy"`
	FilteredRatio   float64 `json:"filtered_median_min_max_ratio"`
	Concentrated    int     `json:"concentrated"`
	// FluencyTexts is the number of held-out filler sentences the perplexity is read on.
	FluencyTexts int           `json:"fluency_texts"`
	RandomSets   int           `json:"random_sets"`
	Selections   []LanguageRun `json:"selections"`
	Seconds      float64       `json:"seconds"`
}

// LanguageRun is one selection and its verification.
type LanguageRun struct {
	Name     string            `json:"name"`
	Settings language.Settings `json:"settings"`
	// Multiplicity[c] counts the selected neurons assigned to exactly c languages.
	Multiplicity []int `json:"multiplicity"`
	Specific     int   `json:"language_specific"`
	Related      int   `json:"language_related"`
	Agnostic     int   `json:"language_agnostic"`
	Unassigned   int   `json:"unassigned"`
	// SelectedMaxP is the median over the selected neurons of max_g p (a neuron is assigned to
	// the languages where p > the stage's Threshold).
	SelectedMaxP float32 `json:"selected_median_max_probability"`
	// Matrix is the perplexity matrix (nil when no language has a neuron).
	Matrix *labels.Matrix   `json:"perplexity_matrix,omitempty"`
	Groups []LanguageResult `json:"groups"`
}

// LanguageResult is one language's neurons and their verification (nil without neurons).
type LanguageResult struct {
	Name         string               `json:"name"`
	Neurons      int                  `json:"neurons"`
	PerLayer     []int                `json:"per_layer"`
	Verification *labels.Verification `json:"verification,omitempty"`
}

// languageStage counts, selects and verifies; the first selection's set and labels are kept
// (the command writes them to language.json and language-labels.json).
func (r *Report) languageStage(in Inputs, opt Options, say func(string, ...any)) error {
	t0 := time.Now()
	m, li := in.Model, in.Language
	enc := corpus.NewEncoder(m, in.Tokenizer, tokenizer.BOSAlways)
	site := language.DefaultTap(m.Catalog())
	st := &LanguageStage{Tap: site.String(), Languages: li.Languages, FluencyTexts: len(li.Fluency.Items), RandomSets: opt.RandomSets}
	n := 0
	for _, t := range li.Train {
		st.Sentences = append(st.Sentences, len(t))
		n += len(t)
	}
	say("language neurons: count %s > 0 over %d training sentences of %d languages (LAPE's statistic)", site, n, len(li.Languages))
	c, err := language.NewCounter(li.Languages, site.String(), m.Config.NLayers, m.Catalog().Width(hooks.At(0, site)), false)
	if err != nil {
		return err
	}
	if err := c.Run(m, enc, li.TrainItems(0), language.PassOptions{Tap: site, Ctx: min(m.Config.MaxPos, 512), Batch: 64, PadID: max(m.Config.Pad, 0)}); err != nil {
		return err
	}
	p, err := c.Probabilities()
	if err != nil {
		return err
	}
	st.Tokens = slices.Clone(c.Full.Tokens)
	st.Diagnose(p)
	e, err := ablate.NewEval(m, nil, li.Fluency, ablate.EvalOptions{BatchSize: verifyBatch, Workers: opt.Workers, Progress: opt.EvalProgress})
	if err != nil {
		return err
	}
	type choice struct {
		name string
		sel  func() (*language.Selection, *language.Sweep, error)
	}
	var choices []choice
	for _, rate := range LanguageTopRates {
		choices = append(choices, choice{fmt.Sprintf("lape top %g%%", 100*rate), func() (*language.Selection, *language.Sweep, error) {
			s, err := language.LAPE(p, language.LAPEOptions{TopRate: rate})
			return s, nil, err
		}})
	}
	choices = append(choices, choice{"alignment top 1%, λ auto", func() (*language.Selection, *language.Sweep, error) {
		sw, err := language.SweepLambda(p, language.AlignmentOptions{}, language.SweepOptions{})
		if err != nil {
			return nil, nil, err
		}
		if !sw.Found {
			return nil, nil, fmt.Errorf("no λ in [0, 0.2] leaves every selected neuron out of some language")
		}
		return sw.Selection, sw, nil
	}})
	for k, ch := range choices {
		sel, sweep, err := ch.sel()
		if err != nil {
			return fmt.Errorf("%s: %w", ch.name, err)
		}
		set, err := sel.NeuronSet(language.NewReport(p, sel, sweep), "neuronscope demo: the world's training sentences by language")
		if err != nil {
			return err
		}
		run := LanguageRun{Name: ch.name, Settings: sel.Settings, Multiplicity: sel.Multiplicity, Specific: sel.Specific(),
			Related: sel.Related(), Agnostic: sel.Agnostic(), Unassigned: sel.Unassigned(), SelectedMaxP: MedianMaxProbability(p, sel)}
		say("language verification (%s): zero each language's neurons (%d in all), perplexity of %d held-out filler sentences, against %d random sets each",
			ch.name, sel.Assignments(), len(li.Fluency.Items), opt.RandomSets)
		var lf *labels.File
		if sel.Assignments() > 0 {
			res, err := ablate.Verify(e, set, ablate.VerifyOptions{Key: "language", Random: opt.RandomSets, Seed: 1, Source: "neuronscope demo"})
			if err != nil {
				return err
			}
			lf, run.Matrix = res.File, res.Matrix.Texts
		}
		for g, name := range sel.Groups {
			lr := LanguageResult{Name: name, Neurons: len(sel.ByGroup[g]), PerLayer: sel.PerLayer[g]}
			if lf != nil {
				for _, l := range lf.Labels {
					if l.Set == name && len(l.Verifications) > 0 {
						lr.Verification = &l.Verifications[0]
					}
				}
			}
			run.Groups = append(run.Groups, lr)
		}
		st.Selections = append(st.Selections, run)
		if k == 0 {
			r.LanguageSet, r.LanguageLabels = set, lf
		}
	}
	st.Seconds = time.Since(t0).Seconds()
	r.Language = st
	return nil
}

// Diagnose fills the statistics that say why the selections look as they do (Threshold through
// Concentrated) from the activation probabilities.
func (st *LanguageStage) Diagnose(p *language.Probabilities) {
	G, N := len(p.Groups), p.Neurons()
	sorted := slices.Clone(p.P)
	slices.Sort(sorted)
	st.Threshold = sorted[int(math.RoundToEven(0.95*float64(len(sorted))))-1]
	h := make([]float64, N)
	language.LAPEEntropy(h, p)
	st.MaxEntropy = math.Log(float64(G))
	st.FilteredEntropy = math.Inf(1)
	var ratios []float64
	for i := 0; i < N; i++ {
		lo, hi, second := math.Inf(1), 0.0, 0.0
		for g := 0; g < G; g++ {
			v := float64(p.P[g*N+i])
			lo = min(lo, v)
			if v > hi {
				hi, second = v, hi
			} else {
				second = max(second, v)
			}
		}
		if hi > float64(st.Threshold) {
			st.FilterPassing++
			st.FilteredEntropy = min(st.FilteredEntropy, h[i])
			ratios = append(ratios, lo/hi)
		}
		if hi > 0.2 && hi >= 4*second {
			st.Concentrated++
		}
	}
	if st.FilterPassing == 0 {
		st.FilteredEntropy = 0
	}
	if len(ratios) > 0 {
		slices.Sort(ratios)
		st.FilteredRatio = ratios[len(ratios)/2]
	}
}

// MedianMaxProbability is the median over sel's selected neurons of max_g p[g, layer, index]
// (0 for an empty selection).
func MedianMaxProbability(p *language.Probabilities, sel *language.Selection) float32 {
	var maxes []float32
	for _, n := range sel.Selected {
		var hi float32
		for g := range p.Groups {
			hi = max(hi, p.At(g, n.Layer, n.Index))
		}
		maxes = append(maxes, hi)
	}
	if len(maxes) == 0 {
		return 0
	}
	slices.Sort(maxes)
	return maxes[len(maxes)/2]
}
