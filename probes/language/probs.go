package language

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

// File-format names of an activation-probability file.
const (
	// TensorName is the name of the single F32 tensor [groups, layers, width].
	TensorName = "activation_probability"
	// MetaLanguages is the metadata key listing the group names, comma-separated, in tensor order.
	MetaLanguages = "languages"
	// MetaTap is the metadata key naming the tap point the neurons were read at.
	MetaTap = "tap"
	// MetaCounting is the optional metadata key saying how tokens were counted: CountingAll
	// (the default when absent) or CountingResponse.
	MetaCounting = "counting"
	// MetaTokens is the optional metadata key with the token count of each group,
	// comma-separated, in tensor order.
	MetaTokens = "tokens"
)

// How the tokens behind the probabilities were counted (the MetaCounting values).
const (
	// CountingAll: every token of the group's text (LAPE).
	CountingAll = "all"
	// CountingResponse: only the tokens after a prompt prefix, as (full − prefix) differences
	// (the alignment paper). Such values can exceed 1 slightly (see ResponseProbabilities).
	CountingResponse = "response"
)

// Probabilities holds the activation probability of every neuron of one tap point for each
// group (language): P[(g·Layers + l)·Width + i] is the fraction of group g's tokens on which
// neuron i of layer l is > 0. The layout is [groups, layers, width], row-major.
type Probabilities struct {
	Groups   []string // group names, in tensor order; at least 2, distinct, no commas
	Tap      string   // tap point, e.g. "mlp.hook_pre"
	Counting string   // CountingAll or CountingResponse ("" reads as CountingAll)
	Layers   int
	Width    int
	P        []float32 // [groups, layers, width]
	Tokens   []int64   // tokens counted per group; nil when unknown
}

// At is the probability of neuron (layer, index) in group g.
func (p *Probabilities) At(g, layer, index int) float32 {
	return p.P[(g*p.Layers+layer)*p.Width+index]
}

// Neurons is the number of neurons per group, Layers·Width.
func (p *Probabilities) Neurons() int { return p.Layers * p.Width }

// Validate checks the invariants a finder relies on: at least 2 distinct, non-empty group
// names without commas or surrounding spaces, positive layers and width, len(P) equal to
// groups·layers·width, every value finite and ≥ 0, and ≤ 1 unless Counting is
// CountingResponse, and Tokens (when present) one non-negative count per group. The error
// names the first problem; callers prefix the file name.
func (p *Probabilities) Validate() error {
	if err := checkGroups(p.Groups); err != nil {
		return err
	}
	switch p.Counting {
	case "", CountingAll, CountingResponse:
	default:
		return fmt.Errorf("counting %q is neither %q nor %q", p.Counting, CountingAll, CountingResponse)
	}
	if p.Layers < 1 || p.Width < 1 {
		return fmt.Errorf("need at least 1 layer and 1 neuron, have layers=%d width=%d", p.Layers, p.Width)
	}
	if want := len(p.Groups) * p.Layers * p.Width; len(p.P) != want {
		return fmt.Errorf("%d probabilities for %d groups × %d layers × %d neurons (want %d)", len(p.P), len(p.Groups), p.Layers, p.Width, want)
	}
	above := p.Counting != CountingResponse
	for j, v := range p.P {
		if v >= 0 && (v <= 1 || !above) && !math.IsInf(float64(v), 1) {
			continue
		}
		g, l, i := j/(p.Layers*p.Width), j/p.Width%p.Layers, j%p.Width
		where := fmt.Sprintf("group %q layer %d neuron %d", p.Groups[g], l, i)
		switch {
		case v != v:
			return fmt.Errorf("%s: probability is NaN", where)
		case v < 0:
			return fmt.Errorf("%s: probability %g < 0", where, v)
		case math.IsInf(float64(v), 1):
			return fmt.Errorf("%s: probability is +Inf", where)
		default:
			return fmt.Errorf("%s: probability %g > 1 (only response-only statistics, %s=%s, may exceed 1)", where, v, MetaCounting, CountingResponse)
		}
	}
	if p.Tokens != nil {
		if len(p.Tokens) != len(p.Groups) {
			return fmt.Errorf("%d token counts for %d groups", len(p.Tokens), len(p.Groups))
		}
		for g, n := range p.Tokens {
			if n < 0 {
				return fmt.Errorf("group %q: token count %d < 0", p.Groups[g], n)
			}
		}
	}
	return nil
}

func checkGroups(groups []string) error {
	if len(groups) < 2 {
		return fmt.Errorf("need at least 2 groups (languages), have %d", len(groups))
	}
	seen := make(map[string]int, len(groups))
	for g, name := range groups {
		switch {
		case name == "":
			return fmt.Errorf("group %d has an empty name", g)
		case strings.TrimSpace(name) != name:
			return fmt.Errorf("group name %q has surrounding spaces", name)
		case strings.Contains(name, ","):
			return fmt.Errorf("group name %q contains a comma", name)
		}
		if h, dup := seen[name]; dup {
			return fmt.Errorf("group name %q appears twice (groups %d and %d)", name, h, g)
		}
		seen[name] = g
	}
	return nil
}

// WriteFile writes p as an activation-probability safetensors file, atomically (temp file +
// rename): one F32 tensor TensorName of shape [groups, layers, width] and the metadata
// MetaLanguages, MetaTap, MetaCounting and (when Tokens is set) MetaTokens. p is validated
// first; an invalid p writes nothing.
func (p *Probabilities) WriteFile(path string) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	meta := map[string]string{
		MetaLanguages: strings.Join(p.Groups, ","),
		MetaTap:       p.Tap,
		MetaCounting:  p.Counting,
	}
	if p.Counting == "" {
		meta[MetaCounting] = CountingAll
	}
	if p.Tokens != nil {
		s := make([]string, len(p.Tokens))
		for g, n := range p.Tokens {
			s[g] = strconv.FormatInt(n, 10)
		}
		meta[MetaTokens] = strings.Join(s, ",")
	}
	t := safetensors.F32(TensorName, []int{len(p.Groups), p.Layers, p.Width}, p.P)
	return safetensors.WriteFile(path, []safetensors.WriteTensor{t}, meta)
}

// ReadProbabilities reads an activation-probability file written by WriteFile (or converted
// from published statistics). The file must hold exactly one tensor, TensorName, F32 of rank
// 3, and the metadata MetaLanguages naming one group per row; MetaTap, MetaCounting and
// MetaTokens are optional. The values are copied to the heap (the file is closed on return)
// and validated as in Validate. Every error names the file.
func ReadProbabilities(path string) (*Probabilities, error) {
	f, err := safetensors.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fail := func(format string, a ...any) (*Probabilities, error) {
		return nil, fmt.Errorf("%s: "+format, append([]any{path}, a...)...)
	}
	names := f.Names()
	if len(names) != 1 || names[0] != TensorName {
		return fail("an activation-probability file holds exactly one tensor %q, this one holds %q", TensorName, names)
	}
	t, _ := f.Tensor(TensorName)
	if t.DType != safetensors.DTypeF32 {
		return fail("tensor %q is %s, want F32", TensorName, t.DType)
	}
	if len(t.Shape) != 3 {
		return fail("tensor %q has shape %v, want rank 3 [groups, layers, width]", TensorName, t.Shape)
	}
	meta := f.Metadata()
	langs, ok := meta[MetaLanguages]
	if !ok {
		return fail("metadata has no %q key (comma-separated group names)", MetaLanguages)
	}
	p := &Probabilities{Tap: meta[MetaTap], Counting: meta[MetaCounting], Layers: t.Shape[1], Width: t.Shape[2]}
	for _, s := range strings.Split(langs, ",") {
		p.Groups = append(p.Groups, strings.TrimSpace(s))
	}
	if len(p.Groups) != t.Shape[0] {
		return fail("metadata %q names %d groups %q, but the tensor has %d rows", MetaLanguages, len(p.Groups), p.Groups, t.Shape[0])
	}
	if s, ok := meta[MetaTokens]; ok {
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return fail("metadata %q: %q is not a token count", MetaTokens, f)
			}
			p.Tokens = append(p.Tokens, n)
		}
	}
	if err := checkGroups(p.Groups); err != nil {
		return fail("metadata %q: %v", MetaLanguages, err)
	}
	vals, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	p.P = append([]float32(nil), vals...)
	if err := p.Validate(); err != nil {
		return fail("%v", err)
	}
	return p, nil
}
