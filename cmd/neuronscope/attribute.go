package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/safetensors"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newAttributeCmd) }

// attrFlags are the flags of `neuronscope attribute`.
type attrFlags struct {
	targetPos   int
	targetToken int
	target      string
	method      string
	metric      string
	steps       int
	riemann     string
	positions   string
	hooks       []string
	top         int
	out         string
}

type attrUnit struct {
	Layer      int     `json:"layer"`
	Index      int     `json:"index"`
	Hook       string  `json:"hook"`
	Position   *int    `json:"position,omitempty"`
	Score      float64 `json:"score"`
	Activation float64 `json:"activation"`
}

type attrReport struct {
	SchemaVersion   int                `json:"schema_version"`
	Provenance      report.Provenance  `json:"provenance"`
	Method          string             `json:"method"`
	Metric          string             `json:"metric"`
	MetricValue     float64            `json:"metric_value"`
	Prompt          []int              `json:"prompt_ids"`
	TargetPos       int                `json:"target_pos"`
	TargetToken     int                `json:"target_token"`
	TargetString    string             `json:"target_string,omitempty"`
	Positions       string             `json:"positions"`
	Steps           int                `json:"steps,omitempty"`
	Riemann         string             `json:"riemann,omitempty"`
	CompletenessGap map[string]float64 `json:"completeness_gap,omitempty"`
	FFull           float64            `json:"f_full,omitempty"`
	FBaseline       float64            `json:"f_baseline,omitempty"`
	Score           string             `json:"score_definition"`
	Neuron          string             `json:"neuron_definition"`
	Top             []attrUnit         `json:"top"`
	Bottom          []attrUnit         `json:"bottom"`
}

func newAttributeCmd() *cobra.Command {
	var mf modelFlags
	var in inputFlags
	var f attrFlags
	cmd := &cobra.Command{
		Use: "attribute --model DIR (--ids ... | --text ...) --target-pos N (--target-token ID | --target STR) " +
			"--method gradient|grad-x-act|ig [--steps 20] [--riemann left|both|trapezoid] [--positions target|all] " +
			"[--hooks GLOB] [--top K] --out FILE(.json|.safetensors)",
		Short: "Attribute a target token's metric to neurons: gradient, gradient×activation, integrated gradients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			m, err := mf.load(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			seqs, err := in.prompts(m)
			if err != nil {
				return err
			}
			if len(seqs) != 1 {
				return usagef("attribute takes one prompt, got %d", len(seqs))
			}
			return runAttribute(cmd, m, &in, &f, seqs[0])
		},
	}
	mf.register(cmd)
	in.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&f.targetPos, "target-pos", -1, "position whose next-token prediction is attributed (-1: the last)")
	fl.IntVar(&f.targetToken, "target-token", -1, "target token id")
	fl.StringVar(&f.target, "target", "", `target token as text (must be one token, e.g. " Paris")`)
	fl.StringVar(&f.method, "method", "grad-x-act", "gradient, grad-x-act or ig")
	fl.StringVar(&f.metric, "metric", "", "logprob, prob or logit of the target (default: prob for ig, logprob otherwise)")
	fl.IntVar(&f.steps, "steps", 20, "integrated-gradients steps m")
	fl.StringVar(&f.riemann, "riemann", "left", "integrated-gradients rule: left (k/m, k<m), both (linspace incl. both ends), trapezoid")
	fl.StringVar(&f.positions, "positions", "target", "target: score the target position only (ig scales only it); all: every position (ig scales the whole layer)")
	fl.StringArrayVar(&f.hooks, "hooks", []string{"blocks.*.mlp.hook_post"}, "hook points to attribute (per-layer points)")
	fl.IntVar(&f.top, "top", 20, "neurons listed in the JSON report (top and bottom)")
	fl.StringVar(&f.out, "out", "", "output .json (top-K report) or .safetensors (full arrays)")
	return cmd
}

func (f *attrFlags) check() error {
	switch f.method {
	case "gradient", "grad-x-act", "ig":
	default:
		return usagef("--method must be gradient, grad-x-act or ig, got %q", f.method)
	}
	if f.metric == "" {
		f.metric = "logprob"
		if f.method == "ig" {
			f.metric = "prob"
		}
	}
	switch f.metric {
	case "logprob", "prob", "logit":
	default:
		return usagef("--metric must be logprob, prob or logit, got %q", f.metric)
	}
	if f.positions != "target" && f.positions != "all" {
		return usagef("--positions must be target or all, got %q", f.positions)
	}
	if _, err := parseRule(f.riemann); err != nil {
		return err
	}
	if f.steps < 1 {
		return usagef("--steps must be at least 1, got %d", f.steps)
	}
	if f.top < 1 {
		return usagef("--top must be positive, got %d", f.top)
	}
	if (f.targetToken >= 0) == (f.target != "") {
		return usagef("give exactly one of --target-token or --target")
	}
	if f.out == "" || !(strings.HasSuffix(f.out, ".json") || strings.HasSuffix(f.out, ".safetensors")) {
		return usagef("--out must name a .json or .safetensors file")
	}
	if st, err := os.Stat(filepath.Dir(f.out)); err != nil || !st.IsDir() {
		return usagef("--out %s: directory %s does not exist", f.out, filepath.Dir(f.out))
	}
	return nil
}

func parseRule(s string) (attribute.Rule, error) {
	switch s {
	case "left":
		return attribute.Left, nil
	case "both":
		return attribute.Both, nil
	case "trapezoid":
		return attribute.Trapezoid, nil
	}
	return 0, usagef("--riemann must be left, both or trapezoid, got %q", s)
}

// resolveTarget returns the target position and token.
func (f *attrFlags) resolveTarget(m *model.Model, in *inputFlags, prompt []int) (pos, tok int, str string, err error) {
	pos = f.targetPos
	if pos < 0 {
		pos = len(prompt) - 1
	}
	if pos >= len(prompt) {
		return 0, 0, "", usagef("--target-pos %d is outside the %d-token prompt", pos, len(prompt))
	}
	tok = f.targetToken
	if f.target != "" {
		t := in.tok
		if t == nil {
			if t, err = loadTokenizer(m); err != nil {
				return 0, 0, "", err
			}
		}
		enc, err := t.Encode(f.target, false)
		if err != nil {
			return 0, 0, "", err
		}
		if len(enc.IDs) != 1 {
			return 0, 0, "", usagef("--target %q is %d tokens %v; give a single-token target or --target-token", f.target, len(enc.IDs), enc.Tokens)
		}
		tok, str = enc.IDs[0], enc.Tokens[0]
	}
	if tok >= m.Config.DVocab {
		return 0, 0, "", usagef("--target-token %d is outside the vocabulary [0, %d)", tok, m.Config.DVocab)
	}
	return pos, tok, str, nil
}

func (f *attrFlags) metricFor(pos, tok int) model.Metric {
	switch f.metric {
	case "prob":
		return model.Prob(0, pos, tok)
	case "logit":
		return model.Logit(0, pos, tok)
	}
	return model.LogProb(0, pos, tok)
}

func runAttribute(cmd *cobra.Command, m *model.Model, in *inputFlags, f *attrFlags, prompt []int) error {
	pos, tok, str, err := f.resolveTarget(m, in, prompt)
	if err != nil {
		return err
	}
	points, err := m.Catalog().MatchAll(splitPatterns(f.hooks))
	if err != nil {
		return usagef("--hooks: %v", err)
	}
	for _, p := range points {
		if !p.Site.PerLayer() {
			return usagef("--hooks: %s is not a per-layer hook point", p)
		}
	}
	metric := f.metricFor(pos, tok)
	rep := attrReport{SchemaVersion: 1, Provenance: m.Provenance(), Method: f.method, Metric: metric.String(), Prompt: prompt,
		TargetPos: pos, TargetToken: tok, TargetString: str, Positions: f.positions, Neuron: neuronDefinition}
	rep.Provenance.BOSPolicy = in.bosPolicy()
	rep.Provenance.HooksAsked = pointNames(points)
	scores, acts, err := f.compute(cmd, m, prompt, metric, points, &rep)
	if err != nil {
		return err
	}
	rep.Provenance.HooksFired = pointNames(points)
	if strings.HasSuffix(f.out, ".safetensors") {
		return writeAttrSafetensors(f.out, rep, points, scores)
	}
	rep.Top, rep.Bottom = rankUnits(points, scores, acts, pos, f.positions == "all", f.top)
	if err := report.WriteJSONFile(f.out, rep); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s attribution of %s to %d hook points\n", f.out, f.method, metric, len(points))
	return nil
}

const neuronDefinition = "a neuron is one index of the named hook point; for blocks.L.mlp.hook_post it is the input " +
	"of the MLP output projection (act(W_in x), or act(gate x)·up x for gated MLPs), HF index order"

// compute returns per-point scores and activations, [pos, dim] each (batch dropped).
func (f *attrFlags) compute(cmd *cobra.Command, m *model.Model, prompt []int, metric model.Metric, points []hooks.Point, rep *attrReport) (map[hooks.Point]*tensor.Tensor, map[hooks.Point]*tensor.Tensor, error) {
	b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		return nil, nil, err
	}
	scores, acts := map[hooks.Point]*tensor.Tensor{}, map[hooks.Point]*tensor.Tensor{}
	switch f.method {
	case "gradient", "grad-x-act":
		rep.Score = "d metric / d activation"
		g, err := m.Gradient(b, metric, points)
		if err != nil {
			return nil, nil, err
		}
		rep.MetricValue = g.Value
		var sx *attribute.Scores
		if f.method == "grad-x-act" {
			rep.Score = "activation × d metric / d activation (zero-ablation attribution patching)"
			if sx, err = attribute.GradXAct(m, b, metric, points); err != nil {
				return nil, nil, err
			}
		}
		for _, p := range points {
			a, _ := g.Acts.Get(p)
			acts[p] = dropBatch(a)
			if sx != nil {
				scores[p] = dropBatch(sx.At[p])
			} else {
				scores[p] = dropBatch(g.Grads[p])
			}
		}
		return scores, acts, nil
	}
	rule, _ := parseRule(f.riemann)
	opt := attribute.IGOptions{Steps: f.steps, Rule: rule}
	if f.positions == "all" {
		opt.Scope = attribute.All
	}
	rep.Steps, rep.Riemann, rep.CompletenessGap = f.steps, rule.String(), map[string]float64{}
	rep.Score = "integrated gradients, zero baseline: (a − 0)·Σ_k w_k ∂f/∂a(α_k a)"
	bar := progressbar.NewOptions(len(points), progressbar.OptionSetWriter(cmd.ErrOrStderr()),
		progressbar.OptionSetDescription("integrated gradients"), progressbar.OptionShowCount())
	T := len(prompt)
	for _, p := range points {
		r, err := attribute.IntegratedGradients(m, prompt, p, metric, opt)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		rep.CompletenessGap[p.String()] = r.Gap
		rep.FFull, rep.FBaseline, rep.MetricValue = r.FFull, r.FBaseline, r.FFull
		if opt.Scope == attribute.All {
			scores[p], acts[p] = r.Attributions, r.Act
		} else { // place the target row in a [pos, dim] array
			w := len(r.Attributions.Data)
			scores[p], acts[p] = tensor.New(T, w), tensor.New(T, w)
			copy(scores[p].Data[r.Pos*w:], r.Attributions.Data)
			copy(acts[p].Data[r.Pos*w:], r.Act.Data)
		}
		bar.Add(1)
	}
	bar.Finish()
	fmt.Fprintln(cmd.ErrOrStderr())
	return scores, acts, nil
}

// dropBatch views a [1, pos, ...] tensor as [pos, prod(...)].
func dropBatch(t *tensor.Tensor) *tensor.Tensor {
	return tensor.From(t.Data, t.Shape[1], len(t.Data)/t.Shape[1])
}

// rankUnits lists the top and bottom K units by score: at the target position, or summed over
// positions with --positions all.
func rankUnits(points []hooks.Point, scores, acts map[hooks.Point]*tensor.Tensor, pos int, sum bool, k int) (top, bottom []attrUnit) {
	var units []attrUnit
	for _, p := range points {
		s, a := scores[p], acts[p]
		w := s.Shape[1]
		for i := 0; i < w; i++ {
			u := attrUnit{Layer: p.Layer, Index: i, Hook: p.String()}
			if sum {
				for t := 0; t < s.Shape[0]; t++ {
					u.Score += float64(s.Data[t*w+i])
				}
				u.Activation = float64(a.Data[pos*w+i])
			} else {
				pp := pos
				u.Position = &pp
				u.Score, u.Activation = float64(s.Data[pos*w+i]), float64(a.Data[pos*w+i])
			}
			units = append(units, u)
		}
	}
	sort.SliceStable(units, func(i, j int) bool { return units[i].Score > units[j].Score })
	k = min(k, len(units))
	top = append([]attrUnit(nil), units[:k]...)
	for i := len(units) - 1; i >= len(units)-k; i-- {
		bottom = append(bottom, units[i])
	}
	return top, bottom
}

func writeAttrSafetensors(path string, rep attrReport, points []hooks.Point, scores map[hooks.Point]*tensor.Tensor) error {
	var ts []safetensors.WriteTensor
	for _, p := range points {
		ts = append(ts, safetensors.F32(p.String(), scores[p].Shape, scores[p].Data))
	}
	meta, _ := json.Marshal(rep)
	return safetensors.WriteFile(path, ts, map[string]string{"neuronscope": string(meta)})
}
