package main

import (
	"fmt"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/model/vision"
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
	baseline    string
}

func newAttributeCmd() *cobra.Command {
	var mf modelFlags
	var in inputFlags
	var f attrFlags
	var im imageFlags
	cmd := &cobra.Command{
		Use: "attribute --model DIR (--ids ... | --text ... | --image FILE) --target-pos N (--target-token ID | --target STR) " +
			"--method gradient|grad-x-act|ig [--steps 20] [--riemann left|both|trapezoid] [--positions target|all] " +
			"[--hooks GLOB] [--top K] --out FILE(.json|.safetensors)",
		Short: "Attribute a target token's metric to neurons: gradient, gradient×activation, integrated gradients",
		Example: `  neuronscope attribute --model testdata/world-llama --text "Rofa bilo" --target Tufinri --method ig --top 10 --out ig.json
  neuronscope attribute --model testdata/world-llama --text "Rofa bilo" --target Tufinri --method ig --positions all --out ig-all.json
  neuronscope attribute --model testdata/tiny-llama --ids 1,5,9,13 --target-token 7 --method gradient --out grads.safetensors
  neuronscope attribute --model vit-dir --image cat.png --target cat --method ig --baseline black --out ig.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkPromptFlags(&in, &im); err != nil {
				return err
			}
			if err := f.check(im.given()); err != nil {
				return err
			}
			m, err := mf.load(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			if im.given() || m.Config.ImageModel() {
				return runAttributeImage(cmd, m, &im, &f)
			}
			if f.baseline != "zero" {
				return usagef("--baseline %s is for images (--image); integrated gradients on prompts use the zero baseline", f.baseline)
			}
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
	fl.IntVar(&f.targetToken, "target-token", -1, "target token id (an image classifier: the class id)")
	fl.StringVar(&f.target, "target", "", `target token as text (must be one token, e.g. " Paris"); an image classifier: a label of id2label or a class id (default: the predicted class)`)
	fl.StringVar(&f.method, "method", "grad-x-act", "gradient, grad-x-act or ig")
	fl.StringVar(&f.metric, "metric", "", "logprob, prob or logit of the target (default: prob for ig, logprob otherwise)")
	fl.IntVar(&f.steps, "steps", 20, "integrated-gradients steps m")
	fl.StringVar(&f.riemann, "riemann", "left", "integrated-gradients rule: left (k/m, k<m), both (linspace incl. both ends), trapezoid")
	fl.StringVar(&f.positions, "positions", "target", "target: score the target position only (ig scales only it); all: every position (ig scales the whole layer)")
	fl.StringArrayVar(&f.hooks, "hooks", []string{"blocks.*.mlp.hook_post"}, "hook points to attribute (per-layer points)")
	fl.IntVar(&f.top, "top", 20, "neurons listed in the JSON report (top and bottom)")
	fl.StringVar(&f.out, "out", "", "output .json (top-K report) or .safetensors (full arrays)")
	fl.StringVar(&f.baseline, "baseline", "zero", "integrated-gradients baseline: zero (activations 0); for --image also black (each point's activation on a black image) or mean (on the preprocessor's mean image)")
	im.register(cmd, false)
	return cmd
}

func (f *attrFlags) check(images bool) error {
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
	switch f.baseline {
	case "zero", "black", "mean":
	default:
		return usagef("--baseline must be zero, black or mean, got %q", f.baseline)
	}
	if f.baseline != "zero" && f.method != "ig" {
		return usagef("--baseline %s is integrated gradients' (--method ig)", f.baseline)
	}
	if f.targetToken >= 0 && f.target != "" || !images && f.targetToken < 0 && f.target == "" {
		return usagef("give exactly one of --target-token or --target")
	}
	if f.out == "" || !(strings.HasSuffix(f.out, ".json") || strings.HasSuffix(f.out, ".safetensors")) {
		return usagef("--out must name a .json or .safetensors file")
	}
	return checkOutFile("--out", f.out)
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
		if tok, str, err = corpus.NewEncoder(m, t, tokenizer.BOSNever).EncodeTarget(f.target); err != nil {
			return 0, 0, "", usagef("--target: %v; give a single-token target or --target-token", err)
		}
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
	points, err := f.points(m)
	if err != nil {
		return err
	}
	metric := f.metricFor(pos, tok)
	opt := f.options()
	if f.method == attribute.MethodIG {
		bar := newBar(cmd, int64(len(points)), "integrated gradients", "hooks")
		opt.Progress = func(done, _ int) { _ = bar.Set(done) }
		defer bar.Close()
	}
	rep, arr, err := attribute.Attribute(m, prompt, metric, points, opt)
	if err != nil {
		return err
	}
	rep.TargetString = str
	rep.Provenance.BOSPolicy = in.bosPolicy()
	rep.Provenance.HooksAsked = pointNames(points)
	rep.Provenance.HooksFired = pointNames(points)
	if strings.HasSuffix(f.out, ".safetensors") {
		return attribute.WriteArrays(f.out, rep, arr)
	}
	if err := report.WriteJSONFile(f.out, rep); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s attribution of %s to %d hook points\n", f.out, f.method, metric, len(points))
	return nil
}

const neuronDefinition = attribute.NeuronDefinition

// runAttributeImage is attribute for one image of an image classifier: the target is a class
// (--target label or id, --target-token id; default the predicted class) at the CLS position.
func runAttributeImage(cmd *cobra.Command, m *model.Model, im *imageFlags, f *attrFlags) error {
	if f.targetPos > 0 {
		return usagef("--target-pos %d: an image classifier reads its class logits at position 0 (the CLS token)", f.targetPos)
	}
	set, err := im.load(m)
	if err != nil {
		return err
	}
	if len(set.files) != 1 {
		return usagef("attribute takes one image, got %d", len(set.files))
	}
	px := set.image(0)
	class := f.targetToken
	switch {
	case f.target != "":
		if class, err = classID(f.target, m.Config.Labels); err != nil {
			return usagef("--target: %v", err)
		}
	case class >= m.Config.DVocab:
		return usagef("--target-token %d is outside the model's %d classes", class, m.Config.DVocab)
	case class < 0:
		res, err := m.ForwardImages(px)
		if err != nil {
			return err
		}
		class = model.Argmax(res.Logits.Row(0))
	}
	points, err := f.points(m)
	if err != nil {
		return err
	}
	metric := f.metricFor(attribute.CLS, class)
	opt := f.options()
	if f.baseline != "zero" {
		proc, err := vision.Load(m.Dir)
		if err != nil {
			return err
		}
		opt.BaselineImage, opt.BaselineName = proc.Fill([3]uint8{}), "black image"
		if f.baseline == "mean" {
			opt.BaselineImage, opt.BaselineName = proc.MeanImage(), "mean image (pixel values of image_mean)"
		}
	}
	if f.method == attribute.MethodIG {
		bar := newBar(cmd, int64(len(points)), "integrated gradients", "hooks")
		opt.Progress = func(done, _ int) { _ = bar.Set(done) }
		defer bar.Close()
	}
	rep, arr, err := attribute.AttributeImage(m, px, metric, points, opt)
	if err != nil {
		return err
	}
	rep.Image = set.files[0]
	if class < len(m.Config.Labels) {
		rep.TargetString = m.Config.Labels[class]
	}
	rep.Provenance.Dataset = set.files[0]
	rep.Provenance.HooksAsked = pointNames(points)
	rep.Provenance.HooksFired = pointNames(points)
	if strings.HasSuffix(f.out, ".safetensors") {
		err = attribute.WriteArrays(f.out, rep, arr)
	} else {
		err = report.WriteJSONFile(f.out, rep)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s attribution of %s (class %s) to %d hook points\n", f.out, f.method, metric, className(m, class), len(points))
	return nil
}

// points matches --hooks against the model; every point must be per-layer.
func (f *attrFlags) points(m *model.Model) ([]hooks.Point, error) {
	points, err := m.Catalog().MatchAll(splitPatterns(f.hooks))
	if err != nil {
		return nil, usagef("--hooks: %v", err)
	}
	for _, p := range points {
		if !p.Site.PerLayer() {
			return nil, usagef("--hooks: %s is not a per-layer hook point", p)
		}
	}
	return points, nil
}

// options are the attribution options of the flags (checked by check).
func (f *attrFlags) options() attribute.AttributionOptions {
	rule, _ := parseRule(f.riemann)
	return attribute.AttributionOptions{Method: f.method, IG: attribute.IGOptions{Steps: f.steps, Rule: rule},
		AllPositions: f.positions == "all", Top: f.top}
}
