package ablate

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Activations are the values of some units at every real position of every item of a list
// of prompts, from one unedited pass (CaptureActivations): the source of resampling,
// activation patching and group statistics.
type Activations struct {
	Neurons []hooks.Neuron
	// Lens is each item's length; Data[i] is item i's [Lens[i], len(Neurons)] values,
	// row-major.
	Lens []int
	Data [][]float32
}

// CaptureActivations runs the prompts through the unedited model in PromptBatches (left
// padded) and keeps the neurons' values at every real position of every prompt.
func CaptureActivations(m *model.Model, prompts [][]int, neurons []hooks.Neuron, batchSize int) (*Activations, error) {
	if err := m.Catalog().CheckNeurons(neurons); err != nil {
		return nil, err
	}
	a := &Activations{Neurons: append([]hooks.Neuron(nil), neurons...), Lens: make([]int, len(prompts)), Data: make([][]float32, len(prompts))}
	k := len(neurons)
	for i, p := range prompts {
		a.Lens[i] = len(p)
		a.Data[i] = make([]float32, len(p)*k)
	}
	err := forEachBatch(prompts, nil, batchSize, func(b *Batch) error {
		opts := perPoint(neurons, func(p hooks.Point, idx []int, units []int) []hooks.Option {
			return []hooks.Option{hooks.ObservePoint(p, func(_ hooks.Point, act *tensor.Tensor) error {
				w := len(act.Data) / (b.Size * b.Len)
				for r := 0; r < b.Size; r++ {
					dst := a.Data[b.Items[r]]
					first := b.first(r)
					for t := 0; t < b.Lens[r]; t++ {
						row := act.Data[(r*b.Len+first+t)*w:][:w]
						for q, j := range idx {
							dst[t*k+j] = row[units[q]]
						}
					}
				}
				return nil
			})}
		})
		_, err := m.Forward(b.Batch, opts...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// column returns neuron j's values at every position of item i.
func (a *Activations) column(i, j int) []float32 {
	k := len(a.Neurons)
	out := make([]float32, a.Lens[i])
	for t := range out {
		out[t] = a.Data[i][t*k+j]
	}
	return out
}

// Patch writes values captured in another run into this one: at each selected prompt
// position of item i, every neuron takes its value in Source item From[i] at the same
// position counted from the end of the prompt (the last position takes the source's last
// position; when the source is shorter, positions before its start take its first position).
// Positions after the prompt (answer or generated tokens) are not patched. Activation
// patching (clean values into corrupted runs) and resampling (NewResample) are Patches.
type Patch struct {
	Neurons []hooks.Neuron
	At      Positions
	Source  *Activations
	From    []int // From[i] is the source item of item i; −1 leaves item i unpatched
	// TextSource and TextFrom are the same for the passes over an Eval's texts (Batch.Texts).
	TextSource *Activations
	TextFrom   []int
	What       string
}

// Points implements Intervention.
func (p *Patch) Points() []hooks.Point { ps, _ := hooks.ByPoint(p.Neurons); return ps }

// String implements Intervention.
func (p *Patch) String() string {
	return fmt.Sprintf("%s %s %s", p.What, describeNeurons(p.Neurons), p.At.describe())
}

// Hooks implements Intervention.
func (p *Patch) Hooks(b *Batch) ([]hooks.Option, error) {
	source, from := p.Source, p.From
	if b.Texts {
		source, from = p.TextSource, p.TextFrom
		if source == nil {
			return nil, fmt.Errorf("%s: no source activations for the texts", p.What)
		}
	}
	col := map[hooks.Neuron]int{}
	for j, n := range source.Neurons {
		col[n] = j
	}
	srcCol := make([]int, len(p.Neurons))
	for i, n := range p.Neurons {
		j, ok := col[n]
		if !ok {
			return nil, fmt.Errorf("patch: the source activations lack %s", n)
		}
		srcCol[i] = j
	}
	if b.Past > 0 {
		return nil, nil
	}
	for _, it := range b.Items {
		if it >= len(from) {
			return nil, fmt.Errorf("patch: no source for item %d", it)
		}
	}
	k := len(source.Neurons)
	return perPoint(p.Neurons, func(pt hooks.Point, idx []int, units []int) []hooks.Option {
		return []hooks.Option{editAt(pt, b, p.At, units, func(r, t int, row []float32) {
			src := from[b.Items[r]]
			if src < 0 {
				return
			}
			pl := b.PromptLens[r]
			pos := t - b.first(r) // position in the item
			if pos >= pl {
				return
			}
			sl := source.Lens[src]
			s := max(pos-pl+sl, 0)
			data := source.Data[src][s*k:]
			for q, j := range idx {
				row[units[q]] = data[srcCol[j]]
			}
		})}
	}), nil
}

// NewResample is resample ablation: every item takes the neurons' values from a random item
// of another group (labels[i] is item i's group; the source is uniform among the items
// whose group differs, drawn per item from seed and the item's index, so it does not depend on
// batching), at the same position counted from the end of the prompt (see Patch). source must
// hold the same items, captured unedited. A group that is every item is an error.
func NewResample(ns []hooks.Neuron, at Positions, source *Activations, labels []string, seed uint64) (*Patch, error) {
	from, err := resampleFrom(source, labels, seed)
	if err != nil {
		return nil, err
	}
	return &Patch{Neurons: ns, At: at, Source: source, From: from, What: "resample (from a random item of another group)"}, nil
}

// resampleFrom draws each item's source item (see NewResample).
func resampleFrom(source *Activations, labels []string, seed uint64) ([]int, error) {
	if len(labels) != len(source.Lens) {
		return nil, fmt.Errorf("resample: %d labels for %d items", len(labels), len(source.Lens))
	}
	byGroup := map[string][]int{}
	var groups []string
	for i, g := range labels {
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], i)
	}
	if len(groups) < 2 {
		return nil, fmt.Errorf("resample needs items of at least two groups to take values from, got only %q", groups)
	}
	from := make([]int, len(labels))
	for i, g := range labels {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		x := rng.IntN(len(labels) - len(byGroup[g]))
		// the x-th item outside g, in index order
		own := byGroup[g]
		j := sort.Search(len(own), func(k int) bool { return own[k]-k > x })
		from[i] = x + j
	}
	return from, nil
}

// ForceAt sets the neurons to the given values (one per neuron), e.g. a statistic of a
// group's activations (GroupStatistic).
func ForceAt(ns []hooks.Neuron, values []float32, what string, at Positions) *Overwrite {
	return &Overwrite{Neurons: ns, Values: append([]float32(nil), values...), At: at, What: what}
}

// GroupStatistic is, per neuron, a statistic over the items of one group of each item's
// response, the neuron's mean over the item's real positions (the relation-neuron papers'
// ô): stat "median" (Kojima et al.'s on_p50, the value that forcing steers to) or "mean".
// in[i] says whether item i belongs to the group.
func GroupStatistic(acts *Activations, in []bool, stat string) ([]float32, error) {
	if len(in) != len(acts.Lens) {
		return nil, fmt.Errorf("group statistic: %d memberships for %d items", len(in), len(acts.Lens))
	}
	out := make([]float32, len(acts.Neurons))
	for j := range acts.Neurons {
		var resp []float64
		for i := range in {
			if !in[i] {
				continue
			}
			var s float64
			for _, v := range acts.column(i, j) {
				s += float64(v)
			}
			resp = append(resp, s/float64(acts.Lens[i]))
		}
		if len(resp) == 0 {
			return nil, fmt.Errorf("group statistic: the group has no items")
		}
		switch stat {
		case "median", "":
			sort.Float64s(resp)
			n := len(resp)
			if n%2 == 1 {
				out[j] = float32(resp[n/2])
			} else {
				out[j] = float32((resp[n/2-1] + resp[n/2]) / 2)
			}
		case "mean":
			var s float64
			for _, r := range resp {
				s += r
			}
			out[j] = float32(s / float64(len(resp)))
		default:
			return nil, fmt.Errorf("group statistic %q: want median or mean", stat)
		}
	}
	return out, nil
}

// Direction is a vector in the space of one or more hook points (for a neuron set across
// layers, one part per layer): what steering adds.
type Direction struct {
	Name  string
	Parts []DirectionPart
}

// DirectionPart is the direction's vector at one point, [width].
type DirectionPart struct {
	Point  hooks.Point
	Vector []float32
}

// Norm is the Euclidean norm over every part.
func (d Direction) Norm() float64 {
	var s float64
	for _, p := range d.Parts {
		for _, v := range p.Vector {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// Unit returns the direction scaled to norm 1; a zero (or non-finite) direction is an error.
func (d Direction) Unit() (Direction, error) {
	n := d.Norm()
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return Direction{}, fmt.Errorf("direction %q has norm %g: a steering vector must be finite and not zero", d.Name, n)
	}
	out := Direction{Name: d.Name}
	for _, p := range d.Parts {
		v := make([]float32, len(p.Vector))
		for i, x := range p.Vector {
			v[i] = float32(float64(x) / n)
		}
		out.Parts = append(out.Parts, DirectionPart{Point: p.Point, Vector: v})
	}
	return out, nil
}

// Check validates the direction against a model: per-layer points the model has, vectors of
// the point's width, one part per point.
func (d Direction) Check(cat hooks.Catalog) error {
	if len(d.Parts) == 0 {
		return fmt.Errorf("direction %q has no parts", d.Name)
	}
	seen := map[hooks.Point]bool{}
	for _, p := range d.Parts {
		switch {
		case !p.Point.Site.PerLayer():
			return fmt.Errorf("direction %q: %s is not a per-layer hook point", d.Name, p.Point)
		case !cat.Has(p.Point):
			return fmt.Errorf("direction %q: this model has no %s", d.Name, p.Point)
		case len(p.Vector) != cat.Width(p.Point):
			return fmt.Errorf("direction %q: %d values at %s, whose width is %d", d.Name, len(p.Vector), p.Point, cat.Width(p.Point))
		case seen[p.Point]:
			return fmt.Errorf("direction %q: %s appears twice", d.Name, p.Point)
		}
		seen[p.Point] = true
	}
	return nil
}

// NeuronDirection is the unit direction along a neuron set: 1/√k on each of its k neurons.
func NeuronDirection(name string, ns []hooks.Neuron, cat hooks.Catalog) (Direction, error) {
	if err := cat.CheckNeurons(ns); err != nil {
		return Direction{}, err
	}
	points, per := hooks.ByPoint(ns)
	d := Direction{Name: name}
	v := float32(1 / math.Sqrt(float64(len(ns))))
	for _, p := range points {
		vec := make([]float32, cat.Width(p))
		for _, i := range per[p] {
			vec[i] = v
		}
		d.Parts = append(d.Parts, DirectionPart{Point: p, Vector: vec})
	}
	return d, nil
}

// DiffInMeans is the difference-in-means direction at point p: the mean activation over
// every real position of the items with in[i] minus the mean over the other items'
// positions (the DiffMean baseline of the SNMF paper), not normalised.
func DiffInMeans(m *model.Model, prompts [][]int, in []bool, p hooks.Point, batchSize int) (Direction, error) {
	cat := m.Catalog()
	if !cat.Has(p) || !p.Site.PerLayer() {
		return Direction{}, fmt.Errorf("diff-in-means: this model has no per-layer point %s", p)
	}
	if len(in) != len(prompts) {
		return Direction{}, fmt.Errorf("diff-in-means: %d memberships for %d prompts", len(in), len(prompts))
	}
	w := cat.Width(p)
	var sums [2][]float64
	sums[0], sums[1] = make([]float64, w), make([]float64, w)
	var counts [2]int
	err := forEachBatch(prompts, nil, batchSize, func(b *Batch) error {
		_, err := m.Forward(b.Batch, hooks.ObservePoint(p, func(_ hooks.Point, act *tensor.Tensor) error {
			for r := 0; r < b.Size; r++ {
				g := 0
				if in[b.Items[r]] {
					g = 1
				}
				for t := b.first(r); t < b.Len; t++ {
					for j, v := range act.Data[(r*b.Len+t)*w:][:w] {
						sums[g][j] += float64(v)
					}
					counts[g]++
				}
			}
			return nil
		}))
		return err
	})
	if err != nil {
		return Direction{}, err
	}
	if counts[0] == 0 || counts[1] == 0 {
		return Direction{}, fmt.Errorf("diff-in-means needs items in and out of the group (%d in, %d out)", counts[1], counts[0])
	}
	vec := make([]float32, w)
	for j := range vec {
		vec[j] = float32(sums[1][j]/float64(counts[1]) - sums[0][j]/float64(counts[0]))
	}
	return Direction{Name: "diff-in-means at " + p.String(), Parts: []DirectionPart{{Point: p, Vector: vec}}}, nil
}

// Add adds Alpha times a direction to the activations at the selected positions: steering.
type Add struct {
	Dir   Direction
	Alpha float32
	At    Positions
}

// Points implements Intervention.
func (a *Add) Points() []hooks.Point {
	ps := make([]hooks.Point, len(a.Dir.Parts))
	for i, p := range a.Dir.Parts {
		ps[i] = p.Point
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Less(ps[j]) })
	return ps
}

// String implements Intervention.
func (a *Add) String() string {
	var pts []string
	for _, p := range a.Points() {
		pts = append(pts, p.String())
	}
	return fmt.Sprintf("add %g × %s (norm %.3g) at %s %s", a.Alpha, a.Dir.Name, a.Dir.Norm(), strings.Join(pts, ", "), a.At.describe())
}

// Hooks implements Intervention.
func (a *Add) Hooks(b *Batch) ([]hooks.Option, error) {
	var opts []hooks.Option
	for _, part := range a.Dir.Parts {
		vec := part.Vector
		p := part.Point
		opts = append(opts, editAt(p, b, a.At, nil, func(_, _ int, row []float32) {
			if len(row) != len(vec) {
				return // checked by Direction.Check; a mismatch is refused below
			}
			for i, v := range vec {
				row[i] += a.Alpha * v
			}
		}), hooks.ObservePoint(p, func(_ hooks.Point, act *tensor.Tensor) error {
			if w := len(act.Data) / (act.Shape[0] * act.Shape[1]); w != len(vec) {
				return fmt.Errorf("direction of %d values at %s, whose width is %d", len(vec), p, w)
			}
			return nil
		}))
	}
	return opts, nil
}

// Combined applies several interventions in one pass, in order.
type Combined []Intervention

// Points implements Intervention.
func (c Combined) Points() []hooks.Point {
	seen := map[hooks.Point]bool{}
	var out []hooks.Point
	for _, iv := range c {
		for _, p := range iv.Points() {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// String implements Intervention.
func (c Combined) String() string {
	parts := make([]string, len(c))
	for i, iv := range c {
		parts[i] = iv.String()
	}
	return strings.Join(parts, "; then ")
}

// Hooks implements Intervention.
func (c Combined) Hooks(b *Batch) ([]hooks.Option, error) {
	var opts []hooks.Option
	for _, iv := range c {
		o, err := iv.Hooks(b)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o...)
	}
	return opts, nil
}

// DirectionSchema is the schema_version of direction files.
const DirectionSchema = "neuronscope.direction/v1"

// directionFile is the JSON form of a Direction:
//
//	{"schema_version": "neuronscope.direction/v1", "name": "...",
//	 "parts": [{"hook": "blocks.2.mlp.hook_post", "vector": [...]}, ...]}
type directionFile struct {
	SchemaVersion string `json:"schema_version"`
	Name          string `json:"name"`
	Parts         []struct {
		Hook   string    `json:"hook"`
		Vector []float32 `json:"vector"`
	} `json:"parts"`
}

// ReadDirection reads a direction file (a probe's weights, a diff-in-means, a feature). The
// file is checked for its form; Direction.Check checks it against a model. Errors name path.
func ReadDirection(path string) (Direction, error) {
	var f directionFile
	if err := report.ReadJSONFile(path, &f); err != nil {
		return Direction{}, err
	}
	if f.SchemaVersion != DirectionSchema {
		return Direction{}, fmt.Errorf("%s: not a direction file (schema_version %q, want %q)", path, f.SchemaVersion, DirectionSchema)
	}
	d := Direction{Name: f.Name}
	if d.Name == "" {
		d.Name = path
	}
	for i, p := range f.Parts {
		pt, err := hooks.Parse(p.Hook)
		if err != nil {
			return Direction{}, fmt.Errorf("%s: part %d: %v", path, i, err)
		}
		d.Parts = append(d.Parts, DirectionPart{Point: pt, Vector: p.Vector})
	}
	if len(d.Parts) == 0 {
		return Direction{}, fmt.Errorf("%s: the direction has no parts", path)
	}
	return d, nil
}

// WriteFile writes the direction to path atomically (see ReadDirection).
func (d Direction) WriteFile(path string) error { return report.WriteFile(path, d.Write) }

// Write writes the direction file's JSON to w (see ReadDirection).
func (d Direction) Write(w io.Writer) error {
	f := directionFile{SchemaVersion: DirectionSchema, Name: d.Name}
	for _, p := range d.Parts {
		f.Parts = append(f.Parts, struct {
			Hook   string    `json:"hook"`
			Vector []float32 `json:"vector"`
		}{p.Point.String(), p.Vector})
	}
	return report.WriteJSON(w, f)
}
