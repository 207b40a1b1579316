package ablate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// Pair is a clean and a corrupted prompt for activation patching: the clean prompt's answer
// and, optionally, the answer the corrupted prompt leads to.
type Pair struct {
	ID             string
	Clean, Corrupt []int
	// Answer is the clean answer's first token; Foil, when not −1, the corrupted answer's.
	Answer, Foil int
}

// PairSet is a list of pairs, read from JSONL.
type PairSet struct {
	Source string
	Items  []Pair
}

// ReadPairs reads JSONL lines {"clean": "...", "corrupt": "...", "answer": "..."} with an
// optional "corrupt_answer" and "id"; prompts are tokenized by enc and the answers are the
// tokens they add after their prompt (corpus.Encoder.EncodePrompt; the first token counts).
// Errors name the file and line.
func ReadPairs(path string, enc corpus.Encoder) (*PairSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &corpus.InputError{Path: path, Err: err}
	}
	defer f.Close()
	s := &PairSet{Source: path}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var raw struct {
			ID, Clean, Corrupt, Answer string
			CorruptAnswer              string `json:"corrupt_answer"`
		}
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, &corpus.InputError{Path: path, Line: line, Err: err}
		}
		if raw.Clean == "" || raw.Corrupt == "" || raw.Answer == "" {
			return nil, &corpus.InputError{Path: path, Line: line, Err: fmt.Errorf(`a pair needs string fields "clean", "corrupt" and "answer"`)}
		}
		p := Pair{ID: raw.ID, Foil: -1}
		if p.ID == "" {
			p.ID = fmt.Sprintf("line%d", line)
		}
		var ans []int
		if p.Clean, ans, err = enc.EncodePrompt(raw.Clean, raw.Answer, true); err != nil {
			return nil, &corpus.InputError{Path: path, Line: line, Err: err}
		}
		p.Answer = ans[0]
		if raw.CorruptAnswer != "" {
			if p.Corrupt, ans, err = enc.EncodePrompt(raw.Corrupt, raw.CorruptAnswer, true); err != nil {
				return nil, &corpus.InputError{Path: path, Line: line, Err: err}
			}
			p.Foil = ans[0]
		} else {
			e, err := enc.EncodeText(raw.Corrupt)
			if err != nil {
				return nil, &corpus.InputError{Path: path, Line: line, Err: err}
			}
			p.Corrupt = e.IDs
		}
		s.Items = append(s.Items, p)
	}
	if err := sc.Err(); err != nil {
		return nil, &corpus.InputError{Path: path, Err: err}
	}
	if len(s.Items) == 0 {
		return nil, &corpus.InputError{Path: path, Err: fmt.Errorf("no pairs")}
	}
	return s, nil
}

// PatchSite is what one patching run writes: a whole hook point's units, or a neuron group.
type PatchSite struct {
	Name    string
	Neurons []hooks.Neuron
	// Controls adds random sets of the same per-point counts (a neuron group's verification).
	Controls bool
}

// PointSite is the site of every unit of point p.
func PointSite(cat hooks.Catalog, p hooks.Point) PatchSite {
	ns := make([]hooks.Neuron, cat.Width(p))
	for i := range ns {
		ns[i] = hooks.Neuron{Point: p, Index: i}
	}
	return PatchSite{Name: p.String(), Neurons: ns}
}

// PatchOptions configure PatchExperiment.
type PatchOptions struct {
	Sites []PatchSite
	At    Positions
	// Back patches corrupted values into the clean runs (noising) instead of clean values into
	// the corrupted runs (denoising).
	Back      bool
	Random    int // random sets per site with Controls (0: DefaultRandom)
	Seed      uint64
	Resamples int
	Verdict   VerdictOptions
	BatchSize int
}

// PatchExperiment is activation patching. The metric M of a run is, at the last prompt
// position, logit(answer) − logit(foil) when the pair has a foil, else log P(answer). For each
// site, the corrupted prompts run with the site's units taken from the clean run of the same
// pair at the same position counted from the end (Patch), and
//
//	recovered = (mean M_patched − mean M_corrupt) / (mean M_clean − mean M_corrupt)
//
// over the pairs (a ratio of means; 1: the site carries the whole difference). With Back the
// clean prompts run with corrupted values and the fraction destroyed,
// (mean M_clean − mean M_patched) / (mean M_clean − mean M_corrupt), is reported. Sites with
// Controls are verified against random sets of the same shape.
func PatchExperiment(m *model.Model, pairs *PairSet, opt PatchOptions) (*labels.Patching, []*labels.Verification, error) {
	if opt.Random == 0 {
		opt.Random = DefaultRandom
	}
	if opt.Resamples == 0 {
		opt.Resamples = DefaultResamples
	}
	if len(opt.Sites) == 0 {
		return nil, nil, fmt.Errorf("patching needs at least one site")
	}
	cat := m.Catalog()
	n := len(pairs.Items)
	clean, corrupt := make([][]int, n), make([][]int, n)
	for i, p := range pairs.Items {
		clean[i], corrupt[i] = p.Clean, p.Corrupt
	}
	metric := func(prompts [][]int, iv Intervention) ([]float64, error) {
		out := make([]float64, n)
		err := forEachBatch(prompts, nil, opt.BatchSize, func(b *Batch) error {
			var o []hooks.Option
			if iv != nil {
				var err error
				if o, err = iv.Hooks(b); err != nil {
					return err
				}
			}
			res, err := m.Forward(b.Batch, o...)
			if err != nil {
				return err
			}
			for r, i := range b.Items {
				row := lastRow(res, r, b.Len, m.Config.DVocab)
				p := pairs.Items[i]
				if p.Foil >= 0 {
					out[i] = float64(row[p.Answer] - row[p.Foil])
				} else {
					out[i] = logProb(row, p.Answer)
				}
			}
			return nil
		})
		return out, err
	}
	mClean, err := metric(clean, nil)
	if err != nil {
		return nil, nil, err
	}
	mCorrupt, err := metric(corrupt, nil)
	if err != nil {
		return nil, nil, err
	}
	mean := func(xs []float64, idx []int) float64 {
		var s float64
		for _, i := range idx {
			s += xs[i]
		}
		return s / float64(len(idx))
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	frac := func(patched []float64, idx []int) float64 {
		c, k := mean(mClean, idx), mean(mCorrupt, idx)
		if c == k {
			return 0
		}
		p := mean(patched, idx)
		if opt.Back {
			return (c - p) / (c - k)
		}
		return (p - k) / (c - k)
	}
	out := &labels.Patching{Direction: "clean→corrupt", Pairs: n, Clean: mean(mClean, all), Corrupt: mean(mCorrupt, all), Positions: opt.At.String(),
		Metric: "log P(answer) at the last prompt position (logit(answer) − logit(corrupt answer) for pairs that give one)"}
	src, dst := clean, corrupt
	if opt.Back {
		out.Direction = "corrupt→clean"
		src, dst = corrupt, clean
	}
	from := make([]int, n)
	for i := range from {
		from[i] = i
	}
	run := func(ns []hooks.Neuron) ([]float64, error) {
		acts, err := CaptureActivations(m, src, ns, opt.BatchSize)
		if err != nil {
			return nil, err
		}
		return metric(dst, &Patch{Neurons: ns, At: opt.At, Source: acts, From: from, What: "patch"})
	}
	verifs := make([]*labels.Verification, len(opt.Sites))
	for si, site := range opt.Sites {
		if err := cat.CheckNeurons(site.Neurons); err != nil {
			return nil, nil, fmt.Errorf("patch site %s: %v", site.Name, err)
		}
		patched, err := run(site.Neurons)
		if err != nil {
			return nil, nil, err
		}
		pp := labels.PatchPoint{Site: site.Name, Metric: mean(patched, all), Recovered: frac(patched, all)}
		pp.CI95 = CI95(Bootstrap([][]int{all}, opt.Resamples, opt.Seed, func(s [][]int) float64 { return frac(patched, s[0]) }))
		out.Sites = append(out.Sites, pp)
		if !site.Controls {
			continue
		}
		var rnd []float64
		for k := 0; k < opt.Random; k++ {
			rp, err := run(RandomSet(cat, site.Neurons, opt.Seed+uint64(k)))
			if err != nil {
				return nil, nil, err
			}
			rnd = append(rnd, frac(rp, all))
		}
		v := &labels.Verification{Experiment: "patch", Intervention: fmt.Sprintf("patch %s (%s) %s", describeNeurons(site.Neurons), out.Direction, opt.At.describe()),
			Measure: out.Metric, Statistic: "fraction of the clean − corrupt metric difference " + map[bool]string{false: "recovered", true: "destroyed"}[opt.Back],
			RandomRule: RandomRule, Resamples: opt.Resamples, Items: n}
		Test{Target: pp.Recovered, Effect: pp.Recovered, Random: rnd, CI: pp.CI95}.Decide(opt.Verdict, v)
		verifs[si] = v
	}
	return out, verifs, nil
}

// VerifyPatch is activation patching as a verification of a neuron set: each group's neurons
// are a site with random controls (the claim being that they carry the clean − corrupt
// difference), and points adds sites of whole hook points without controls. It returns the
// label file's content: a label per group with the patch verification, and the patching
// results. finder and source describe the set (default: its method).
func VerifyPatch(m *model.Model, set *hooks.NeuronSet, pairs *PairSet, points []hooks.Point, opt PatchOptions, finder, source string) (*labels.File, error) {
	cat := m.Catalog()
	if err := set.Check(cat); err != nil {
		return nil, err
	}
	if finder == "" {
		finder = set.Method
	}
	f := &labels.File{SchemaVersion: labels.Schema, Inputs: []labels.Input{}}
	opt.Sites = nil
	for _, g := range set.Groups {
		f.Labels = append(f.Labels, newLabel(g, "", finder, source, cat))
		opt.Sites = append(opt.Sites, PatchSite{Name: g.Name, Neurons: hooks.Plain(g.Neurons), Controls: true})
	}
	for _, p := range points {
		opt.Sites = append(opt.Sites, PointSite(cat, p))
	}
	pt, verifs, err := PatchExperiment(m, pairs, opt)
	if err != nil {
		return nil, err
	}
	f.Patching = []labels.Patching{*pt}
	for i := range set.Groups {
		if v := verifs[i]; v != nil {
			v.Ref = "patching[0]"
			f.Labels[i].Verifications = append(f.Labels[i].Verifications, *v)
		}
	}
	describeAll(f, "", "")
	return f, nil
}
