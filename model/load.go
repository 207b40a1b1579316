package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

// Source is where weights come from: a checkpoint directory, or tensors built in memory.
type Source interface {
	Tensor(name string) (safetensors.Tensor, bool)
	Names() []string
}

// loader fills a weights struct from a Source by walking its `st` struct tags:
//
//	st:"name"       tensor name, joined to the enclosing prefix with '.'
//	shape:"a,b"     expected shape, in dims names (d_model, d_mlp, …) or integers
//	layout:"in_out" GPT-2 Conv1D orientation
//	if:"flag"       the tensor exists exactly when flag is true (e.g. attn_bias)
//	tied:"name"     when the model ties embeddings, use this (root-level) tensor instead
//
// Slices of structs are per-layer blocks; their length is dims["layers"]. An embedded struct
// without a tag is a group of tensors under the same prefix.
type loader struct {
	src      Source
	random   *rand.Rand // when set, weights are random (benchmarks), not read from src
	dims     map[string]int
	flags    map[string]bool
	loaded   map[string]*Param
	warnings []string
	// nonFinite lists the tensors holding NaN or ±Inf values, one finding each.
	nonFinite      []string
	allowNonFinite bool
}

func (ld *loader) fill(v reflect.Value, prefix string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("st")
		if !ok {
			if f.Anonymous && f.Type.Kind() == reflect.Struct { // an embedded group of tensors, same prefix
				if err := ld.fill(v.Field(i), prefix); err != nil {
					return err
				}
			}
			continue
		}
		name := join(prefix, tag)
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Slice:
			n := ld.dims["layers"]
			fv.Set(reflect.MakeSlice(fv.Type(), n, n))
			for l := 0; l < n; l++ {
				if err := ld.fill(fv.Index(l), join(name, strconv.Itoa(l))); err != nil {
					return err
				}
			}
		case reflect.Pointer:
			p, err := ld.param(name, f.Tag)
			if err != nil {
				return err
			}
			if p != nil {
				fv.Set(reflect.ValueOf(p))
			}
		default:
			panic("model: st tag on unsupported field " + f.Name)
		}
	}
	return nil
}

func (ld *loader) param(name string, tag reflect.StructTag) (*Param, error) {
	if alt, ok := tag.Lookup("tied"); ok && ld.flags["tied"] {
		name = alt
	}
	if flag, ok := tag.Lookup("if"); ok && !ld.flags[flag] {
		if ld.random != nil {
			return nil, nil
		}
		if _, present := ld.src.Tensor(name); present {
			return nil, fmt.Errorf("tensor %s is present but config.json says %s is off", name, flag)
		}
		return nil, nil
	}
	if p, ok := ld.loaded[name]; ok {
		return p, nil
	}
	want, err := ld.shape(tag.Get("shape"))
	if err != nil {
		return nil, err
	}
	if ld.random != nil {
		p := &Param{Name: name, Shape: want, Data: randomWeights(ld.random, name, want), InOut: tag.Get("layout") == "in_out"}
		ld.loaded[name] = p
		return p, nil
	}
	t, ok := ld.src.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("missing tensor %s", name)
	}
	if !equalInts(t.Shape, want) {
		return nil, fmt.Errorf("%s: tensor %s has shape %v, config.json implies %v", t.File, name, t.Shape, want)
	}
	data, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	if bad, first := safetensors.CountNonFinite(data); bad > 0 {
		ld.nonFinite = append(ld.nonFinite, fmt.Sprintf("%s has %d NaN/Inf values (first at flat index %d)", name, bad, first))
	}
	p := &Param{Name: name, Shape: append([]int(nil), t.Shape...), Data: data, InOut: tag.Get("layout") == "in_out"}
	ld.loaded[name] = p
	return p, nil
}

func (ld *loader) shape(spec string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(spec, ",") {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
			continue
		}
		n, ok := ld.dims[s]
		if !ok {
			panic("model: unknown dim " + s + " in shape tag")
		}
		out = append(out, n)
	}
	return out, nil
}

// unused lists tensors in the source that the weights struct did not read, except buffers
// HF itself does not treat as weights.
func (ld *loader) unused() []string {
	if ld.random != nil {
		return nil
	}
	var out []string
	for _, n := range ld.src.Names() {
		if _, ok := ld.loaded[n]; ok || ignorableBuffer(n) {
			continue
		}
		if ld.flags["tied"] && (n == "lm_head.weight" || n == "embed_out.weight") {
			ld.warnings = append(ld.warnings, fmt.Sprintf("config ties the embeddings, so stored %s is ignored (as HF does)", n))
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ignorableBuffer reports non-persistent buffers some checkpoints carry (GPT-2's causal mask
// attn.bias / attn.masked_bias, rotary inv_freq caches).
func ignorableBuffer(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") ||
		strings.HasSuffix(name, "rotary_emb.inv_freq") || strings.HasSuffix(name, ".attention.bias") ||
		strings.HasSuffix(name, ".attention.masked_bias")
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fillPrefixed fills a weights struct whose tags are relative to prefix.
func (ld *loader) fillPrefixed(dst any, prefix string) error {
	return ld.fill(reflect.ValueOf(dst).Elem(), prefix)
}

// randomWeights fills a tensor of the given shape for benchmarks: norm weights near 1, biases
// small, matrices N(0, 1/fan_in).
func randomWeights(rng *rand.Rand, name string, shape []int) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	isNorm := strings.Contains(name, "norm") || strings.Contains(name, "ln_")
	switch {
	case isNorm && len(shape) == 1:
		for i := range data {
			data[i] = 1 + 0.05*float32(rng.NormFloat64())
		}
	case len(shape) == 1:
		for i := range data {
			data[i] = 0.02 * float32(rng.NormFloat64())
		}
	default:
		s := float32(1 / math.Sqrt(float64(shape[len(shape)-1])))
		for i := range data {
			data[i] = s * float32(rng.NormFloat64())
		}
	}
	return data
}
