package ablate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

// DefaultSite is the tap point ablated when none is chosen: blocks.L.mlp.hook_post, the input
// of the MLP output projection ("the neuron", see package model).
const DefaultSite = hooks.MLPPost

// Neuron is one unit of a per-layer tap point: entry Index of the activation at
// blocks.Layer.<site> (for attn.hook_z, of the flattened n_heads·d_head). Its JSON form
// {"layer":L,"index":i} is that of attribute.Neuron, and the two types convert:
// ablate.Neuron(n).
type Neuron struct {
	Layer int `json:"layer"`
	Index int `json:"index"`
}

// String is "L3/N17".
func (n Neuron) String() string { return fmt.Sprintf("L%d/N%d", n.Layer, n.Index) }

// ParseSite reads a per-layer tap point: a TransformerLens site suffix ("mlp.hook_post",
// "hook_resid_mid", the v3 aliases "mlp.hook_in"/"mlp.hook_out") or the same with a
// "blocks.*." or "blocks.L." prefix (the layer is ignored). Global sites (hook_embed, ...)
// are an error: an ablated neuron belongs to a layer.
func ParseSite(s string) (hooks.Site, error) {
	s = strings.TrimSpace(s)
	suffix := s
	if rest, ok := strings.CutPrefix(s, "blocks."); ok {
		if _, after, ok := strings.Cut(rest, "."); ok {
			suffix = after
		}
	}
	p, err := hooks.Parse("blocks.0." + suffix)
	if err != nil {
		return 0, fmt.Errorf("hook site %q: want a per-layer site such as mlp.hook_post, mlp.hook_pre, hook_resid_post", s)
	}
	return p.Site, nil
}

// Width is the number of neurons per layer at a site of model config c: d_mlp for the MLP
// sites, n_heads·d_head for attn.hook_z, d_model for the residual-stream sites.
func Width(c *model.Config, site hooks.Site) int {
	switch site {
	case hooks.MLPPre, hooks.MLPPreLinear, hooks.MLPPost:
		return c.DMLP
	case hooks.AttnZ:
		return c.QDim()
	}
	return c.DModel
}

// Validate checks a neuron set against a model and site: the site exists in every layer
// used, every layer is in [0, n_layers), every index in [0, Width), no neuron repeats and the
// set is not empty. Errors name the offending entry by its position in the list.
func Validate(m *model.Model, site hooks.Site, neurons []Neuron) error {
	if !site.PerLayer() {
		return fmt.Errorf("hook site %s is not per layer", site)
	}
	if len(neurons) == 0 {
		return fmt.Errorf("the neuron set is empty")
	}
	L, W := m.Config.NLayers, Width(m.Config, site)
	cat := m.Catalog()
	seen := map[Neuron]int{}
	for i, n := range neurons {
		switch {
		case n.Layer < 0 || n.Layer >= L:
			return fmt.Errorf("entry %d %s: layer %d out of range [0, %d)", i, entryJSON(n), n.Layer, L)
		case n.Index < 0 || n.Index >= W:
			return fmt.Errorf("entry %d %s: index %d out of range [0, %d) of %s", i, entryJSON(n), n.Index, W, site)
		case !cat.Has(hooks.At(n.Layer, site)):
			return fmt.Errorf("entry %d %s: this model has no %s", i, entryJSON(n), hooks.At(n.Layer, site))
		}
		if j, dup := seen[n]; dup {
			return fmt.Errorf("entry %d %s repeats entry %d", i, entryJSON(n), j)
		}
		seen[n] = i
	}
	return nil
}

func entryJSON(n Neuron) string { return fmt.Sprintf(`{"layer":%d,"index":%d}`, n.Layer, n.Index) }

// ParseNeurons reads a neuron set: a JSON array [{"layer":L,"index":i},...], or an object with
// such an array under "neurons" (what attribute and demo reports carry; other fields of each
// entry, such as "value", are ignored). name stands for the data in errors.
func ParseNeurons(data []byte, name string) ([]Neuron, error) {
	data = bytes.TrimSpace(data)
	var raw []json.RawMessage
	if len(data) > 0 && data[0] == '{' {
		var obj struct {
			Neurons []json.RawMessage `json:"neurons"`
		}
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if obj.Neurons == nil {
			return nil, fmt.Errorf(`%s: an object needs a "neurons" array`, name)
		}
		raw = obj.Neurons
	} else if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf(`%s: want a JSON array of {"layer":L,"index":i}: %v`, name, err)
	}
	out := make([]Neuron, len(raw))
	for i, r := range raw {
		var e struct {
			Layer *int `json:"layer"`
			Index *int `json:"index"`
		}
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("%s: entry %d %s: %v", name, i, r, err)
		}
		if e.Layer == nil || e.Index == nil {
			return nil, fmt.Errorf(`%s: entry %d %s: needs "layer" and "index"`, name, i, r)
		}
		out[i] = Neuron{*e.Layer, *e.Index}
	}
	return out, nil
}

// ReadNeurons reads a neuron set file (see ParseNeurons) and validates it against the model and
// site (see Validate); every error names the file and, where there is one, the entry.
func ReadNeurons(path string, m *model.Model, site hooks.Site) ([]Neuron, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ns, err := ParseNeurons(data, path)
	if err != nil {
		return nil, err
	}
	if err := Validate(m, site, ns); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return ns, nil
}

// byLayer groups neurons by layer, indices sorted: layer → indices.
func byLayer(neurons []Neuron) map[int][]int {
	out := map[int][]int{}
	for _, n := range neurons {
		out[n.Layer] = append(out[n.Layer], n.Index)
	}
	for _, idx := range out {
		sort.Ints(idx)
	}
	return out
}

// sortedLayers returns the keys of a by-layer map in order.
func sortedLayers[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for l := range m {
		out = append(out, l)
	}
	sort.Ints(out)
	return out
}
