package profile

import (
	"math"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// SchemaVersion names the layout of Report; it changes whenever a field changes meaning.
// v2: lm_head is the LM-head decoding of the raw write direction (v1 sent it through the final
// norm weight, which is what dla now holds), and dla was added. v3: the statistics and example
// lists leave BOS positions out unless settings.options.include_bos, and bos_positions_excluded
// counts them (v2 counted them: it reads back with include_bos set). See the package doc.
const SchemaVersion = "neuronscope.profile/v3"

// schemaV2 is the previous schema, still read (see SchemaVersion).
const schemaV2 = "neuronscope.profile/v2"

// Report is the profile of every neuron of the profiled hook points (profile.json).
type Report struct {
	SchemaVersion string            `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	Settings      Settings          `json:"settings"`
	Tokens        int64             `json:"tokens"`
	Contexts      int64             `json:"contexts"`
	// BOSExcluded counts the BOS positions of Tokens left out of every statistic (0 when
	// Settings.Options.IncludeBOS).
	BOSExcluded int64         `json:"bos_positions_excluded"`
	Points      []PointReport `json:"points"`
}

// Settings are the parameters of a profiling run.
type Settings struct {
	Data         string  `json:"data"`
	DataSHA256   string  `json:"data_sha256,omitempty"`
	Ctx          int     `json:"ctx"`
	Batch        int     `json:"batch"`
	MaxTokens    int64   `json:"max_tokens,omitempty"`
	BOSPolicy    string  `json:"bos_policy"`
	ContextRule  string  `json:"context_policy"`
	Options      Options `json:"options"`
	ModelID      string  `json:"model_id"`
	LMHeadSource string  `json:"lm_head_source,omitempty"`
	DLASource    string  `json:"dla_source,omitempty"`
	// Units describes each set of derived units profiled (Units): its hook name and source,
	// e.g. the SAE or features directory.
	Units []string `json:"units,omitempty"`
}

// PointReport holds the neurons of one hook point.
type PointReport struct {
	Hook    string         `json:"hook"`
	Layer   int            `json:"layer"`
	Neurons []NeuronReport `json:"neurons"`
}

// NeuronReport is one neuron's profile. Its JSON form names the neuron by layer, index and hook
// (the full hook name); reading it back restores the neuron's site from the hook.
type NeuronReport struct {
	hooks.Neuron
	Hook               string      `json:"hook"`
	Count              int64       `json:"count"`
	Mean               float64     `json:"mean"`
	Variance           float64     `json:"variance"`
	Skewness           float64     `json:"skewness"`
	Kurtosis           float64     `json:"kurtosis"`
	FracPositive       float64     `json:"frac_positive"`
	FracNonzero        float64     `json:"frac_nonzero"`
	Max                float32     `json:"max"`
	Min                float32     `json:"min"`
	Histogram          Histogram   `json:"histogram"`
	TopMax             []Example   `json:"top_max"`
	TopMin             []Example   `json:"top_min"`
	QuantileBoundaries []float32   `json:"quantile_boundaries"`
	QuantileSamples    []BinSample `json:"quantile_samples"`
	RandomSample       []Example   `json:"random_sample"`
	LMHead             *TokenLists `json:"lm_head,omitempty"` // LM-head decoding of the raw write direction: W_U w
	DLA                *TokenLists `json:"dla,omitempty"`     // direct logit attribution per unit activation: W_U (g ⊙ P w)
	Labels             []Label     `json:"labels,omitempty"`
	Verdicts           []Verdict   `json:"verdicts,omitempty"`
}

// Histogram has bins [Start + i·Width, Start + (i+1)·Width) (leading and trailing empty bins
// trimmed); Width is a power of two.
type Histogram struct {
	Start  float64 `json:"start"`
	Width  float64 `json:"width"`
	Counts []int64 `json:"counts"`
}

// Example is one context window: its tokens and the neuron's activation on each, the index of
// the max (min, for top_min) token in the window, its document and document position.
type Example struct {
	Tokens   []string  `json:"tokens"`
	TokenIDs []int32   `json:"token_ids"`
	Acts     []float32 `json:"acts"`
	Value    float32   `json:"value"`
	MaxIndex int       `json:"max_index"`
	Doc      int64     `json:"doc"`
	Pos      int       `json:"pos"`
	Context  int64     `json:"context"`
}

// BinSample is the reservoir of one quantile bin: contexts whose maximum lies in
// [Min, Max) out of Contains contexts seen in the bin.
type BinSample struct {
	Min      float32   `json:"bin_min"`
	Max      float32   `json:"bin_max"`
	Contains int64     `json:"bin_contains"`
	Examples []Example `json:"examples"`
}

// TokenLists are the top tokens (largest score first) and bottom tokens (smallest first) of a
// projection of a neuron's write direction onto the vocabulary (LM-head decoding or DLA).
type TokenLists struct {
	Top    []ScoredToken `json:"top"`
	Bottom []ScoredToken `json:"bottom"`
}

// ScoredToken is one token and its score.
type ScoredToken struct {
	ID    int     `json:"id"`
	Token string  `json:"token"`
	Score float32 `json:"score"`
}

// Label is a label of a neuron as the dashboard shows it: the per-neuron view of a
// labels.Label (text, finder, score, rank, percentile), from a label file (labels.File.ForNeuron)
// or set by hand.
type Label = labels.NeuronLabel

// Verdict is the outcome of one verification of a neuron's label (labels.NeuronVerdict: the
// experiment, the verdict, a one-line account of its numbers and the p-value).
type Verdict = labels.NeuronVerdict

// TokenNamer returns the display string of a token id.
type TokenNamer func(id int) string

// Report builds the report of the current state. It does not change the profiler, so it can
// be called after Finish.
func (p *Profiler) Report(prov report.Provenance, set Settings, name TokenNamer) *Report {
	set.Options = p.Opt
	rep := &Report{SchemaVersion: SchemaVersion, Provenance: prov, Settings: set, Tokens: p.Tokens, Contexts: p.Contexts, BOSExcluded: p.BOSExcluded}
	for _, l := range p.Layers {
		pr := PointReport{Hook: l.Hook, Layer: l.Layer, Neurons: make([]NeuronReport, l.N)}
		for j := range l.N {
			pr.Neurons[j] = p.neuron(l, j, name)
		}
		rep.Points = append(rep.Points, pr)
	}
	return rep
}

func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func (p *Profiler) neuron(l *Layer, j int, name TokenNamer) NeuronReport {
	o := p.Opt
	m := Moments{N: l.Count, Mean: l.Mean[j], M2: l.M2[j], M3: l.M3[j], M4: l.M4[j]}
	nr := NeuronReport{Neuron: hooks.Neuron{Point: l.point(), Index: j}, Hook: l.Hook, Count: l.Count, Mean: finite(m.Mean),
		Variance: finite(m.Variance()), Skewness: finite(m.Skewness()), Kurtosis: finite(m.Kurtosis()),
		Max: l.Max[j], Min: l.Min[j]}
	if l.Count > 0 {
		nr.FracPositive = float64(l.Pos[j]) / float64(l.Count)
		nr.FracNonzero = float64(l.Nonzero[j]) / float64(l.Count)
	} else {
		nr.Max, nr.Min = 0, 0
	}
	// histogram, trimmed
	hb := o.HistBins
	h := l.Hist[j*hb : (j+1)*hb]
	a, b := 0, len(h)
	for a < b && h[a] == 0 {
		a++
	}
	for b > a && h[b-1] == 0 {
		b--
	}
	nr.Histogram = Histogram{Start: float64(l.HistOff[j]+int64(a)) * l.HistW[j], Width: l.HistW[j], Counts: append([]int64{}, h[a:b]...)}
	K, S := o.TopK, p.slots()
	hk := j * 2 * K
	hmax := topHeap{key: l.HeapKey[hk : hk+K], ctx: l.HeapCtx[hk : hk+K], slot: l.HeapSlot[hk : hk+K], n: &l.HeapN[2*j]}
	for _, s := range hmax.sorted() {
		nr.TopMax = append(nr.TopMax, p.example(l, j*S+int(s), name))
	}
	hmin := topHeap{key: l.HeapKey[hk+K : hk+2*K], ctx: l.HeapCtx[hk+K : hk+2*K], slot: l.HeapSlot[hk+K : hk+2*K], n: &l.HeapN[2*j+1]}
	for _, s := range hmin.sorted() {
		nr.TopMin = append(nr.TopMin, p.example(l, j*S+K+int(s), name))
	}
	qb := o.QuantileBins
	nr.QuantileBoundaries = append([]float32{}, l.QB[j*(qb-1):(j+1)*(qb-1)]...)
	seen := l.Seen[j*(qb+1) : (j+1)*(qb+1)]
	for q := range qb {
		bs := BinSample{Min: nr.Min, Max: nr.Max, Contains: seen[q], Examples: []Example{}}
		if q > 0 {
			bs.Min = nr.QuantileBoundaries[q-1]
		}
		if q < qb-1 {
			bs.Max = nr.QuantileBoundaries[q]
		}
		for s := range min(int64(o.PerBin), seen[q]) {
			bs.Examples = append(bs.Examples, p.example(l, j*S+2*K+q*o.PerBin+int(s), name))
		}
		sortExamples(bs.Examples)
		nr.QuantileSamples = append(nr.QuantileSamples, bs)
	}
	nr.RandomSample = []Example{}
	for s := range min(int64(o.RandomSample), seen[qb]) {
		if slot := j*S + 2*K + qb*o.PerBin + int(s); l.SlotLen[slot] > 0 { // a slot whose context was never observed stays empty
			nr.RandomSample = append(nr.RandomSample, p.example(l, slot, name))
		}
	}
	sortExamples(nr.RandomSample)
	if nr.TopMax == nil {
		nr.TopMax = []Example{}
	}
	if nr.TopMin == nil {
		nr.TopMin = []Example{}
	}
	return nr
}

// sortExamples orders reservoir samples by context, so the output does not depend on slots.
func sortExamples(ex []Example) {
	for i := 1; i < len(ex); i++ {
		for k := i; k > 0 && ex[k].Context < ex[k-1].Context; k-- {
			ex[k], ex[k-1] = ex[k-1], ex[k]
		}
	}
}

func (p *Profiler) example(l *Layer, s int, name TokenNamer) Example {
	w := p.window()
	n := int(l.SlotLen[s])
	e := Example{TokenIDs: append([]int32{}, l.Tok[s*w:s*w+n]...), Acts: append([]float32{}, l.Act[s*w:s*w+n]...),
		Value: l.SlotVal[s], MaxIndex: int(l.SlotMaxIdx[s]), Doc: l.SlotDoc[s], Pos: int(l.SlotPos[s]), Context: l.SlotCtx[s]}
	e.Tokens = make([]string, n)
	for i, id := range e.TokenIDs {
		if name != nil {
			e.Tokens[i] = name(int(id))
		} else {
			e.Tokens[i] = defaultName(int(id))
		}
	}
	return e
}

func defaultName(id int) string {
	return "<" + itoa(id) + ">"
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var b [20]byte
	k := len(b)
	for i > 0 {
		k--
		b[k] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		k--
		b[k] = '-'
	}
	return string(b[k:])
}

// point is the layer's hook point (its Hook parsed; checkpoints store the name).
func (l *Layer) point() hooks.Point {
	if p, err := hooks.Parse(l.Hook); err == nil {
		return p
	}
	return hooks.Point{Layer: l.Layer}
}

// restoreSite sets a read-back neuron's site from its hook name.
func (nr *NeuronReport) restoreSite() {
	if p, err := hooks.Parse(nr.Hook); err == nil {
		nr.Point = p
	}
}
