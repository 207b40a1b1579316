package attribute

import (
	"encoding/json"
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/safetensors"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// NeuronDefinition is the tap-point statement of attribution reports.
const NeuronDefinition = "a neuron is one index of the named hook point; for blocks.L.mlp.hook_post it is the input " +
	"of the MLP output projection (act(W_in x), or act(gate x)·up x for gated MLPs), HF index order"

// The attribution methods of Attribute.
const (
	MethodGradient = "gradient"   // ∂M/∂a
	MethodGradXAct = "grad-x-act" // a·∂M/∂a (GradXAct)
	MethodIG       = "ig"         // integrated gradients (IntegratedGradients)
)

// AttributionOptions configure Attribute.
type AttributionOptions struct {
	// Method is MethodGradient, MethodGradXAct or MethodIG.
	Method string
	// IG is the integrated-gradients setting (Method ig); its Scope is All for AllPositions.
	IG IGOptions
	// AllPositions scores every position (IG scales the whole layer) instead of the metric's
	// position only; the ranked units are then summed over positions.
	AllPositions bool
	// Top is the number of units listed at each end of the report (0: 20).
	Top int
	// Progress, if set, is called after each hook point.
	Progress func(done, total int)
	// BaselineImage, for AttributeImage with integrated gradients, replaces the zero baseline:
	// each hook point's baseline b is its activation on this image, [1, channels, size, size]
	// pixel values (e.g. a black image, or all-zero pixel values, which are the processor's
	// mean image): the CLS row of it for target scope, every row for all positions. nil means
	// the zero baseline (Dai et al., NeuronPath).
	BaselineImage *tensor.Tensor
	// BaselineName describes BaselineImage in the report (e.g. "black image").
	BaselineName string
}

// ReportSchema is the schema_version of attribution reports. Version 2 gives integrated
// gradients' f_baseline per hook point (version 1 had one value, the last point's).
const ReportSchema = 2

// Report is the JSON report of an attribution run (`neuronscope attribute`).
type Report struct {
	SchemaVersion int               `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	Method        string            `json:"method"`
	Metric        string            `json:"metric"`
	MetricValue   float64           `json:"metric_value"`
	Prompt        []int             `json:"prompt_ids"`
	// Image is the image file attributed (AttributeImage; its caller names it), with Prompt
	// empty; TargetPos is then the CLS position and TargetToken the class.
	Image        string `json:"image,omitempty"`
	TargetPos    int    `json:"target_pos"`
	TargetToken  int    `json:"target_token"`
	TargetString string `json:"target_string,omitempty"`
	Positions    string `json:"positions"`
	Steps        int    `json:"steps,omitempty"`
	Riemann      string `json:"riemann,omitempty"`
	// Baseline is integrated gradients' baseline: "zero", or the image whose activations are
	// the baseline (AttributionOptions.BaselineName).
	Baseline string `json:"baseline,omitempty"`
	// FFull is the metric f(a) (integrated gradients). Each hook point has its own baseline
	// (its activation at zero, the others clean), so FBaseline, IGSum and CompletenessGap are
	// per hook: f(b) of the point, Σ of its attributions, and |Σ − (FFull − f(b))|.
	FFull           float64            `json:"f_full,omitempty"`
	FBaseline       map[string]float64 `json:"f_baseline,omitempty"`
	IGSum           map[string]float64 `json:"ig_sum,omitempty"`
	CompletenessGap map[string]float64 `json:"completeness_gap,omitempty"`
	Score           string             `json:"score_definition"`
	Neuron          string             `json:"neuron_definition"`
	Top             []Unit             `json:"top"`
	Bottom          []Unit             `json:"bottom"`
}

// Unit is one ranked unit of a Report: a neuron of a hook point with its score and activation
// (at Position, or summed over positions when Position is absent).
type Unit struct {
	hooks.Neuron
	Hook       string  `json:"hook"`
	Position   *int    `json:"position,omitempty"`
	Score      float64 `json:"score"`
	Activation float64 `json:"activation"`
}

// Arrays are an attribution's full per-point arrays, [pos, width] each.
type Arrays struct {
	Points []hooks.Point
	Scores map[hooks.Point]*tensor.Tensor
	Acts   map[hooks.Point]*tensor.Tensor
}

// Attribute attributes metric on one prompt to every unit of the points with the chosen method,
// and returns the report (top and bottom units, the metric, the settings; provenance is the
// model's) and the full arrays. The metric's position is the target position.
func Attribute(m *model.Model, prompt []int, metric model.Metric, points []hooks.Point, opt AttributionOptions) (*Report, *Arrays, error) {
	b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		return nil, nil, err
	}
	rep := newReport(m, metric, opt)
	rep.Prompt = prompt
	return attribute(rep, attrInput{
		tokens:   len(prompt),
		gradient: func() (*model.GradResult, error) { return m.Gradient(b, metric, points) },
		integrate: func(p hooks.Point, ig IGOptions) (*IGResult, error) {
			return IntegratedGradients(m, prompt, p, metric, ig)
		},
	}, points, opt)
}

// AttributeImage is Attribute for one image of an image classifier (ViT): pixels
// [1, channels, size, size], metric a function of the class logits at the CLS position
// (model.Prob(0, 0, class) etc.; see IntegratedGradientsImage). The target position is CLS;
// the gradient methods score every token (the report ranks the CLS row, or the sum over
// tokens with AllPositions), and integrated gradients scale the CLS row (AllPositions: every
// token). The report's Prompt is empty; name the image in its Image field.
func AttributeImage(m *model.Model, pixels *tensor.Tensor, metric model.Metric, points []hooks.Point, opt AttributionOptions) (*Report, *Arrays, error) {
	if err := checkImageMetric(m, pixels, metric); err != nil {
		return nil, nil, err
	}
	metric.Row = 0
	var base *model.Result
	if opt.BaselineImage != nil && opt.Method == MethodIG {
		if s := opt.BaselineImage.Shape; len(s) != 4 || s[0] != 1 || s[1] != pixels.Shape[1] || s[2] != pixels.Shape[2] || s[3] != pixels.Shape[3] {
			return nil, nil, fmt.Errorf("baseline image of shape %v: want the image's %v", s, pixels.Shape)
		}
		var err error
		if base, err = m.ForwardImages(opt.BaselineImage, hooks.CapturePoints(points...)); err != nil {
			return nil, nil, err
		}
	}
	rep := newReport(m, metric, opt)
	if base != nil {
		rep.Baseline = opt.BaselineName
		if rep.Baseline == "" {
			rep.Baseline = "baseline image"
		}
	}
	return attribute(rep, attrInput{
		tokens:   m.Config.MaxPos,
		gradient: func() (*model.GradResult, error) { return m.GradientImages(pixels, metric, points) },
		integrate: func(p hooks.Point, ig IGOptions) (*IGResult, error) {
			if base != nil {
				a, _ := base.Cache.Get(p) // [1, tokens, inner...]
				ig.Baseline = a.Data
				if ig.Scope == Target {
					w := len(a.Data) / m.Config.MaxPos
					ig.Baseline = a.Data[CLS*w : (CLS+1)*w]
				}
			}
			return IntegratedGradientsImage(m, pixels, p, metric, ig)
		},
	}, points, opt)
}

// attrInput runs the passes of one attribution: the gradient at every point, and integrated
// gradients at one point.
type attrInput struct {
	tokens    int // positions of the input
	gradient  func() (*model.GradResult, error)
	integrate func(p hooks.Point, ig IGOptions) (*IGResult, error)
}

// newReport is the report of an attribution before it runs.
func newReport(m *model.Model, metric model.Metric, opt AttributionOptions) *Report {
	rep := &Report{SchemaVersion: ReportSchema, Provenance: m.Provenance(), Method: opt.Method, Metric: metric.String(),
		TargetPos: metric.Pos, TargetToken: metric.Tokens[0], Positions: "target", Neuron: NeuronDefinition}
	if opt.AllPositions {
		rep.Positions = "all"
	}
	return rep
}

// attribute fills rep and the arrays with the chosen method.
func attribute(rep *Report, in attrInput, points []hooks.Point, opt AttributionOptions) (*Report, *Arrays, error) {
	pos := rep.TargetPos
	if opt.Top <= 0 {
		opt.Top = 20
	}
	arr := &Arrays{Points: points, Scores: map[hooks.Point]*tensor.Tensor{}, Acts: map[hooks.Point]*tensor.Tensor{}}
	switch opt.Method {
	case MethodGradient, MethodGradXAct:
		rep.Score = "d metric / d activation"
		g, err := in.gradient()
		if err != nil {
			return nil, nil, err
		}
		rep.MetricValue = g.Value
		if opt.Method == MethodGradXAct {
			rep.Score = "activation × d metric / d activation (zero-ablation attribution patching)"
		}
		for _, p := range points {
			a, _ := g.Acts.Get(p)
			arr.Acts[p] = dropBatch(a)
			if opt.Method == MethodGradXAct {
				arr.Scores[p] = dropBatch(product(a, nil, g.Grads[p]))
			} else {
				arr.Scores[p] = dropBatch(g.Grads[p])
			}
		}
	case MethodIG:
		ig := opt.IG
		if opt.AllPositions {
			ig.Scope = All
		}
		if ig.Steps == 0 {
			ig.Steps = 20
		}
		rep.Steps, rep.Riemann = ig.Steps, ig.Rule.String()
		rep.FBaseline, rep.IGSum, rep.CompletenessGap = map[string]float64{}, map[string]float64{}, map[string]float64{}
		rep.Score = "integrated gradients, zero baseline: (a − 0)·Σ_k w_k ∂f/∂a(α_k a)"
		if rep.Baseline == "" {
			rep.Baseline = "zero"
		} else {
			rep.Score = "integrated gradients, baseline b = the activation on the " + rep.Baseline + ": (a − b)·Σ_k w_k ∂f/∂a(b + α_k(a − b))"
		}
		T := in.tokens
		for i, p := range points {
			r, err := in.integrate(p, ig)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", p, err)
			}
			k := p.String()
			rep.FBaseline[k], rep.IGSum[k], rep.CompletenessGap[k] = r.FBaseline, r.Sum, r.Gap
			rep.FFull, rep.MetricValue = r.FFull, r.FFull
			if ig.Scope == All {
				arr.Scores[p], arr.Acts[p] = r.Attributions, r.Act
			} else { // place the target row in a [pos, dim] array
				w := len(r.Attributions.Data)
				arr.Scores[p], arr.Acts[p] = tensor.New(T, w), tensor.New(T, w)
				copy(arr.Scores[p].Data[r.Pos*w:], r.Attributions.Data)
				copy(arr.Acts[p].Data[r.Pos*w:], r.Act.Data)
			}
			if opt.Progress != nil {
				opt.Progress(i+1, len(points))
			}
		}
	default:
		return nil, nil, fmt.Errorf("attribution method %q: want %s, %s or %s", opt.Method, MethodGradient, MethodGradXAct, MethodIG)
	}
	rep.Top, rep.Bottom = RankUnits(arr, pos, opt.AllPositions, opt.Top)
	return rep, arr, nil
}

// dropBatch views a [1, pos, ...] tensor as [pos, prod(...)].
func dropBatch(t *tensor.Tensor) *tensor.Tensor {
	return tensor.From(t.Data, t.Shape[1], len(t.Data)/t.Shape[1])
}

// RankUnits lists the top and bottom k units by score (hooks.Top and hooks.Bottom): at
// position pos, or summed over positions when sum is set (activations are then pos's).
func RankUnits(arr *Arrays, pos int, sum bool, k int) (top, bottom []Unit) {
	var all []hooks.ScoredNeuron
	act := map[hooks.Neuron]float64{}
	for _, p := range arr.Points {
		s, a := arr.Scores[p], arr.Acts[p]
		w := s.Shape[1]
		scores := make([]float64, w)
		for i := range scores {
			if sum {
				for t := 0; t < s.Shape[0]; t++ {
					scores[i] += float64(s.Data[t*w+i])
				}
			} else {
				scores[i] = float64(s.Data[pos*w+i])
			}
			act[hooks.Neuron{Point: p, Index: i}] = float64(a.Data[pos*w+i])
		}
		all = append(all, hooks.Scored(p, scores)...)
	}
	unit := func(n hooks.ScoredNeuron) Unit {
		u := Unit{Neuron: n.Neuron, Hook: n.Point.String(), Score: n.Score, Activation: act[n.Neuron]}
		if !sum {
			pp := pos
			u.Position = &pp
		}
		return u
	}
	for _, n := range hooks.Top(all, k) {
		top = append(top, unit(n))
	}
	for _, n := range hooks.Bottom(all, k) {
		bottom = append(bottom, unit(n))
	}
	return top, bottom
}

// ReadReport reads an attribution report back; each unit's tap comes from its hook name. A
// schema-1 report's single f_baseline is read as the last fired hook's, whose it was.
func ReadReport(path string) (*Report, error) {
	var r Report
	var v1 struct {
		SchemaVersion int     `json:"schema_version"`
		FBaseline     float64 `json:"f_baseline"`
	}
	if err := report.ReadJSONFile(path, &v1); err == nil && v1.SchemaVersion == 1 {
		var old struct {
			Report
			FBaseline float64 `json:"f_baseline"`
		}
		if err := report.ReadJSONFile(path, &old); err != nil {
			return nil, err
		}
		r = old.Report
		if fired := r.Provenance.HooksFired; r.Method == MethodIG && len(fired) > 0 {
			r.FBaseline = map[string]float64{fired[len(fired)-1]: old.FBaseline}
		}
	} else if err := report.ReadJSONFile(path, &r); err != nil {
		return nil, err
	}
	if r.Method == "" || r.Neuron == "" {
		return nil, fmt.Errorf("%s: not an attribution report", path)
	}
	for _, us := range [][]Unit{r.Top, r.Bottom} {
		for i := range us {
			p, err := hooks.Parse(us[i].Hook)
			if err != nil {
				return nil, fmt.Errorf("%s: unit %d: %v", path, i, err)
			}
			us[i].Point = p
		}
	}
	return &r, nil
}

// WriteArrays writes the full per-point scores as a safetensors file (one F32 tensor per point,
// named by its hook, [pos, width]) with the report, minus its unit lists, as metadata.
func WriteArrays(path string, rep *Report, arr *Arrays) error {
	var ts []safetensors.WriteTensor
	for _, p := range arr.Points {
		ts = append(ts, safetensors.F32(p.String(), arr.Scores[p].Shape, arr.Scores[p].Data))
	}
	head := *rep
	head.Top, head.Bottom = nil, nil
	meta, _ := json.Marshal(head)
	return safetensors.WriteFile(path, ts, map[string]string{"neuronscope": string(meta)})
}
