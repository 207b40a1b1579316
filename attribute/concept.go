package attribute

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
)

// ConceptScoreOptions configures ScoreConcept.
type ConceptScoreOptions struct {
	// Taps are the per-layer sites scored, at every layer; nil means ConceptTaps(m).
	Taps []hooks.Site
	// GroupKey is the item label that names each item's group (a country in CULNIG).
	GroupKey string
	// Control clamps each item's scores at >= 0 (CULNIG's control set).
	Control bool
	// Batch is the number of items per forward/backward pass; 0 means 16 (CULNIG's).
	Batch int
	// PublishedPadding reproduces CULNIG's padding quirk: the scores at a left-padded row's pad
	// positions are 0 before the max over positions, so a row shorter than its batch's longest
	// gets max(its real maximum, 0). Items are then batched in file order, as CULNIG's
	// DataLoader does (no shuffling), since the result depends on the batches. Without it the
	// max runs over real positions only, and the batching (by length) changes nothing.
	PublishedPadding bool

	logit bool // tests: a Logit target, and no confidence weighting
}

// ConceptScores are CULNIG's per-unit scores of one item set, summed per group: for each item
// (a prompt x whose next token should be its answer y),
//
//	s_u(x) = P(y|x) · max_{t ∈ real positions} a_u(t) · ∂P(y|x)/∂a_u(t)    (clamped at >= 0 for control sets)
//
// summed over the items of each group. Sum[i][g] holds tap Taps[i]'s sums for group
// Groups[g], [layers, width] row-major (width = Widths[i]).
type ConceptScores struct {
	Taps   []hooks.Site
	Widths []int
	Layers int
	// GroupKey is the label the groups come from; Groups its values, sorted.
	GroupKey string
	Groups   []string
	// Items is the number of distinct item ids (CULNIG's normaliser N); PerGroup the number
	// of items of each group.
	Items    int
	PerGroup []int
	Control  bool
	// Confidence is Σ P(y|x) over each group's items.
	Confidence []float64
	Sum        [][][]float64
	// Padding says how the max over positions treated padding.
	Padding string
}

// Padding rules of ConceptScores.Padding.
const (
	RealPositions    = "max over real positions only"
	PublishedPadding = "CULNIG: pad positions scored 0 before the max (left padding, batches in file order)"
)

// ConceptTaps are CULNIG's taps where the model has them: mlp.hook_pre (gate_proj output, or
// W_in output of ungated MLPs), mlp.hook_pre_linear (up_proj output, gated MLPs), and the
// attention projections attn.hook_q, attn.hook_k, attn.hook_v.
func ConceptTaps(m *model.Model) []hooks.Site {
	var out []hooks.Site
	for _, name := range []string{"mlp.hook_pre", "mlp.hook_pre_linear", "attn.hook_q", "attn.hook_k", "attn.hook_v"} {
		s, err := hooks.ParseSite(name)
		if err == nil && m.Catalog().Has(hooks.At(0, s)) {
			out = append(out, s)
		}
	}
	return out
}

// IsAttentionSite reports whether s is an attention tap (attn.*): CULNIG ranks attention
// units and MLP units separately.
func IsAttentionSite(s hooks.Site) bool { return strings.HasPrefix(s.String(), "attn.") }

// ScoreConcept scores every unit of the taps at every layer on an item set, CULNIG's
// calc_neuron_score.py: batches of left-padded prompts, one forward and one backward pass per
// batch for all taps at once (the gradient of Σ_batch P(y|x), y each item's single answer
// token at its last position), s = a·∂P/∂a at each position, the max over positions, times
// the item's confidence P(y|x), clamped at >= 0 for a control set, summed per group. Items
// must each have exactly one answer token and the GroupKey label.
func ScoreConcept(m *model.Model, set *corpus.PromptSet, opt ConceptScoreOptions) (*ConceptScores, error) {
	if set == nil || len(set.Items) == 0 {
		return nil, fmt.Errorf("no items")
	}
	taps := opt.Taps
	if taps == nil {
		taps = ConceptTaps(m)
	}
	if len(taps) == 0 {
		return nil, fmt.Errorf("no taps to score")
	}
	cat := m.Catalog()
	L := m.Config.NLayers
	sc := &ConceptScores{Taps: append([]hooks.Site(nil), taps...), Layers: L, GroupKey: opt.GroupKey, Control: opt.Control, Padding: RealPositions}
	if opt.PublishedPadding {
		sc.Padding = PublishedPadding
	}
	seen := map[hooks.Site]bool{}
	var points []hooks.Point
	for _, s := range taps {
		if !s.PerLayer() || !cat.Has(hooks.At(0, s)) || seen[s] {
			return nil, fmt.Errorf("tap %v: not a per-layer point of this model, or given twice", s)
		}
		seen[s] = true
		sc.Widths = append(sc.Widths, cat.Width(hooks.At(0, s)))
		for l := 0; l < L; l++ {
			points = append(points, hooks.At(l, s))
		}
	}
	groups, err := set.Groups(opt.GroupKey)
	if err != nil {
		return nil, err
	}
	sc.Groups = groups
	gi := map[string]int{}
	for i, g := range groups {
		gi[g] = i
	}
	sc.PerGroup = make([]int, len(groups))
	sc.Confidence = make([]float64, len(groups))
	sc.Sum = make([][][]float64, len(taps))
	for i := range taps {
		sc.Sum[i] = make([][]float64, len(groups))
		for g := range groups {
			sc.Sum[i][g] = make([]float64, L*sc.Widths[i])
		}
	}
	ids := map[string]bool{}
	prompts := make([][]int, len(set.Items))
	for i, it := range set.Items {
		if len(it.AnswerIDs) != 1 {
			return nil, fmt.Errorf("%s: item %d (%s): answer %q is %d tokens; CULNIG scores a single answer token", set.Source, i, it.ID, it.Answer, len(it.AnswerIDs))
		}
		if len(it.IDs) == 0 || len(it.IDs) > m.Config.MaxPos {
			return nil, fmt.Errorf("%s: item %d (%s) has %d tokens (need 1..%d)", set.Source, i, it.ID, len(it.IDs), m.Config.MaxPos)
		}
		ids[it.ID] = true
		prompts[i] = it.IDs
		sc.PerGroup[gi[it.Labels[opt.GroupKey]]]++
	}
	sc.Items = len(ids)
	size := opt.Batch
	if size <= 0 {
		size = 16
	}
	var batches [][]int
	if opt.PublishedPadding {
		for lo := 0; lo < len(prompts); lo += size {
			var rows []int
			for i := lo; i < min(lo+size, len(prompts)); i++ {
				rows = append(rows, i)
			}
			batches = append(batches, rows)
		}
	} else {
		batches = corpus.PromptBatches(prompts, size)
	}
	kind := model.ProbMetric
	if opt.logit {
		kind = model.LogitMetric
	}
	for _, rows := range batches {
		seqs := make([][]int, len(rows))
		answers := make([]int, len(rows))
		for k, i := range rows {
			seqs[k], answers[k] = prompts[i], set.Items[i].AnswerIDs[0]
		}
		pooled, conf, err := maxGradXAct(m, seqs, answers, points, kind, opt.PublishedPadding)
		if err != nil {
			return nil, fmt.Errorf("%s: item %d (%s): %w", set.Source, rows[0], set.Items[rows[0]].ID, err)
		}
		for k, i := range rows {
			g := gi[set.Items[i].Labels[opt.GroupKey]]
			c := conf[k]
			if opt.logit {
				c = 1
			} else {
				sc.Confidence[g] += c
			}
			for pi, p := range points {
				t := pi / L
				dst := sc.Sum[t][g][p.Layer*sc.Widths[t]:][:sc.Widths[t]]
				for j, v := range pooled[k][pi] {
					s := c * v
					if opt.Control && s < 0 {
						s = 0
					}
					dst[j] += s
				}
			}
		}
	}
	return sc, nil
}

// maxGradXAct runs one left-padded batch forward and backward (the gradient of the sum over
// rows of each row's metric of its answer at the last position) and returns, per row and
// point, the max over positions of a·∂M/∂a ([row][point][width]), and each row's metric. With
// published, pad positions count as 0 in the max (CULNIG's masked_fill before the max);
// otherwise only real positions count.
func maxGradXAct(m *model.Model, seqs [][]int, answers []int, points []hooks.Point, kind model.MetricKind, published bool) ([][][]float64, []float64, error) {
	b, err := model.NewBatch(seqs, model.PadLeft, 0)
	if err != nil {
		return nil, nil, err
	}
	g, err := m.Gradient(b, model.EachRow(kind, b.Len-1, answers), points)
	if err != nil {
		return nil, nil, err
	}
	out := make([][][]float64, b.Size)
	for r := range out {
		out[r] = make([][]float64, len(points))
	}
	for pi, p := range points {
		a, _ := g.Acts.Get(p)
		grad := g.Grads[p]
		w := len(a.Data) / (b.Size * b.Len)
		for r := 0; r < b.Size; r++ {
			mx := make([]float64, w)
			for j := range mx {
				mx[j] = math.Inf(-1)
			}
			for t := 0; t < b.Len; t++ {
				off := (r*b.Len + t) * w
				if !b.Mask[r*b.Len+t] {
					if published {
						for j := range mx {
							mx[j] = math.Max(mx[j], 0)
						}
					}
					continue
				}
				av, gv := a.Data[off:off+w], grad.Data[off:off+w]
				for j := range mx {
					if s := float64(av[j]) * float64(gv[j]); s > mx[j] {
						mx[j] = s
					}
				}
			}
			out[r][pi] = mx
		}
	}
	return out, g.Rows, nil
}

// ConceptOptions are CULNIG's selection settings (DefaultConceptOptions).
type ConceptOptions struct {
	// MLPRate and AttnRate are the fractions t of the MLP and of the attention candidate units
	// taken as general neurons (1% and 0.2%), each ranked globally across layers.
	MLPRate, AttnRate float64
	// ExcludeRate is the fraction r of each pool's units with the highest exclusion scores
	// that are removed (1%).
	ExcludeRate float64
	// SpecificRate is the fraction of all candidate units (MLP and attention pooled) taken per
	// group before the exclusion and z filters (0.3%).
	SpecificRate float64
	// Z is the least z-score across groups (population std) of a group-specific neuron (0.5).
	Z float64
	// Select are the candidate sites; nil means mlp.hook_pre and the attention taps among the
	// scored ones (CULNIG scores up_proj too but never selects it).
	Select []hooks.Site
	// Exclude is a fixed list of units removed from every group (e.g. another finder's
	// neurons), besides those the exclusion scores remove.
	Exclude []hooks.Neuron
}

// DefaultConceptOptions are CULNIG's published rates.
func DefaultConceptOptions() ConceptOptions {
	return ConceptOptions{MLPRate: 0.01, AttnRate: 0.002, ExcludeRate: 0.01, SpecificRate: 0.003, Z: 0.5}
}

// ConceptGroupCount says how many units each step of a group's selection kept.
type ConceptGroupCount struct {
	Group      string `json:"group"`
	Candidates int    `json:"candidates"` // the top rate of the pool(s)
	Excluded   int    `json:"excluded"`   // removed by the exclusion set
	BelowZ     int    `json:"below_z"`    // removed by the z-score filter (group-specific only)
	Neurons    int    `json:"neurons"`
}

// ConceptSettings record a concept search in its neuron set's "settings".
type ConceptSettings struct {
	Procedure         string              `json:"procedure"`
	GroupKey          string              `json:"group_key"`
	Groups            []string            `json:"groups"`
	Taps              []string            `json:"taps"`
	Select            []string            `json:"select"`
	MLPRate           float64             `json:"mlp_rate"`
	AttnRate          float64             `json:"attn_rate"`
	ExcludeRate       float64             `json:"exclude_rate"`
	SpecificRate      float64             `json:"specific_rate"`
	Z                 float64             `json:"z"`
	Padding           string              `json:"padding"`
	TaskItems         int                 `json:"task_items"`
	ControlItems      int                 `json:"control_items"`
	ExcludeItems      int                 `json:"exclude_items,omitempty"`
	ExcludeNeurons    int                 `json:"exclude_neurons,omitempty"`
	TaskConfidence    []float64           `json:"task_confidence"`
	ControlConfidence []float64           `json:"control_confidence"`
	Counts            []ConceptGroupCount `json:"counts"`
}

// ConceptGeneral is the name of FindConcept's group of culture-general neurons: a claim about
// every group (package ablate verifies it on all items pooled).
const ConceptGeneral = "general"

// ConceptProcedure states what FindConcept does, for reports.
const ConceptProcedure = "CULNIG (Yamamoto et al. 2026): per item P(y|x)·max over positions of a·∂P(y|x)/∂a at the module outputs (control items clamped at ≥ 0), summed per group; general = task/N_task − control/N_control summed over groups, top MLP and attention rates ranked globally across layers, minus each pool's top exclusion units; group-specific = the group's task/N_task − control/N_control, top rate of all units pooled, minus the group's top exclusion units, z-score across groups (population std) ≥ z"

// FindConcept selects CULNIG's general and group-specific neurons from the scores of a task
// set, a control set (same taps, layers and groups) and, when not nil, an exclusion set
// (decide_culture_general_neurons.py and decide_culture_specific_neuron.py):
//
//	general:  s_u = Σ_g task_g,u / N_task − Σ_g control_g,u / N_control, for the MLP and the
//	          attention candidates separately the top ⌊rate·|pool|⌋ units by s (ranked across
//	          layers), minus the top ⌊ExcludeRate·|pool|⌋ of that pool by Σ_g exclude_g,u;
//	group c:  s_c,u = task_c,u / N_task − control_c,u / N_control (the whole sets' N), the
//	          top ⌊SpecificRate·|all candidates|⌋ by s_c, minus the top ⌊ExcludeRate·|all|⌋ by
//	          exclude_c,u, keeping units with z = (s_c,u − mean_g s_g,u)/std_g s_g,u >= Z
//	          (population std over the task's groups; z = 0 when std = 0).
//
// The set has a group "general" (MLP units, then attention units, each by descending s) and
// one group per group value in sorted order (by descending s_c); a group may be empty. Each
// entry's score is its s. Ties rank by layer, site and index (CULNIG: by dict order, the same
// for the MLP pool).
func FindConcept(task, control, exclude *ConceptScores, opt ConceptOptions) (*hooks.NeuronSet, *ConceptSettings, error) {
	if err := sameScores(task, control, "control"); err != nil {
		return nil, nil, err
	}
	if !slices.Equal(task.Groups, control.Groups) { // both sorted
		return nil, nil, fmt.Errorf("the task set's %q groups %v and the control set's %v differ", task.GroupKey, task.Groups, control.Groups)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"mlp rate", opt.MLPRate}, {"attention rate", opt.AttnRate}, {"exclude rate", opt.ExcludeRate}, {"specific rate", opt.SpecificRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			return nil, nil, fmt.Errorf("%s %g is not in [0, 1]", r.name, r.v)
		}
	}
	if math.IsNaN(opt.Z) || math.IsInf(opt.Z, 0) {
		return nil, nil, fmt.Errorf("z threshold %g is not finite", opt.Z)
	}
	sel := opt.Select
	if sel == nil {
		for _, s := range task.Taps {
			if s == hooks.MLPPre || IsAttentionSite(s) {
				sel = append(sel, s)
			}
		}
	}
	tapIndex := map[hooks.Site]int{}
	for i, s := range task.Taps {
		tapIndex[s] = i
	}
	var mlpSel, attnSel []int // indices into task.Taps
	for _, s := range sel {
		i, ok := tapIndex[s]
		if !ok {
			return nil, nil, fmt.Errorf("selected site %v was not scored (scored: %v)", s, siteNames(task.Taps))
		}
		if IsAttentionSite(s) {
			attnSel = append(attnSel, i)
		} else {
			mlpSel = append(mlpSel, i)
		}
	}
	if len(mlpSel)+len(attnSel) == 0 {
		return nil, nil, fmt.Errorf("no candidate sites")
	}
	exIdx := map[hooks.Site]int{}
	if exclude != nil {
		if exclude.Layers != task.Layers || exclude.GroupKey != task.GroupKey {
			return nil, nil, fmt.Errorf("the exclusion scores have %d layers and groups %q; the task's %d and %q", exclude.Layers, exclude.GroupKey, task.Layers, task.GroupKey)
		}
		for i, s := range exclude.Taps {
			exIdx[s] = i
		}
		for _, t := range append(append([]int(nil), mlpSel...), attnSel...) {
			i, ok := exIdx[task.Taps[t]]
			if !ok || exclude.Widths[i] != task.Widths[t] {
				return nil, nil, fmt.Errorf("the exclusion scores lack tap %v (or its width differs)", task.Taps[t])
			}
		}
		for _, g := range task.Groups {
			if !slices.Contains(exclude.Groups, g) {
				return nil, nil, fmt.Errorf("the exclusion set has no %s %q item (it has %v): every task group needs its exclusion units", task.GroupKey, g, exclude.Groups)
			}
		}
	}
	fixed := map[hooks.Neuron]bool{}
	for _, n := range opt.Exclude {
		fixed[n] = true
	}

	// unit scores of the taps ts: f(tap index, group index, flat layer·width index).
	scored := func(ts []int, f func(t, j int) float64) []hooks.ScoredNeuron {
		var out []hooks.ScoredNeuron
		for _, t := range ts {
			w := task.Widths[t]
			for j := 0; j < task.Layers*w; j++ {
				out = append(out, hooks.ScoredNeuron{Neuron: hooks.NeuronAt(j/w, task.Taps[t], j%w), Score: f(t, j)})
			}
		}
		return out
	}
	nt, nc := float64(task.Items), float64(control.Items)
	exSum := func(g int) func(t, j int) float64 { // g < 0: all groups
		return func(t, j int) float64 {
			e := exIdx[task.Taps[t]]
			var s float64
			for gg := range exclude.Groups {
				if g < 0 || gg == g {
					s += exclude.Sum[e][gg][j]
				}
			}
			return s
		}
	}
	topSet := func(ns []hooks.ScoredNeuron, rate float64) map[hooks.Neuron]bool {
		out := map[hooks.Neuron]bool{}
		for _, n := range hooks.Top(ns, int(float64(len(ns))*rate)) {
			out[n.Neuron] = true
		}
		return out
	}
	filter := func(cands []hooks.ScoredNeuron, excl map[hooks.Neuron]bool, c *ConceptGroupCount) []hooks.ScoredNeuron {
		out := []hooks.ScoredNeuron{}
		for _, n := range cands {
			if excl[n.Neuron] || fixed[n.Neuron] {
				c.Excluded++
				continue
			}
			out = append(out, n)
		}
		return out
	}

	set := &hooks.NeuronSet{Method: "culnig", Tap: hooks.MLPPre}
	st := &ConceptSettings{Procedure: ConceptProcedure, GroupKey: task.GroupKey, Groups: task.Groups, MLPRate: opt.MLPRate, AttnRate: opt.AttnRate,
		ExcludeRate: opt.ExcludeRate, SpecificRate: opt.SpecificRate, Z: opt.Z, Padding: task.Padding, TaskItems: task.Items, ControlItems: control.Items,
		ExcludeNeurons: len(opt.Exclude), TaskConfidence: task.Confidence, ControlConfidence: control.Confidence, Taps: siteNames(task.Taps), Select: siteNames(sel)}
	if exclude != nil {
		st.ExcludeItems = exclude.Items
	}
	general := func(t, j int) float64 {
		var a, b float64
		for g := range task.Groups {
			a += task.Sum[t][g][j]
			b += control.Sum[t][g][j]
		}
		return a/nt - b/nc
	}
	gc := ConceptGroupCount{Group: ConceptGeneral}
	var gen []hooks.ScoredNeuron
	for _, pool := range []struct {
		taps []int
		rate float64
	}{{mlpSel, opt.MLPRate}, {attnSel, opt.AttnRate}} {
		if len(pool.taps) == 0 {
			continue
		}
		all := scored(pool.taps, general)
		cands := hooks.Top(all, int(float64(len(all))*pool.rate))
		gc.Candidates += len(cands)
		var excl map[hooks.Neuron]bool
		if exclude != nil {
			excl = topSet(scored(pool.taps, exSum(-1)), opt.ExcludeRate)
		}
		gen = append(gen, filter(cands, excl, &gc)...)
	}
	gc.Neurons = len(gen)
	set.Groups = append(set.Groups, hooks.NeuronGroup{Name: ConceptGeneral, Neurons: gen})
	st.Counts = append(st.Counts, gc)

	pool := append(append([]int(nil), mlpSel...), attnSel...)
	perGroup := func(g int) func(t, j int) float64 {
		return func(t, j int) float64 { return task.Sum[t][g][j]/nt - control.Sum[t][g][j]/nc }
	}
	for g, name := range task.Groups {
		c := ConceptGroupCount{Group: name}
		all := scored(pool, perGroup(g))
		cands := hooks.Top(all, int(float64(len(all))*opt.SpecificRate))
		c.Candidates = len(cands)
		var excl map[hooks.Neuron]bool
		if exclude != nil {
			excl = topSet(scored(pool, exSum(slices.Index(exclude.Groups, name))), opt.ExcludeRate)
		}
		var kept []hooks.ScoredNeuron
		for _, n := range filter(cands, excl, &c) {
			t := tapIndex[n.Site]
			j := n.Layer*task.Widths[t] + n.Index
			if conceptZ(task, control, t, j, g) < opt.Z {
				c.BelowZ++
				continue
			}
			kept = append(kept, n)
		}
		if kept == nil {
			kept = []hooks.ScoredNeuron{}
		}
		c.Neurons = len(kept)
		set.Groups = append(set.Groups, hooks.NeuronGroup{Name: name, Neurons: kept})
		st.Counts = append(st.Counts, c)
	}
	set.Settings = st
	return set, st, nil
}

// conceptZ is the z-score of group g's score of unit j of tap t across the task's groups
// (population std; 0 when the std is 0), as decide_culture_specific_neuron.py computes it.
func conceptZ(task, control *ConceptScores, t, j, g int) float64 {
	nt, nc := float64(task.Items), float64(control.Items)
	vals := make([]float64, len(task.Groups))
	var mean float64
	for gg := range vals {
		vals[gg] = task.Sum[t][gg][j]/nt - control.Sum[t][gg][j]/nc
		mean += vals[gg]
	}
	mean /= float64(len(vals))
	var ss float64
	for _, v := range vals {
		ss += (v - mean) * (v - mean)
	}
	std := math.Sqrt(ss / float64(len(vals)))
	if std == 0 {
		return 0
	}
	return (vals[g] - mean) / std
}

// sameScores checks that two score sets have the same taps, widths and layers.
func sameScores(a, b *ConceptScores, name string) error {
	if a == nil || b == nil {
		return fmt.Errorf("missing task or %s scores", name)
	}
	if a.Layers != b.Layers || len(a.Taps) != len(b.Taps) {
		return fmt.Errorf("the %s scores have %d layers and taps %v; the task's %d and %v", name, b.Layers, siteNames(b.Taps), a.Layers, siteNames(a.Taps))
	}
	for i := range a.Taps {
		if a.Taps[i] != b.Taps[i] || a.Widths[i] != b.Widths[i] {
			return fmt.Errorf("the %s scores have taps %v; the task's %v", name, siteNames(b.Taps), siteNames(a.Taps))
		}
	}
	if a.GroupKey != b.GroupKey {
		return fmt.Errorf("the %s scores are grouped by %q, the task's by %q", name, b.GroupKey, a.GroupKey)
	}
	return nil
}

func siteNames(ss []hooks.Site) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.String()
	}
	return out
}
