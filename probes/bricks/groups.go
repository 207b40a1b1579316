package bricks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Mass selects how a neuron's activation on a token counts toward its activation mass.
type Mass int

const (
	// AbsMass counts |x| (gated MLPs' hook_post is signed).
	AbsMass Mass = iota
	// PositiveMass counts max(x, 0) (firing strength of ReLU/GELU neurons).
	PositiveMass
)

// String names the mass as the JSON and CLI spell it.
func (m Mass) String() string {
	if m == PositiveMass {
		return "positive"
	}
	return "abs"
}

// GroupMass accumulates each neuron's activation mass on the tokens of each labelled group
// (a language, a relation, ...): Sum[g][i] = Σ over tokens t of group g of mass(x_t,i), and
// the token count of each group. The zero value is not usable; call NewGroupMass.
type GroupMass struct {
	width, groups int
	mass          Mass
	sum           []float64 // [groups, width]
	tokens        []int64   // [groups]
}

// NewGroupMass returns an empty accumulator for width neurons and groups labels. It panics
// if width or groups is < 1.
func NewGroupMass(width, groups int, mass Mass) *GroupMass {
	if width < 1 || groups < 1 {
		panic(fmt.Sprintf("bricks: group mass for %d neurons and %d groups", width, groups))
	}
	return &GroupMass{width: width, groups: groups, mass: mass,
		sum: make([]float64, groups*width), tokens: make([]int64, groups)}
}

// Add accumulates rows of activations: x is [len(labels), width] row-major and labels[t] is
// the group of token t, or −1 for a token that belongs to no group (skipped; padding too).
// It returns an error for a length mismatch, a label ≥ groups, or a non-finite activation of
// a labelled token (the accumulator is unchanged then).
func (g *GroupMass) Add(x []float32, labels []int) error {
	w := g.width
	if len(x) != len(labels)*w {
		return fmt.Errorf("bricks: %d activations for %d labelled rows of width %d", len(x), len(labels), w)
	}
	for t, l := range labels {
		if l >= g.groups || l < -1 {
			return fmt.Errorf("bricks: token %d has group %d (want −1 or 0..%d)", t, l, g.groups-1)
		}
		if l < 0 {
			continue
		}
		for j, v := range x[t*w : (t+1)*w] {
			if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
				return fmt.Errorf("bricks: non-finite activation of neuron %d on token %d", j, t)
			}
		}
	}
	for t, l := range labels {
		if l < 0 {
			continue
		}
		g.tokens[l]++
		dst := g.sum[l*w : (l+1)*w]
		for j, v := range x[t*w : (t+1)*w] {
			if g.mass == PositiveMass {
				dst[j] += float64(max(v, 0))
			} else {
				dst[j] += math.Abs(float64(v))
			}
		}
	}
	return nil
}

// Merge adds o's sums and counts to g. It returns an error when the shapes or masses differ.
func (g *GroupMass) Merge(o *GroupMass) error {
	if g.width != o.width || g.groups != o.groups || g.mass != o.mass {
		return fmt.Errorf("bricks: cannot merge group mass (%d neurons, %d groups, %s) into (%d, %d, %s)",
			o.width, o.groups, o.mass, g.width, g.groups, g.mass)
	}
	for i, v := range o.sum {
		g.sum[i] += v
	}
	for i, v := range o.tokens {
		g.tokens[i] += v
	}
	return nil
}

// Tokens is the number of tokens of each group.
func (g *GroupMass) Tokens() []int64 { return append([]int64(nil), g.tokens...) }

// MeanMass returns a[g][i], neuron i's mean mass per token of group g ([groups, width]).
func (g *GroupMass) MeanMass() []float64 {
	a := make([]float64, len(g.sum))
	for l := range g.groups {
		if g.tokens[l] == 0 {
			continue
		}
		for j := range g.width {
			a[l*g.width+j] = g.sum[l*g.width+j] / float64(g.tokens[l])
		}
	}
	return a
}

// AnalyzeOptions configures Analyze.
type AnalyzeOptions struct {
	// RandomPartitions is the number of random partitions with the bricks' sizes drawn for
	// the control (default 1000).
	RandomPartitions int
	// Seed drives the random partitions.
	Seed uint64
	// Groups names the groups (optional; reported as is).
	Groups []string
	// Layer is reported as the report's layer.
	Layer int
}

// Brick describes one brick: its neurons and how its activation mass splits over groups.
type Brick struct {
	Index   int   `json:"index"`
	Size    int   `json:"size"`
	Neurons []int `json:"neurons"`
	// Share[g] is the brick's share of activation mass on group g (per token of g), Σ_g = 1.
	Share []float64 `json:"share"`
	// Top is the group with the largest share.
	Top      int     `json:"top_group"`
	TopShare float64 `json:"top_share"`
	// Specialisation is 1 − H(Share)/ln G: 0 when the brick serves every group alike, 1 when
	// it serves one group only.
	Specialisation float64 `json:"specialisation"`
}

// GroupUse describes how one group's activation mass is spread over the bricks.
type GroupUse struct {
	Group  int    `json:"group"`
	Name   string `json:"name,omitempty"`
	Tokens int64  `json:"tokens"`
	// Use[b] is the share of the group's per-neuron mass held by brick b, Σ_b = 1.
	Use []float64 `json:"use"`
	// TopBrick is the brick the group uses most.
	TopBrick int `json:"top_brick"`
	// Sparsity is 1 − H(Use)/ln B: 0 when the group uses every brick alike, 1 when it uses
	// one brick only.
	Sparsity float64 `json:"sparsity"`
}

// Control compares a statistic of the partition with the same statistic of random
// partitions of the same brick sizes.
type Control struct {
	Observed float64 `json:"observed"`
	Mean     float64 `json:"random_mean"`
	SD       float64 `json:"random_sd"`
	// P is the empirical one-sided p-value (1 + #{random ≥ observed}) / (1 + R).
	P float64 `json:"p_value"`
	R int     `json:"random_partitions"`
}

// Report is the brick × group analysis of one layer.
type Report struct {
	Layer  int        `json:"layer"`
	Bricks []Brick    `json:"bricks"`
	Groups []GroupUse `json:"groups"`
	// Share is the brick × group matrix of Brick.Share, [bricks][groups].
	Share [][]float64 `json:"share"`
	// Specialisation is the mean Brick.Specialisation; Sparsity the mean GroupUse.Sparsity.
	Specialisation Control `json:"specialisation"`
	Sparsity       Control `json:"sparsity"`
	Mass           string  `json:"mass"`
	Seed           uint64  `json:"seed"`
}

// Analyze characterises the bricks of p by the groups they serve, from gm (accumulated over
// labelled tokens of the same layer), and compares the mean specialisation and sparsity with
// random partitions of the same sizes. It returns an error when the widths differ or a group
// has no tokens.
func Analyze(p *Partition, gm *GroupMass, opts AnalyzeOptions) (*Report, error) {
	if p.Width != gm.width {
		return nil, fmt.Errorf("bricks: partition of %d neurons, group mass of %d", p.Width, gm.width)
	}
	if opts.Groups != nil && len(opts.Groups) != gm.groups {
		return nil, fmt.Errorf("bricks: %d group names for %d groups", len(opts.Groups), gm.groups)
	}
	for l, n := range gm.tokens {
		if n == 0 {
			return nil, fmt.Errorf("bricks: group %d has no tokens", l)
		}
	}
	if opts.RandomPartitions == 0 {
		opts.RandomPartitions = 1000
	}
	a := gm.MeanMass()
	G, B := gm.groups, p.Bricks
	mass := brickMass(a, p.Assign, G, B, gm.width)
	r := &Report{Layer: opts.Layer, Mass: gm.mass.String(), Seed: opts.Seed, Share: make([][]float64, B)}
	var specSum, sparSum float64
	for b := range B {
		share := normalised(mass[b*G : (b+1)*G])
		top := argmax(share)
		br := Brick{Index: b, Size: p.Sizes[b], Neurons: p.Members(b), Share: share, Top: top, TopShare: share[top],
			Specialisation: 1 - entropy(share)/math.Log(float64(G))}
		if G == 1 {
			br.Specialisation = 1
		}
		specSum += br.Specialisation
		r.Bricks = append(r.Bricks, br)
		r.Share[b] = share
	}
	for g := range G {
		use := make([]float64, B)
		for b := range B {
			if p.Sizes[b] > 0 {
				use[b] = mass[b*G+g] / float64(p.Sizes[b])
			}
		}
		use = normalised(use)
		gu := GroupUse{Group: g, Tokens: gm.tokens[g], Use: use, TopBrick: argmax(use),
			Sparsity: 1 - entropy(use)/math.Log(float64(B))}
		if B == 1 {
			gu.Sparsity = 0
		}
		if opts.Groups != nil {
			gu.Name = opts.Groups[g]
		}
		sparSum += gu.Sparsity
		r.Groups = append(r.Groups, gu)
	}
	spec, spar := specSum/float64(B), sparSum/float64(G)
	// Control: random partitions of the same sizes over the same (non-constant) neurons.
	var active []int
	for i, b := range p.Assign {
		if b >= 0 {
			active = append(active, i)
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0xb71c))
	R := opts.RandomPartitions
	rs, rp := make([]float64, R), make([]float64, R)
	assign := make([]int, p.Width)
	for k := range R {
		for i := range assign {
			assign[i] = -1
		}
		rng.Shuffle(len(active), func(x, y int) { active[x], active[y] = active[y], active[x] })
		pos := 0
		for b, s := range p.Sizes {
			for _, i := range active[pos : pos+s] {
				assign[i] = b
			}
			pos += s
		}
		rs[k], rp[k] = statistics(brickMass(a, assign, G, B, p.Width), p.Sizes, G, B)
	}
	r.Specialisation = control(spec, rs)
	r.Sparsity = control(spar, rp)
	return r, nil
}

// brickMass sums the neurons' mean masses per brick: M[b][g] = Σ_{i∈b} a[g][i].
func brickMass(a []float64, assign []int, G, B, w int) []float64 {
	m := make([]float64, B*G)
	for g := range G {
		row := a[g*w : (g+1)*w]
		for i, b := range assign {
			if b >= 0 {
				m[b*G+g] += row[i]
			}
		}
	}
	return m
}

// statistics computes the mean specialisation and mean sparsity of brick masses.
func statistics(mass []float64, sizes []int, G, B int) (spec, spar float64) {
	for b := range B {
		s := 1.0
		if G > 1 {
			s = 1 - entropy(normalised(mass[b*G:(b+1)*G]))/math.Log(float64(G))
		}
		spec += s
	}
	use := make([]float64, B)
	for g := range G {
		for b := range B {
			use[b] = 0
			if sizes[b] > 0 {
				use[b] = mass[b*G+g] / float64(sizes[b])
			}
		}
		if B > 1 {
			spar += 1 - entropy(normalised(use))/math.Log(float64(B))
		}
	}
	return spec / float64(B), spar / float64(G)
}

func control(obs float64, random []float64) Control {
	c := Control{Observed: obs, R: len(random)}
	if len(random) == 0 {
		return c
	}
	var ge int
	for _, v := range random {
		c.Mean += v
		if v >= obs {
			ge++
		}
	}
	c.Mean /= float64(len(random))
	if len(random) > 1 {
		for _, v := range random {
			c.SD += (v - c.Mean) * (v - c.Mean)
		}
		c.SD = math.Sqrt(c.SD / float64(len(random)-1))
	}
	c.P = float64(1+ge) / float64(1+len(random))
	return c
}

// normalised returns v/Σv (a uniform distribution when Σv = 0).
func normalised(v []float64) []float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	out := make([]float64, len(v))
	for i, x := range v {
		if s > 0 {
			out[i] = x / s
		} else {
			out[i] = 1 / float64(len(v))
		}
	}
	return out
}

// entropy is −Σ pᵢ ln pᵢ (0 ln 0 = 0).
func entropy(p []float64) float64 {
	var h float64
	for _, x := range p {
		if x > 0 {
			h -= x * math.Log(x)
		}
	}
	return h
}

// argmax is the index of the largest value (the first on ties).
func argmax(v []float64) int { return slices.Index(v, slices.Max(v)) }
