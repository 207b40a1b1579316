package ablate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Batch is one forward pass of an experiment: rows of items, left-padded, so row r's real
// tokens are batch positions Len−Lens[r] .. Len−1.
type Batch struct {
	model.Batch
	// Items is the item index of each row (into the experiment's prompts or texts).
	Items []int
	// Lens is each row's real length in this pass.
	Lens []int
	// PromptLens is each row's prompt length: positions are counted in the prompt (a pass
	// over a prompt and its answer tokens has Lens > PromptLens).
	PromptLens []int
	// Texts marks a pass over an Eval's texts (Items index its texts, not its questions).
	Texts bool
	// Past is the number of positions already in the KV cache (0 for the prompt pass; the
	// prompt length plus k−1 for the k-th generated token, whose pass has Len 1).
	Past int
}

// first is the batch position of row r's first real token in a prompt pass.
func (b *Batch) first(r int) int { return b.Len - b.Lens[r] }

// Positions says at which positions of each item an intervention acts. The zero value is
// every position.
//
//   - all: every real position of the item, prompt and any answer or generated tokens;
//   - last: the last position of the prompt (where the next-token prediction is read);
//   - a list: prompt positions counted from the prompt's first token (0, the BOS when there
//     is one), negative ones from its end (−1 is the last); positions outside the prompt are
//     skipped for that item.
//
// In the passes that generate tokens after the prompt only "all" acts on the new tokens.
type Positions struct {
	Last bool
	List []int
}

// AllPositions and LastPosition are the common choices.
var (
	AllPositions = Positions{}
	LastPosition = Positions{Last: true}
)

// ParsePositions reads "all", "last", or a comma-separated list of prompt positions such as
// "0,2,-1".
func ParsePositions(s string) (Positions, error) {
	switch s = strings.TrimSpace(s); s {
	case "all", "":
		return AllPositions, nil
	case "last":
		return LastPosition, nil
	}
	var p Positions
	for _, f := range strings.Split(s, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return p, fmt.Errorf("positions %q: want all, last, or a list of prompt positions such as 0,2,-1", s)
		}
		p.List = append(p.List, i)
	}
	return p, nil
}

// String is "all", "last" or the list.
func (p Positions) String() string {
	switch {
	case p.Last:
		return "last"
	case len(p.List) == 0:
		return "all"
	}
	parts := make([]string, len(p.List))
	for i, x := range p.List {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

// describe is the positions in words for reports.
func (p Positions) describe() string {
	switch {
	case p.Last:
		return "at the last prompt position"
	case len(p.List) == 0:
		return "at every position"
	}
	return "at prompt positions " + p.String()
}

// rows calls fn with each row of b and the batch positions of that row to act on.
func (p Positions) rows(b *Batch, fn func(r int, pos []int)) {
	var buf []int
	for r := 0; r < b.Size; r++ {
		buf = buf[:0]
		if b.Past > 0 { // a generated token: only "all" acts
			if !p.Last && len(p.List) == 0 {
				buf = append(buf, 0)
			}
		} else {
			first := b.first(r)
			switch {
			case p.Last:
				buf = append(buf, first+b.PromptLens[r]-1)
			case len(p.List) == 0:
				for t := first; t < b.Len; t++ {
					buf = append(buf, t)
				}
			default:
				pl := b.PromptLens[r]
				for _, x := range p.List {
					if x < 0 {
						x += pl
					}
					if x >= 0 && x < pl {
						buf = append(buf, first+x)
					}
				}
			}
		}
		if len(buf) > 0 {
			fn(r, buf)
		}
	}
}

// An Intervention changes activations during a forward pass: it turns into the hook edits of
// each batch. Every experiment takes interventions, so a finder's neurons, a probe's
// direction or (later) an SNMF or SAE feature are all verified the same way.
type Intervention interface {
	// Points lists the hook points it edits, sorted.
	Points() []hooks.Point
	// Hooks returns the edits for one forward pass.
	Hooks(b *Batch) ([]hooks.Option, error)
	// String says what it does, for reports.
	String() string
}

// FirstLayer is the lowest layer an intervention edits (everything below it is unchanged).
func FirstLayer(iv Intervention) int {
	ps := iv.Points()
	if len(ps) == 0 {
		return -1
	}
	l := ps[0].Layer
	for _, p := range ps {
		l = min(l, p.Layer)
	}
	return l
}

// Overwrite sets each neuron to a value at the selected positions: zero, mean, clamp and
// force ablations are Overwrites with different values.
type Overwrite struct {
	Neurons []hooks.Neuron
	Values  []float32 // Values[i] is the value of Neurons[i]
	At      Positions
	// What names the values for reports ("zero", "mean over ...", "clamp to 3", ...).
	What string
}

// ZeroAt sets the neurons to 0.
func ZeroAt(ns []hooks.Neuron, at Positions) *Overwrite {
	return &Overwrite{Neurons: ns, Values: make([]float32, len(ns)), At: at, What: "zero"}
}

// ClampAt sets the neurons to v.
func ClampAt(ns []hooks.Neuron, v float32, at Positions) *Overwrite {
	vals := make([]float32, len(ns))
	for i := range vals {
		vals[i] = v
	}
	return &Overwrite{Neurons: ns, Values: vals, At: at, What: fmt.Sprintf("clamp to %g", v)}
}

// MeanAt sets the neurons to their means (ComputeMeans). A neuron without a mean is an error.
func MeanAt(ns []hooks.Neuron, means *Means, at Positions) (*Overwrite, error) {
	vals := make([]float32, len(ns))
	for i, n := range ns {
		mu := means.Points[n.Point]
		if n.Index < 0 || n.Index >= len(mu) {
			return nil, fmt.Errorf("mean ablation: no mean for neuron %s", n)
		}
		vals[i] = mu[n.Index]
	}
	return &Overwrite{Neurons: ns, Values: vals, At: at,
		What: fmt.Sprintf("mean (over the %d real positions of %d prompts, unedited model)", means.Positions, means.Prompts)}, nil
}

// Points implements Intervention.
func (o *Overwrite) Points() []hooks.Point { p, _ := hooks.ByPoint(o.Neurons); return p }

// String implements Intervention.
func (o *Overwrite) String() string {
	return fmt.Sprintf("%s %s %s", o.What, describeNeurons(o.Neurons), o.At.describe())
}

// Hooks implements Intervention.
func (o *Overwrite) Hooks(b *Batch) ([]hooks.Option, error) {
	if len(o.Values) != len(o.Neurons) {
		return nil, fmt.Errorf("overwrite: %d values for %d neurons", len(o.Values), len(o.Neurons))
	}
	return perPoint(o.Neurons, func(p hooks.Point, idx []int, units []int) []hooks.Option {
		vals := make([]float32, len(idx))
		for k, j := range idx {
			vals[k] = o.Values[j]
		}
		return []hooks.Option{editAt(p, b, o.At, units, func(_, _ int, row []float32) {
			for k, i := range units {
				row[i] = vals[k]
			}
		})}
	}), nil
}

// Scale multiplies each neuron by Factor at the selected positions (×2 enhances, ×0 is zero
// ablation).
type Scale struct {
	Neurons []hooks.Neuron
	Factor  float32
	At      Positions
}

// Points implements Intervention.
func (s *Scale) Points() []hooks.Point { p, _ := hooks.ByPoint(s.Neurons); return p }

// String implements Intervention.
func (s *Scale) String() string {
	return fmt.Sprintf("scale ×%g %s %s", s.Factor, describeNeurons(s.Neurons), s.At.describe())
}

// Hooks implements Intervention.
func (s *Scale) Hooks(b *Batch) ([]hooks.Option, error) {
	return perPoint(s.Neurons, func(p hooks.Point, _ []int, units []int) []hooks.Option {
		return []hooks.Option{editAt(p, b, s.At, units, func(_, _ int, row []float32) {
			for _, i := range units {
				row[i] *= s.Factor
			}
		})}
	}), nil
}

// perPoint groups neurons by point and calls mk with each point, the indices into ns of the
// point's neurons (in ns order) and their unit indices.
func perPoint(ns []hooks.Neuron, mk func(p hooks.Point, idx []int, units []int) []hooks.Option) []hooks.Option {
	byPoint := map[hooks.Point][]int{}
	var points []hooks.Point
	for j, n := range ns {
		if _, ok := byPoint[n.Point]; !ok {
			points = append(points, n.Point)
		}
		byPoint[n.Point] = append(byPoint[n.Point], j)
	}
	var opts []hooks.Option
	for _, p := range points {
		idx := byPoint[p]
		units := make([]int, len(idx))
		for k, j := range idx {
			units[k] = ns[j].Index
		}
		opts = append(opts, mk(p, idx, units)...)
	}
	return opts
}

// editAt is an edit at point p that calls fn with the row, the batch position and the
// [width] activation of every selected position of every row of b. The units the edit touches
// are checked against the width first.
func editAt(p hooks.Point, b *Batch, at Positions, units []int, fn func(r, t int, act []float32)) hooks.Option {
	return hooks.EditPoint(p, func(_ hooks.Point, act *tensor.Tensor) error {
		if act.Shape[0] != b.Size || act.Shape[1] != b.Len {
			return fmt.Errorf("activation of shape %v in a %d×%d batch", act.Shape, b.Size, b.Len)
		}
		w := len(act.Data) / (b.Size * b.Len)
		for _, i := range units {
			if i < 0 || i >= w {
				return fmt.Errorf("unit %d is outside the width %d of %s", i, w, p)
			}
		}
		at.rows(b, func(r int, pos []int) {
			for _, t := range pos {
				fn(r, t, act.Data[(r*b.Len+t)*w:][:w])
			}
		})
		return nil
	})
}

// describeNeurons is e.g. "32 neurons (L0:28 L3:4) of mlp.hook_post", or for a set mixing
// taps "22 neurons (mlp.hook_pre L0:1 L1:13; attn.hook_q L0:1 L2:1)".
func describeNeurons(ns []hooks.Neuron) string {
	unit := "neurons"
	if len(ns) == 1 {
		unit = "neuron"
	}
	counts, site := perPointCounts(ns)
	if site != "" {
		return fmt.Sprintf("%d %s (%s) of %s", len(ns), unit, counts, site)
	}
	return fmt.Sprintf("%d %s (%s)", len(ns), unit, counts)
}

// perPointCounts is the neurons' count per layer, "L0:28 L3:4", with their one site; for
// several sites the counts of each site, "mlp.hook_pre L0:1 L1:13; attn.hook_q L0:1", and
// site "".
func perPointCounts(ns []hooks.Neuron) (counts, site string) {
	points, per := hooks.ByPoint(ns)
	var sites []hooks.Site
	bySite := map[hooks.Site][]string{}
	for _, p := range points {
		if bySite[p.Site] == nil {
			sites = append(sites, p.Site)
		}
		bySite[p.Site] = append(bySite[p.Site], fmt.Sprintf("L%d:%d", p.Layer, len(per[p])))
	}
	switch len(sites) {
	case 0:
		return "", ""
	case 1:
		return strings.Join(bySite[sites[0]], " "), sites[0].String()
	}
	parts := make([]string, len(sites))
	for i, s := range sites {
		parts[i] = s.String() + " " + strings.Join(bySite[s], " ")
	}
	return strings.Join(parts, "; "), ""
}
