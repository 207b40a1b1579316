package hooks

import (
	"fmt"
	"sort"
	"strings"
)

// Catalog lists the hook points one model offers, the shape of each activation after its
// [batch, pos] dimensions, and the Hugging Face module paths that name the same tensors
// (nnsight-style aliases such as "model.layers.3.mlp.down_proj:input").
type Catalog struct {
	Points  []Point
	Aliases map[string]Point
	// Shapes holds each point's inner shape: [d_mlp] for mlp.hook_post, [n_heads, d_head] for
	// attn.hook_z, [1] for ln_final.hook_scale. For the two points that are not
	// [batch, pos, ...] (Site.PerPosition false: attn.hook_attn_scores and attn.hook_pattern,
	// [batch, n_heads, query_pos, key_pos]) it is [n_heads, KeyPos].
	Shapes map[Point][]int
}

// KeyPos stands, in a Catalog shape, for the number of key positions of a call (the cached
// positions plus the new ones), which is known only when the call runs.
const KeyPos = -1

// Shape returns p's inner shape (after [batch, pos]), or nil when the model lacks p. For
// attn.hook_attn_scores and attn.hook_pattern, whose activations are
// [batch, n_heads, query_pos, key_pos], it is [n_heads, KeyPos]: the dimensions after
// [batch], with query_pos left out as pos is for the others.
func (c Catalog) Shape(p Point) []int { return c.Shapes[p] }

// Width is the number of units of p at one position: the product of its inner shape (d_mlp for
// the MLP points, n_heads·d_head for attn.hook_z, d_model for the residual stream). It is 0
// when the model lacks p, and for the points that have no fixed number of units per position
// (attn.hook_attn_scores, attn.hook_pattern).
func (c Catalog) Width(p Point) int {
	s, ok := c.Shapes[p]
	if !ok || !p.Site.PerPosition() {
		return 0
	}
	w := 1
	for _, d := range s {
		w *= d
	}
	return w
}

// Has reports whether the model offers point p.
func (c Catalog) Has(p Point) bool {
	for _, q := range c.Points {
		if q == p {
			return true
		}
	}
	return false
}

// AliasOf returns the HF module-path alias of p, if there is one.
func (c Catalog) AliasOf(p Point) (string, bool) {
	for a, q := range c.Aliases {
		if q == p {
			return a, true
		}
	}
	return "", false
}

// Match resolves one pattern to the points it names, in catalog order. A pattern is a
// TransformerLens name or HF alias, optionally with globs: '*' matches any run of characters
// (dots included) and '?' one character, so "blocks.*.mlp.hook_post" names every layer's
// neurons. A pattern that names no point of this model is an error that says so.
func (c Catalog) Match(pattern string) ([]Point, error) {
	pattern = strings.TrimSpace(pattern)
	if pattern == "" {
		return nil, fmt.Errorf("empty hook pattern")
	}
	if p, ok := c.Aliases[pattern]; ok {
		return []Point{p}, nil
	}
	if !strings.ContainsAny(pattern, "*?") {
		p, err := Parse(pattern)
		if err != nil {
			return nil, fmt.Errorf("%v (see `neuronscope inspect` for this model's hook points)", err)
		}
		if !c.Has(p) {
			return nil, fmt.Errorf("hook %q does not exist in this model (see `neuronscope inspect`)", pattern)
		}
		return []Point{p}, nil
	}
	seen := map[Point]bool{}
	for _, p := range c.Points {
		if glob(pattern, p.String()) {
			seen[p] = true
		}
	}
	for a, p := range c.Aliases {
		if glob(pattern, a) {
			seen[p] = true
		}
	}
	var out []Point
	for _, p := range c.Points {
		if seen[p] {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("hook pattern %q matches no hook point of this model (see `neuronscope inspect`)", pattern)
	}
	return out, nil
}

// MatchAll resolves several patterns and returns the union in catalog order.
func (c Catalog) MatchAll(patterns []string) ([]Point, error) {
	set := map[Point]bool{}
	for _, pat := range patterns {
		ps, err := c.Match(pat)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			set[p] = true
		}
	}
	var out []Point
	for _, p := range c.Points {
		if set[p] {
			out = append(out, p)
		}
	}
	return out, nil
}

// SortedAliases returns alias names sorted by the point they name, then by name.
func (c Catalog) SortedAliases() []string {
	names := make([]string, 0, len(c.Aliases))
	for a := range c.Aliases {
		names = append(names, a)
	}
	index := map[Point]int{}
	for i, p := range c.Points {
		index[p] = i
	}
	sort.Slice(names, func(i, j int) bool {
		pi, pj := index[c.Aliases[names[i]]], index[c.Aliases[names[j]]]
		if pi != pj {
			return pi < pj
		}
		return names[i] < names[j]
	})
	return names
}

// glob matches s against a pattern where '*' is any run of characters and '?' is one.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			starS++
			px, sx = starP+1, starS
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
