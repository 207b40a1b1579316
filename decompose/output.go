package decompose

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// Schema is the schema_version of decompose's outputs.
const Schema = "neuronscope.features/v1"

// File names inside an output directory.
const (
	FactorsFile = "features.safetensors" // F [d_mlp, rank] as "F", G [n, rank] as "G" when kept
	ReportFile  = "features.json"        // the Report
	NeuronsFile = "neurons.json"         // the features' neurons as a neuronscope.neurons/v1 set
)

// Report is the JSON half of a neuronscope.features/v1 output (features.json).
type Report struct {
	SchemaVersion string `json:"schema_version"`
	Method        string `json:"method"` // "snmf"
	// Tap is the hook point the activations come from, e.g. "blocks.6.mlp.hook_post" ("" when
	// unknown); Layer is its layer (-1 when unknown).
	Tap   string `json:"tap"`
	Layer int    `json:"layer"`
	DMLP  int    `json:"d_mlp"`
	Rank  int    `json:"rank"`
	// Tokens is n, the number of activation rows factorised; Sequences the number of
	// sequences they came from (0 when unknown).
	Tokens    int         `json:"n_tokens"`
	Sequences int         `json:"n_sequences,omitempty"`
	Dropped   DroppedRows `json:"dropped"`
	Source    string      `json:"source"`
	Settings  Settings    `json:"settings"`
	Fit       FitSummary  `json:"fit"`
	Features  []Feature   `json:"features"`
	// HasG says whether features.safetensors holds G.
	HasG       bool       `json:"has_g"`
	Provenance Provenance `json:"provenance"`
}

// DroppedRows counts the tokens of the source that are not rows of A.
type DroppedRows struct {
	Pad   int `json:"pad"`
	BOS   int `json:"bos"`
	First int `json:"first_position"`
}

// Settings are the fit's settings as run.
type Settings struct {
	Rank           int     `json:"rank"`
	Sparsity       float64 `json:"sparsity"`
	KeptPerFeature int     `json:"kept_per_feature"`
	MaxIter        int     `json:"max_iter"`
	Patience       int     `json:"patience"`
	Tol            float64 `json:"tol"`
	Reg            float64 `json:"reg"`
	Init           string  `json:"init"`
	Seed           uint64  `json:"seed"`
	KMeansIters    int     `json:"kmeans_iters,omitempty"`
	Precision      string  `json:"precision"`
	BOS            int     `json:"drop_bos_id"` // -1: none
	DropFirst      bool    `json:"drop_first_position"`
}

// FitSummary is how the fit went.
type FitSummary struct {
	Iterations int `json:"iterations"`
	// BestIteration is the 0-based iteration whose factors are returned.
	BestIteration int     `json:"best_iteration"`
	BestLoss      float64 `json:"best_loss"`
	// RelativeLoss is BestLoss / ‖A‖².
	RelativeLoss float64    `json:"relative_loss"`
	SumSquares   float64    `json:"sum_squares"`
	Stop         StopReason `json:"stop"`
	// LossCurve is ‖A − F Gᵀ‖² after every iteration.
	LossCurve []float64 `json:"loss_curve"`
}

// Feature describes one feature (column j of F, column j of G).
type Feature struct {
	Index int `json:"index"`
	// Norm is ‖F_j‖ (G's columns carry unit norm after each rescaling, so the scale is here).
	Norm float64 `json:"norm"`
	// Neurons are the non-zero entries of F_j with their signs, largest magnitude first, in
	// the entry format of neuronscope.neurons/v1 sets.
	Neurons []hooks.ScoredNeuron `json:"neurons"`
	// GMax, GMean and Active summarise G's column j over the n tokens (Active: G > 1e-6, i.e.
	// above the inits' clamp).
	GMax   float64 `json:"g_max"`
	GMean  float64 `json:"g_mean"`
	Active int     `json:"active_tokens"`
	// TopTokens are the tokens with the largest G[:, j] (> 0), largest first.
	TopTokens []TokenActivation `json:"top_tokens,omitempty"`
	// Vocab is the projection to the vocabulary (when a model was given).
	Vocab *VocabProjection `json:"vocab,omitempty"`
}

// TokenActivation is one token with its coefficient G[row, j] and its context.
type TokenActivation struct {
	Row     int     `json:"row"`
	Seq     int     `json:"seq"`
	Pos     int     `json:"pos"`
	TokenID int     `json:"token_id"`
	Token   string  `json:"token,omitempty"`
	G       float64 `json:"g"`
	// ContextIDs are the tokens of the same sequence within the window (rows of A, so BOS and
	// pads are not in it, as in the published contexts); Focus is this token's index there.
	ContextIDs []int  `json:"context_ids,omitempty"`
	Focus      int    `json:"focus"`
	Context    string `json:"context,omitempty"`
}

// ReportOptions say what NewReport adds beyond the factors.
type ReportOptions struct {
	Tap   string // hook name of the activations ("" unknown)
	Layer int    // its layer (-1 unknown)
	// TopTokens is the number of top tokens per feature (published 25); Window the context
	// tokens on each side (published 15).
	TopTokens, Window int
	// Decode turns token ids into text, for single tokens and for whole contexts (nil: ids
	// only).
	Decode func(ids []int) string
	// Model, if set, adds each feature's vocabulary projection through Layer's W_out, with
	// VocabK tokens per list (published 75 in the run scripts).
	Model  *model.Model
	VocabK int
	// Source describes the activations; Filter is the token filter they were read with.
	Source string
	Filter TokenFilter
	// Precision is "float32" or "float64".
	Precision  string
	Provenance Provenance
}

// DefaultReportOptions are the published sizes: 25 top tokens with 15 context tokens on each
// side, 75 vocabulary tokens.
func DefaultReportOptions() ReportOptions {
	return ReportOptions{Layer: -1, TopTokens: 25, Window: 15, VocabK: 75, Filter: NoFilter,
		Precision: "float32", Provenance: NewProvenance()}
}

// NewReport describes a fit of a (res must come from SNMF on a, with opt).
func NewReport(res *Factors[float32], a *Activations, opt Options, ro ReportOptions) (*Report, error) {
	if res.N != a.N() || res.DMLP != a.DMLP {
		return nil, fmt.Errorf("decompose: factors of [%d, %d] do not belong to activations of [%d, %d]", res.N, res.DMLP, a.N(), a.DMLP)
	}
	k, d := res.Rank, res.DMLP
	rep := &Report{SchemaVersion: Schema, Method: "snmf", Tap: ro.Tap, Layer: ro.Layer, DMLP: d, Rank: k,
		Tokens: res.N, Sequences: a.Sequences(), Source: ro.Source,
		Dropped: DroppedRows{Pad: a.DroppedPad, BOS: a.DroppedBOS, First: a.DroppedFirst},
		Settings: Settings{Rank: k, Sparsity: opt.Sparsity, KeptPerFeature: res.Kept, MaxIter: opt.MaxIter,
			Patience: opt.Patience, Tol: opt.Tol, Reg: opt.Reg, Init: opt.Init.String(), Seed: opt.Seed,
			Precision: ro.Precision, BOS: ro.Filter.BOS, DropFirst: ro.Filter.DropFirst},
		Fit: FitSummary{Iterations: res.Iters, BestIteration: res.BestIter, BestLoss: res.BestLoss,
			RelativeLoss: res.BestLoss / res.SumSquares, SumSquares: res.SumSquares, Stop: res.Stop, LossCurve: res.Loss},
		Provenance: ro.Provenance}
	if opt.Init == InitKMeans {
		rep.Settings.KMeansIters = opt.KMeansIters
	}
	if opt.G0 != nil {
		rep.Settings.Init = "given"
	}
	var vocab []VocabProjection
	if ro.Model != nil {
		var err error
		if vocab, err = ProjectVocab(ro.Model, ro.Layer, res.F, d, k, max(ro.VocabK, 1)); err != nil {
			return nil, err
		}
	}
	point := tapPoint(ro.Tap, ro.Layer)
	for j := 0; j < k; j++ {
		ft := Feature{Index: j}
		var ss float64
		for i := 0; i < d; i++ {
			if v := float64(res.F[i*k+j]); v != 0 {
				ss += v * v
				ft.Neurons = append(ft.Neurons, hooks.ScoredNeuron{Neuron: hooks.Neuron{Point: point, Index: i}, Score: v})
			}
		}
		ft.Norm = math.Sqrt(ss)
		sort.SliceStable(ft.Neurons, func(a, b int) bool { return math.Abs(ft.Neurons[a].Score) > math.Abs(ft.Neurons[b].Score) })
		var sum float64
		for t := 0; t < res.N; t++ {
			v := float64(res.G[t*k+j])
			sum += v
			ft.GMax = max(ft.GMax, v)
			if v > 1e-6 {
				ft.Active++
			}
		}
		ft.GMean = sum / float64(res.N)
		ft.TopTokens = topTokens(res, a, j, ro)
		if vocab != nil {
			vp := vocab[j]
			if ro.Decode != nil {
				for _, list := range [][]VocabToken{vp.Top, vp.Negated} {
					for i := range list {
						list[i].Token = ro.Decode([]int{list[i].ID})
					}
				}
			}
			ft.Vocab = &vp
		}
		rep.Features = append(rep.Features, ft)
	}
	return rep, nil
}

// topTokens lists the ro.TopTokens rows with the largest G[:, j] > 0 (ties: lower row first).
func topTokens(res *Factors[float32], a *Activations, j int, ro ReportOptions) []TokenActivation {
	k := res.Rank
	var rows []int
	for t := 0; t < res.N; t++ {
		if res.G[t*k+j] > 0 {
			rows = append(rows, t)
		}
	}
	sort.SliceStable(rows, func(x, y int) bool { return res.G[rows[x]*k+j] > res.G[rows[y]*k+j] })
	rows = rows[:min(len(rows), max(ro.TopTokens, 0))]
	out := make([]TokenActivation, 0, len(rows))
	for _, t := range rows {
		ta := TokenActivation{Row: t, Seq: -1, Pos: -1, TokenID: -1, G: float64(res.G[t*k+j])}
		if a.Tokens != nil {
			tok := a.Tokens[t]
			ta.Seq, ta.Pos, ta.TokenID = tok.Seq, tok.Pos, tok.ID
			lo, hi := max(0, t-ro.Window), min(res.N, t+ro.Window+1)
			for u := lo; u < hi; u++ {
				if a.Tokens[u].Seq != tok.Seq {
					continue
				}
				if u == t {
					ta.Focus = len(ta.ContextIDs)
				}
				ta.ContextIDs = append(ta.ContextIDs, a.Tokens[u].ID)
			}
			if ro.Decode != nil && tok.ID >= 0 {
				ta.Token = ro.Decode([]int{tok.ID})
				ta.Context = ro.Decode(ta.ContextIDs)
			}
		}
		out = append(out, ta)
	}
	return out
}

// NeuronSet returns the report's features as a neuronscope.neurons/v1 set: one group per
// feature ("feature_<j>", in feature order), each entry a neuron of the tap with its signed
// weight F_ij as the score.
func (r *Report) NeuronSet() *hooks.NeuronSet {
	prov := r.Provenance
	ns := &hooks.NeuronSet{Method: "snmf", Tap: tapPoint(r.Tap, r.Layer).Site, Settings: r.Settings, Provenance: &prov}
	for _, f := range r.Features {
		ns.Add(fmt.Sprintf("feature_%d", f.Index), f.Neurons...)
	}
	return ns
}

// tapPoint is the hook point the activations were read at: the tap's hook name parsed, or
// layer's mlp.hook_post when the name is unknown.
func tapPoint(tap string, layer int) hooks.Point {
	if p, err := hooks.Parse(tap); err == nil && p.Site.PerLayer() {
		return p
	}
	return hooks.Point{Layer: layer, Site: hooks.MLPPost}
}

// Output is one neuronscope.features/v1 output: the report and the factors.
type Output struct {
	Report *Report
	// F is [d_mlp, rank]; G is [n, rank] or nil.
	F, G []float32
}

// Features returns F as scoring units (see Features).
func (o *Output) Features() *Features { return NewFeatures(o.F, o.Report.DMLP, o.Report.Rank) }

// Write writes dir/features.safetensors, dir/features.json and dir/neurons.json (creating
// dir), all three or none (report.WriteFiles).
func Write(dir string, o *Output) error {
	r := o.Report
	if len(o.F) != r.DMLP*r.Rank || o.G != nil && len(o.G) != r.Tokens*r.Rank {
		return fmt.Errorf("decompose: output factors do not match the report's [%d, %d] and n %d", r.DMLP, r.Rank, r.Tokens)
	}
	r.HasG = o.G != nil
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tensors := []safetensors.WriteTensor{safetensors.F32("F", []int{r.DMLP, r.Rank}, o.F)}
	if o.G != nil {
		tensors = append(tensors, safetensors.F32("G", []int{r.Tokens, r.Rank}, o.G))
	}
	meta := map[string]string{"schema_version": Schema, "method": r.Method, "tap": r.Tap}
	return report.WriteFiles(
		report.File{Path: filepath.Join(dir, FactorsFile), Write: func(w io.Writer) error { return safetensors.Write(w, tensors, meta) }},
		report.File{Path: filepath.Join(dir, ReportFile), Write: func(w io.Writer) error { return report.WriteJSON(w, r) }},
		report.File{Path: filepath.Join(dir, NeuronsFile), Write: func(w io.Writer) error { return r.NeuronSet().Write(w) }})
}

// Read reads an output directory written by Write, checking the schema and that the factors
// match the report. Errors name the file.
func Read(dir string) (*Output, error) {
	rp := filepath.Join(dir, ReportFile)
	var r Report
	if err := report.ReadJSONFile(rp, &r); err != nil {
		return nil, err
	}
	if r.SchemaVersion != Schema {
		return nil, fmt.Errorf("%s: schema_version %q, want %q", rp, r.SchemaVersion, Schema)
	}
	if r.DMLP < 1 || r.Rank < 1 || r.Tokens < 0 {
		return nil, fmt.Errorf("%s: bad sizes d_mlp %d, rank %d, n_tokens %d", rp, r.DMLP, r.Rank, r.Tokens)
	}
	point := tapPoint(r.Tap, r.Layer)
	for fi := range r.Features {
		for i := range r.Features[fi].Neurons {
			r.Features[fi].Neurons[i].Point = point
		}
	}
	fp := filepath.Join(dir, FactorsFile)
	f, err := safetensors.OpenFile(fp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o := &Output{Report: &r}
	if o.F, err = readF32(f, "F", []int{r.DMLP, r.Rank}); err != nil {
		return nil, err
	}
	if _, ok := f.Tensor("G"); ok || r.HasG {
		if o.G, err = readF32(f, "G", []int{r.Tokens, r.Rank}); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// readF32 copies a float tensor of the given shape out of f.
func readF32(f *safetensors.File, name string, shape []int) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", f.Path(), name)
	}
	if len(t.Shape) != len(shape) || t.Shape[0] != shape[0] || t.Shape[1] != shape[1] {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, the report says %v", f.Path(), name, t.Shape, shape)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), v...), nil
}
