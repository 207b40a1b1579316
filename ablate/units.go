package ablate

import (
	"fmt"
	"math"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/sae"
)

// Units resolves the neurons of units sites (hooks.Site.IsUnits: SNMF features, SAE latents)
// for the experiments: how many units a point has, and the interventions on a list of them.
// Decompositions implements it.
type Units interface {
	// Width is the number of units at p (0: p is not known).
	Width(p hooks.Point) int
	// Intervention builds intervention kind (IvZero, IvClamp or IvScale, with value and
	// factor as in VerifyOptions) on ns, which are all at units points, at positions at.
	Intervention(kind string, ns []hooks.Neuron, value, factor float32, at Positions) (Intervention, error)
}

// FeatureBasis is a fitted SNMF F [d_mlp, rank] row-major (column j = feature j), as
// decompose.Output holds it.
type FeatureBasis struct {
	F          []float32
	DMLP, Rank int
	Name       string // where it came from, for reports
}

// Decompositions holds the SNMF features and SAEs whose units experiments may touch, by their
// units point: blocks.L.mlp.hook_post.snmf and blocks.L.mlp.hook_post.sae.hook_sae_acts_post.
//
// Features are ablated by projecting their directions out of mlp.hook_post: with e_1..e_m an
// orthonormal basis (Gram–Schmidt, in the order listed) of span{F_j : j in the list},
// x ← x − Σ_q (x·e_q) e_q at the selected positions; scaling by s multiplies that component by
// s (zero is s = 0). Clamping a feature has no unique meaning for non-orthogonal features and
// is refused. SAE latents are edited through the SAE spliced in with its error term kept
// (sae.SpliceOptions.ErrorTerm): the model sees x + (x̂_edited − x̂), so only the edit
// changes the activation; zero sets the latents to 0, clamp to the value, scale multiplies
// them, at every position (the splice acts on all positions).
type Decompositions struct {
	Features map[hooks.Point]*FeatureBasis
	SAEs     map[hooks.Point]*sae.SAE
	// Catalog is the model's (the SAE splice resolves its hook in it).
	Catalog hooks.Catalog
}

// Width implements Units.
func (d *Decompositions) Width(p hooks.Point) int {
	if f := d.Features[p]; f != nil {
		return f.Rank
	}
	if s := d.SAEs[p]; s != nil {
		return s.DSAE
	}
	return 0
}

// Intervention implements Units.
func (d *Decompositions) Intervention(kind string, ns []hooks.Neuron, value, factor float32, at Positions) (Intervention, error) {
	points, idx := hooks.ByPoint(ns)
	var parts []Intervention
	for _, p := range points {
		js := idx[p]
		switch {
		case d.Features[p] != nil:
			var s float32
			switch kind {
			case IvZero:
			case IvScale:
				s = factor
			default:
				return nil, fmt.Errorf("%s: intervention %q on SNMF features: want zero (project out) or scale", p, kind)
			}
			sub, err := d.Features[p].subspace(p, js, s, at)
			if err != nil {
				return nil, err
			}
			parts = append(parts, sub)
		case d.SAEs[p] != nil:
			if !slices.Equal(at.List, nil) || at.Last {
				return nil, fmt.Errorf("%s: SAE latents are edited at every position (--positions all), not %s", p, at)
			}
			var edits []sae.Intervention
			switch kind {
			case IvZero:
				edits = append(edits, sae.Ablate(js...))
			case IvClamp:
				for _, j := range js {
					edits = append(edits, sae.Clamp(j, value))
				}
			case IvScale:
				for _, j := range js {
					edits = append(edits, sae.Scale(j, factor))
				}
			default:
				return nil, fmt.Errorf("%s: intervention %q on SAE latents: want zero, clamp or scale", p, kind)
			}
			parts = append(parts, &LatentEdit{SAE: d.SAEs[p], Units: p, Latents: js, Kind: kind, Edits: edits, Catalog: d.Catalog})
		default:
			return nil, fmt.Errorf("%s: no SNMF features or SAE given for these units", p)
		}
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return Combined(parts), nil
}

// Direction is feature j as a steering Direction at p (the activation the features were fitted
// on, e.g. blocks.L.mlp.hook_post): F_j, column j of F. Calibrate and Add use it made unit-norm,
// so steering adds α·F_j/‖F_j‖ (the SNMF paper's procedure).
func (f *FeatureBasis) Direction(p hooks.Point, j int) (Direction, error) {
	k, d := f.Rank, f.DMLP
	if j < 0 || j >= k {
		return Direction{}, fmt.Errorf("feature %d is out of range [0, %d)", j, k)
	}
	v := make([]float32, d)
	for i := range d {
		v[i] = f.F[i*k+j]
	}
	return Direction{Name: fmt.Sprintf("SNMF feature %d of %s", j, f.Name), Parts: []DirectionPart{{Point: p, Vector: v}}}, nil
}

// LatentDirection is latent j of s as a steering Direction at p (the SAE's hook): its decoder
// row W_dec[j]. Adding α·W_dec[j]/‖W_dec[j]‖ to the activation is what splicing the SAE with its
// error term and adding α/‖W_dec[j]‖ to the latent does (sae.Steer) for an SAE without
// activation normalisation; with it the direction is the same.
func LatentDirection(s *sae.SAE, p hooks.Point, j int) (Direction, error) {
	if j < 0 || j >= s.DSAE {
		return Direction{}, fmt.Errorf("latent %d is out of range [0, %d)", j, s.DSAE)
	}
	name := s.Path
	if name == "" {
		name = s.HookName
	}
	return Direction{Name: fmt.Sprintf("SAE latent %d of %s", j, name), Parts: []DirectionPart{{Point: p, Vector: append([]float32(nil), s.Direction(j)...)}}}, nil
}

// subspace builds the projection of features js (at units point p) out of mlp.hook_post.
func (f *FeatureBasis) subspace(p hooks.Point, js []int, factor float32, at Positions) (*Subspace, error) {
	k, d := f.Rank, f.DMLP
	var basis [][]float64
	for _, j := range js {
		if j < 0 || j >= k {
			return nil, fmt.Errorf("%s: feature %d is out of range [0, %d)", p, j, k)
		}
		v := make([]float64, d)
		for i := range d {
			v[i] = float64(f.F[i*k+j])
		}
		for _, e := range basis { // modified Gram–Schmidt
			var c float64
			for i := range v {
				c += v[i] * e[i]
			}
			for i := range v {
				v[i] -= c * e[i]
			}
		}
		var n float64
		for _, x := range v {
			n += x * x
		}
		if n = math.Sqrt(n); n < 1e-9 {
			continue // in the span already (or an all-zero feature)
		}
		for i := range v {
			v[i] /= n
		}
		basis = append(basis, v)
	}
	out := &Subspace{Point: hooks.At(p.Layer, p.Site.Base()), Units: p, Features: js, Factor: factor, At: at}
	for _, e := range basis {
		r := make([]float32, d)
		for i, x := range e {
			r[i] = float32(x)
		}
		out.Basis = append(out.Basis, r)
	}
	return out, nil
}

// Subspace scales the component of the activation at Point in the span of Basis (orthonormal
// rows [width]) by Factor at the selected positions: Factor 0 projects it out.
type Subspace struct {
	Point    hooks.Point // the edited activation (mlp.hook_post)
	Units    hooks.Point // the units the basis spans (blocks.L.mlp.hook_post.snmf)
	Features []int
	Basis    [][]float32
	Factor   float32
	At       Positions
}

// Points implements Intervention.
func (s *Subspace) Points() []hooks.Point { return []hooks.Point{s.Point} }

// String implements Intervention.
func (s *Subspace) String() string {
	what := "project out"
	if s.Factor != 0 {
		what = fmt.Sprintf("scale ×%g the component along", s.Factor)
	}
	return fmt.Sprintf("%s %s %v (span of %d directions) at %s %s", what, s.Units, s.Features, len(s.Basis), s.Point, s.At.describe())
}

// Hooks implements Intervention.
func (s *Subspace) Hooks(b *Batch) ([]hooks.Option, error) {
	keep := 1 - s.Factor
	return []hooks.Option{editAt(s.Point, b, s.At, nil, func(_, _ int, row []float32) {
		for _, e := range s.Basis {
			if len(e) != len(row) {
				return
			}
			var c float32
			for i, v := range e {
				c += row[i] * v
			}
			c *= keep
			for i, v := range e {
				row[i] -= c * v
			}
		}
	})}, nil
}

// LatentEdit splices an SAE in at its hook with its error term kept and edits latents.
type LatentEdit struct {
	SAE     *sae.SAE
	Units   hooks.Point // blocks.L.mlp.hook_post.sae.hook_sae_acts_post
	Latents []int
	Kind    string
	Edits   []sae.Intervention
	Catalog hooks.Catalog
}

// Points implements Intervention.
func (l *LatentEdit) Points() []hooks.Point {
	return []hooks.Point{hooks.At(l.Units.Layer, l.Units.Site.Base())}
}

// String implements Intervention.
func (l *LatentEdit) String() string {
	return fmt.Sprintf("%s SAE latents %v of %s (spliced with its error term) at all positions", l.Kind, l.Latents, l.Units)
}

// Hooks implements Intervention.
func (l *LatentEdit) Hooks(*Batch) ([]hooks.Option, error) {
	for _, j := range l.Latents {
		if j < 0 || j >= l.SAE.DSAE {
			return nil, fmt.Errorf("%s: latent %d is out of range [0, %d)", l.Units, j, l.SAE.DSAE)
		}
	}
	sp, err := sae.NewSplice(l.SAE, l.Catalog, sae.SpliceOptions{ErrorTerm: true, Interventions: l.Edits})
	if err != nil {
		return nil, err
	}
	return []hooks.Option{sp.Option()}, nil
}

// WithUnits is cat with the units points of ns that u knows added (width u.Width), so that
// checks and random same-shape sets treat features and latents like neurons: a random control
// for k features is k random features of the same decomposition.
func WithUnits(cat hooks.Catalog, u Units, ns []hooks.Neuron) hooks.Catalog {
	if u == nil {
		return cat
	}
	var add []hooks.Point
	for _, n := range ns {
		if n.Site.IsUnits() && !slices.Contains(add, n.Point) && u.Width(n.Point) > 0 {
			add = append(add, n.Point)
		}
	}
	if len(add) == 0 {
		return cat
	}
	out := hooks.Catalog{Points: slices.Clone(cat.Points), Aliases: cat.Aliases, Shapes: make(map[hooks.Point][]int, len(cat.Shapes)+len(add))}
	for p, s := range cat.Shapes {
		out.Shapes[p] = s
	}
	for _, p := range add {
		out.Points = append(out.Points, p)
		out.Shapes[p] = []int{u.Width(p)}
	}
	return out
}

// hasUnits reports whether any neuron is at a units site.
func hasUnits(ns []hooks.Neuron) bool {
	return slices.ContainsFunc(ns, func(n hooks.Neuron) bool { return n.Site.IsUnits() })
}
