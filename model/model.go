package model

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// Model is a loaded checkpoint, ready to run. It is safe for concurrent Forward calls.
type Model struct {
	Config *Config
	Dir    string
	// Warnings are non-fatal findings at load, one line each: config.json keys neuronscope has
	// never seen and ignored, HF defaults taken for absent keys, ignored stored tensors, NaN/Inf
	// weights under Options.AllowNonFinite. Commands print them once and provenance records
	// them, so every report of the model shows them.
	Warnings []string
	// StoredDType names the dtype the weights are stored in ("F32", "BF16", "F32+BF16", …).
	StoredDType string
	// StoredBytes is the size of the stored weights.
	StoredBytes int64

	net     network
	params  []*Param
	catalog hooks.Catalog
	closer  func() error
}

// network is one architecture's weights and block computation.
type network interface {
	embed(r *run)
	embedBackward(k *back)
	block(r *run, l int)
	blockBackward(k *back, l int)
	finalNorm() (w, b *Param)
	unembedding() *Param // [d_vocab, d_model]
	mlp(l int) MLPWeights
	aliases(l int) map[string]hooks.Site
	globalAliases() map[string]hooks.Site
}

// arch registers one model_type: how to read its config and build its network.
type arch struct {
	parse func(r *cfgReader, c *Config)
	build func(c *Config, ld *loader) (network, error)
}

var archs = map[string]arch{}

func register(modelType string, a arch) {
	if _, dup := archs[modelType]; dup {
		panic("model: duplicate architecture " + modelType)
	}
	archs[modelType] = a
}

// Options tune loading.
type Options struct {
	// StrictConfig makes a config.json key neuronscope has never seen an error; by default it
	// is ignored with a warning (Model.Warnings).
	StrictConfig bool
	// AllowNonFinite loads weights that hold NaN or ±Inf values (by default a *NonFiniteError):
	// the findings go to Model.Warnings, and so into every report's provenance.
	AllowNonFinite bool
}

// NonFiniteError says that weight tensors hold NaN or ±Inf values. A model with them computes
// NaN logits (and greedy decoding then picks token 0), so loading refuses it unless
// Options.AllowNonFinite.
type NonFiniteError struct {
	// Tensors has one finding per tensor: its name, the count and the first flat index.
	Tensors []string
}

func (e *NonFiniteError) Error() string {
	list := e.Tensors
	more := ""
	if len(list) > 3 {
		more = fmt.Sprintf(" and %d more tensors", len(list)-3)
		list = list[:3]
	}
	return fmt.Sprintf("weights are not finite: %s%s", strings.Join(list, "; "), more)
}

// Load opens a local Hugging Face checkpoint directory (config.json + *.safetensors).
func Load(dir string) (*Model, error) { return LoadWith(dir, Options{}) }

// LoadWith is Load with options.
func LoadWith(dir string, opt Options) (*Model, error) {
	cfgPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no config.json: is this a Hugging Face checkpoint directory?", dir)
		}
		return nil, err
	}
	cfg, err := parseConfig(data, cfgPath, opt.StrictConfig)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	m, err := newModel(cfg, &loader{src: ck, allowNonFinite: opt.AllowNonFinite})
	if err != nil {
		ck.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m.Dir = dir
	m.closer = ck.Close
	m.StoredBytes = ck.StoredBytes()
	m.StoredDType = dtypeSummary(ck.DTypes())
	return m, nil
}

// New builds a model from a parsed config and any weight source. Weights holding NaN or ±Inf
// are a *NonFiniteError (LoadWith can allow them).
func New(cfg *Config, src Source) (*Model, error) {
	return newModel(cfg, &loader{src: src})
}

// NewRandom builds a model of the config's exact shape with random weights held in memory
// (no files): for benchmarks and shape tests, never for analysis.
func NewRandom(cfg *Config, seed uint64) (*Model, error) {
	return newModel(cfg, &loader{random: rand.New(rand.NewPCG(seed, 0x6e6575726f6e))})
}

func newModel(cfg *Config, ld *loader) (*Model, error) {
	a := archs[cfg.ModelType]
	ld.dims, ld.flags, ld.loaded = cfg.dims(), cfg.flags(), map[string]*Param{}
	net, err := a.build(cfg, ld)
	if err != nil {
		return nil, err
	}
	if extra := ld.unused(); len(extra) > 0 {
		more := ""
		if len(extra) > 5 {
			more = fmt.Sprintf(" and %d more", len(extra)-5)
			extra = extra[:5]
		}
		return nil, fmt.Errorf("tensors not used by neuronscope's %s implementation: %s%s (a different architecture variant?)",
			cfg.ModelType, strings.Join(extra, ", "), more)
	}
	if len(ld.nonFinite) > 0 {
		if !ld.allowNonFinite {
			return nil, &NonFiniteError{Tensors: ld.nonFinite}
		}
		ld.warnings = append(ld.warnings, (&NonFiniteError{Tensors: ld.nonFinite}).Error()+
			" (loaded anyway: outputs computed from these weights may be NaN)")
	}
	m := &Model{Config: cfg, Warnings: append(append([]string(nil), cfg.Warnings...), ld.warnings...), net: net}
	for _, p := range ld.loaded {
		m.params = append(m.params, p)
	}
	sort.Slice(m.params, func(i, j int) bool { return m.params[i].Name < m.params[j].Name })
	m.catalog = m.buildCatalog()
	return m, nil
}

// Close releases the mmap'd weight files. The model must not be used afterwards.
func (m *Model) Close() error {
	if m.closer == nil {
		return nil
	}
	err := m.closer()
	m.closer = nil
	return err
}

// Catalog lists the model's hook points and their HF module-path aliases.
func (m *Model) Catalog() hooks.Catalog { return m.catalog }

// Unembedding is W_U as stored, [d_vocab, d_model].
func (m *Model) Unembedding() *Param { return m.net.unembedding() }

// FinalNorm returns the final norm's weight and bias (bias nil for RMSNorm). With
// Config.NormPlusOne (Gemma) the effective scale is 1 + weight.
func (m *Model) FinalNorm() (w, b *Param) { return m.net.finalNorm() }

// MLPWeights are one layer's MLP weights as stored. Read directions (neuron i reads the
// residual stream with row i of In, or column i for GPT-2's Conv1D layout) and write directions
// (neuron i writes column i of Out, or row i for Conv1D) keep HF's indexing.
//
// Where the MLP output is normalized before it joins the residual stream (Gemma 2/3's
// post_feedforward_layernorm, Config.SandwichNorm), PostNorm is that RMSNorm's weight g
// [d_model]: with m = Out·hook_post + OutBias the down_proj output at one position,
//
//	hook_mlp_out = m / s · (1 + g),   s = sqrt(mean(m²) + Config.NormEps)
//
// (1 + g with Config.NormPlusOne, as every Gemma norm), so neuron i's write into the residual
// stream is a_i·(1 + g) ⊙ w_i / s, linear in a_i only once s is frozen. PostNorm is nil for the
// families whose MLP output is added to the residual stream as it is.
type MLPWeights struct {
	In, InBias   *Param // W_in / gate_proj: [d_mlp, d_model] (Conv1D: [d_model, d_mlp])
	Up, UpBias   *Param // up_proj of gated MLPs, nil otherwise
	Out, OutBias *Param // W_out / down_proj: [d_model, d_mlp] (Conv1D: [d_mlp, d_model])
	PostNorm     *Param // post_feedforward_layernorm weight [d_model] (Gemma 2/3), nil otherwise
}

// ReadDirection copies neuron i's input weights (a d_model vector) into dst.
func (w MLPWeights) ReadDirection(dst []float32, i int) { column(dst, w.In, i, true) }

// UpDirection copies neuron i's up-projection weights (gated MLPs) into dst.
func (w MLPWeights) UpDirection(dst []float32, i int) { column(dst, w.Up, i, true) }

// WriteDirection copies neuron i's output weights (a d_model vector) into dst.
func (w MLPWeights) WriteDirection(dst []float32, i int) { column(dst, w.Out, i, false) }

// column extracts neuron i's d_model vector from an MLP weight: for an input weight (read)
// it is row i of [d_mlp, d_model]; for an output weight it is column i of [d_model, d_mlp];
// Conv1D swaps both.
func column(dst []float32, p *Param, i int, read bool) {
	rows := read != p.InOut // neuron vectors are rows
	if rows {
		copy(dst, p.Row(i))
		return
	}
	stride := p.Shape[1]
	for j := range dst {
		dst[j] = p.Data[j*stride+i]
	}
}

// MLP returns layer l's MLP weights.
func (m *Model) MLP(l int) MLPWeights { return m.net.mlp(l) }

// ParamCount counts distinct weight values (tied matrices once).
func (m *Model) ParamCount() int64 {
	var n int64
	for _, p := range m.params {
		n += int64(len(p.Data))
	}
	return n
}

// Params lists every distinct weight tensor, sorted by name.
func (m *Model) Params() []*Param { return append([]*Param(nil), m.params...) }

func (m *Model) buildCatalog() hooks.Catalog {
	c := m.Config
	cat := hooks.Catalog{Aliases: map[string]hooks.Point{}, Shapes: map[hooks.Point][]int{}}
	add := func(p hooks.Point) {
		cat.Points = append(cat.Points, p)
		cat.Shapes[p] = c.innerShape(p.Site)
	}
	add(hooks.Global(hooks.Embed))
	if c.LearnedPos {
		add(hooks.Global(hooks.PosEmbed))
	}
	for l := 0; l < c.NLayers; l++ {
		for s := hooks.ResidPre; s <= hooks.ResidPost; s++ {
			if c.hasSite(s) {
				add(hooks.At(l, s))
			}
		}
		for a, s := range m.net.aliases(l) {
			cat.Aliases[a] = hooks.At(l, s)
		}
	}
	add(hooks.Global(hooks.FinalScale))
	add(hooks.Global(hooks.FinalNormalized))
	add(hooks.Global(hooks.FinalOutput))
	for a, s := range m.net.globalAliases() {
		cat.Aliases[a] = hooks.Global(s)
	}
	return cat
}

// hasSite reports whether the architecture has per-layer site s.
func (c *Config) hasSite(s hooks.Site) bool {
	switch s {
	case hooks.ResidMid:
		return !c.ParallelResidual
	case hooks.MLPPreLinear:
		return c.Gated
	case hooks.AttnRotQ, hooks.AttnRotK:
		return c.RotaryDim > 0
	}
	return true
}

// innerShape is the shape of a site's activation after [batch, pos] ([n_heads, KeyPos] after
// [batch] for the attention scores and pattern).
func (c *Config) innerShape(s hooks.Site) []int {
	switch s {
	case hooks.MLPPre, hooks.MLPPreLinear, hooks.MLPPost:
		return []int{c.DMLP}
	case hooks.AttnZ, hooks.AttnQ, hooks.AttnRotQ:
		return []int{c.NHeads, c.DHead}
	case hooks.AttnK, hooks.AttnV, hooks.AttnRotK:
		return []int{c.NKVHeads, c.DHead}
	case hooks.AttnScores, hooks.AttnPattern:
		return []int{c.NHeads, hooks.KeyPos}
	case hooks.AttnResult:
		return []int{c.NHeads, c.DModel}
	case hooks.FinalScale, hooks.LN1Scale, hooks.LN2Scale:
		return []int{1}
	}
	return []int{c.DModel}
}

func (c *Config) dims() map[string]int {
	return map[string]int{
		"layers": c.NLayers, "d_model": c.DModel, "d_mlp": c.DMLP, "d_vocab": c.DVocab,
		"q_dim": c.QDim(), "kv_dim": c.KVDim(), "max_pos": c.MaxPos, "qkv_dim": c.QDim() + 2*c.KVDim(),
		"d_head": c.DHead, "channels": c.Channels, "patch": c.PatchSize,
	}
}

func (c *Config) flags() map[string]bool {
	return map[string]bool{"tied": c.Tied, "attn_bias": c.AttnBias, "attn_out_bias": c.AttnOutBias, "mlp_bias": c.MLPBias,
		"qk_norm": c.QKNorm}
}

func dtypeSummary(m map[safetensors.DType]int64) string {
	var parts []string
	for _, d := range []safetensors.DType{"F32", "BF16", "F16", "F64"} {
		if m[d] > 0 {
			parts = append(parts, string(d))
		}
	}
	for d, n := range m {
		if n > 0 && d != "F32" && d != "BF16" && d != "F16" && d != "F64" {
			parts = append(parts, string(d))
		}
	}
	return strings.Join(parts, "+")
}

// Provenance returns the provenance every report of a run on this model starts from: the
// tool, its version, the BLAS backend, and the model directory, type, config.json sha256 and
// stored dtype. Callers add the data, BOS policy, seed and hooks of their run.
func (m *Model) Provenance() report.Provenance {
	p := report.New()
	p.ModelDir = m.Dir
	p.ModelType = m.Config.ModelType
	p.ConfigHash = m.Config.Hash
	p.StoredDType = m.StoredDType
	p.Warnings = m.Warnings
	return p
}
