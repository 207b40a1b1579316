package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/sae"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { extraCommands = append(extraCommands, newSteerCmd) }

// steerSchema is the schema_version of steer reports.
const steerSchema = "neuronscope.steer/v1"

// steerReport is the JSON document `neuronscope steer` writes.
type steerReport struct {
	SchemaVersion string            `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	Inputs        []labels.Input    `json:"inputs"`
	*labels.Steering
}

type steerFlags struct {
	klFlags
	neurons, group, direction, site string
	diffMeans, eval, hook           string
	sign, positions                 string
	iterations, samples             int
	temperature                     float64
	seed                            uint64
	bos, tokenizer, out             string
	asJSON                          bool
	units                           unitFlags
	feature, latent                 int
}

// klFlags are the flags of a steering calibration and its generations, shared by steer and
// verify --experiment steer.
type klFlags struct {
	prompt, kl                  string
	alphaLo, alphaHi, tolerance float64
	genPrompts                  []string
	maxNew, topK                int
	topP                        float64
}

// register adds the flags; prefix starts each help text, maxNew is --max-new's default.
func (k *klFlags) register(fl *pflag.FlagSet, prefix string, maxNew int) {
	fl.StringVar(&k.prompt, "prompt", "", prefix+"the base prompt the KL is measured at")
	fl.StringVar(&k.kl, "kl", "0.025,0.05,0.1,0.25,0.5", prefix+"KL targets")
	fl.Float64Var(&k.alphaLo, "alpha-lo", ablate.DefaultAlphaLo, prefix+"lower bound of the α search")
	fl.Float64Var(&k.alphaHi, "alpha-hi", ablate.DefaultAlphaHi, prefix+"upper bound of the α search")
	fl.Float64Var(&k.tolerance, "tolerance", ablate.DefaultTolerance, prefix+"|KL − target| accepted")
	fl.StringArrayVar(&k.genPrompts, "gen-prompt", nil, prefix+"prompts to continue at each reached strength (repeatable; default --prompt)")
	fl.IntVar(&k.maxNew, "max-new", maxNew, prefix+"tokens generated per prompt and strength (0: no generations)")
	fl.IntVar(&k.topK, "top-k", 0, prefix+"top-k sampling of the generations (0: off)")
	fl.Float64Var(&k.topP, "top-p", 0, prefix+"top-p sampling of the generations (0: off; with neither, greedy)")
}

// check validates the flags' ranges and parses the KL targets.
func (k *klFlags) check() ([]float64, error) {
	switch {
	case k.maxNew < 0 || k.topK < 0 || k.topP < 0 || k.topP > 1:
		return nil, usagef("--max-new and --top-k must be ≥ 0 and --top-p in [0, 1]")
	case !(k.alphaLo > 0 && k.alphaHi > k.alphaLo):
		return nil, usagef("--alpha-lo %g, --alpha-hi %g: want 0 < lo < hi", k.alphaLo, k.alphaHi)
	case !(k.tolerance > 0):
		return nil, usagef("--tolerance %g: want > 0", k.tolerance)
	}
	targets, err := parseFloats(k.kl)
	if err != nil {
		return nil, usagef("--kl: %v", err)
	}
	for _, t := range targets {
		if !(t > 0) {
			return nil, usagef("--kl %g: targets must be > 0", t)
		}
	}
	return targets, nil
}

// encode tokenizes --prompt and the generation prompts (default --prompt).
func (k *klFlags) encode(enc corpus.Encoder) (prompt []int, gens [][]int, texts []string, err error) {
	p, err := enc.EncodeText(k.prompt)
	if err != nil || len(p.IDs) == 0 {
		return nil, nil, nil, usagef("--prompt %q: cannot encode it (%v)", k.prompt, err)
	}
	texts = k.genPrompts
	if len(texts) == 0 {
		texts = []string{k.prompt}
	}
	for _, g := range texts {
		e, err := enc.EncodeText(g)
		if err != nil || len(e.IDs) == 0 {
			return nil, nil, nil, usagef("--gen-prompt %q: cannot encode it (%v)", g, err)
		}
		gens = append(gens, e.IDs)
	}
	return p.IDs, gens, texts, nil
}

func newSteerCmd() *cobra.Command {
	mf := modelFlags{text: "steer"}
	var f steerFlags
	cmd := &cobra.Command{
		Use: "steer --model DIR (--neurons FILE --group G | --direction FILE | --diff-means KEY=VALUE --eval FILE --hook POINT | --features DIR --feature J | --sae DIR --latent J) " +
			"--prompt TEXT [--kl 0.05,0.1] [--max-new 20] --out steer.json",
		Short: "Steer along a direction with α calibrated to KL targets, and show seeded generations",
		Example: `  neuronscope steer --model testdata/world-llama --neurons demo/neurons.json --group capital_of --prompt "Rofa bilo" --kl 0.05,0.1 --out steer.json
  neuronscope steer --model testdata/world-llama --features snmf --feature 3 --prompt "Rofa" --kl 0.05 --out steer-feature.json
  neuronscope steer --model testdata/world-llama --sae sae-topk --latent 17 --prompt "Rofa" --kl 0.05 --out steer-latent.json
  neuronscope steer --model testdata/world-llama --diff-means language=pelan --eval testdata/world/eval_facts.jsonl --hook blocks.2.mlp.hook_post --prompt "Rofa" --out steer.json`,
		Long: `Steer adds α × v to activations (v made unit-norm; at --positions, default every position): v is the
direction along a neuron group (1/√k on each of its k neurons), a direction file
(neuronscope.direction/v1: {"name", "parts": [{"hook", "vector"}]}, e.g. a probe), or the difference
in means at --hook between the --eval items with the --diff-means label and the others, an SNMF
feature (--features DIR --feature J: F_j at its tap, so α·F_j/‖F_j‖ is added to mlp.hook_post, as
in the SNMF paper), or an SAE latent (--sae DIR --latent J: its decoder row W_dec[J] at the SAE's
hook, which is steering through the splice with the error term kept).

For each --kl target and sign, α is found by binary search in [--alpha-lo, --alpha-hi] (--iterations
steps) so that KL(P_base ‖ P_steered) of the next-token distribution at --prompt's last position is
within --tolerance of the target (the SNMF paper's procedure: [1, 2000], 20 steps, 0.01). A target that
cannot be reached is reported as such with the closest α, never dropped; bounds that reach no target
are an error. At each reached strength, --samples seeded continuations of --max-new tokens of every
--gen-prompt (default --prompt) are generated: greedy, or top-k / top-p sampling (the paper: 50 tokens,
top-k 30, top-p 0.3).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSteer(cmd, &mf, &f) },
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.neurons, "neurons", "", "neuron set file (neuronscope.neurons/v1); steer along --group")
	fl.StringVar(&f.group, "group", "", "the group of --neurons (default: the set's only group)")
	fl.StringVar(&f.site, "hook-site", "mlp.hook_post", "tap point of a bare [{layer,index}] neuron list")
	fl.StringVar(&f.direction, "direction", "", "direction file (neuronscope.direction/v1)")
	fl.StringVar(&f.diffMeans, "diff-means", "", "KEY=VALUE: the difference in means of the --eval items with that label and the others, at --hook")
	fl.StringVar(&f.eval, "eval", "", "labelled prompts for --diff-means (JSONL with prompt, answer and labels)")
	fl.StringVar(&f.hook, "hook", "", "hook point of --diff-means, e.g. blocks.2.mlp.hook_post")
	f.klFlags.register(fl, "", 20)
	fl.StringVar(&f.sign, "sign", "both", "signs of α: both, plus or minus")
	fl.StringVar(&f.positions, "positions", "all", "where to add: all, last or prompt positions 0,2,-1")
	fl.IntVar(&f.iterations, "iterations", ablate.DefaultIterations, "bisection steps")
	fl.Float64Var(&f.temperature, "temperature", 1, "sampling temperature")
	fl.IntVar(&f.samples, "samples", 1, "continuations per prompt and strength (seeds --seed, --seed+1, ...)")
	fl.Uint64Var(&f.seed, "seed", 1, "sampling seed")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy: auto, always, never")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer.json (default: the model directory's)")
	fl.StringVar(&f.out, "out", "", "report file to write (atomically)")
	fl.BoolVar(&f.asJSON, "json", false, "print the report to stdout instead of a table")
	f.units.register(cmd, "steer along")
	fl.IntVar(&f.feature, "feature", -1, "--features: the feature J to steer along")
	fl.IntVar(&f.latent, "latent", -1, "--sae: the latent J to steer along (its decoder direction)")
	return cmd
}

func runSteer(cmd *cobra.Command, mf *modelFlags, f *steerFlags) error {
	sources := 0
	for _, s := range []string{f.neurons, f.direction, f.diffMeans, f.units.features, f.units.sae} {
		if s != "" {
			sources++
		}
	}
	switch {
	case sources != 1:
		return usagef("give exactly one of --neurons (with --group), --direction, --diff-means, --features (with --feature) or --sae (with --latent)")
	case (f.units.features != "") != cmd.Flags().Changed("feature"):
		return usagef("--features DIR and --feature J go together")
	case (f.units.sae != "") != cmd.Flags().Changed("latent"):
		return usagef("--sae DIR and --latent J go together")
	case f.prompt == "":
		return usagef("--prompt is required")
	case f.out == "" && !f.asJSON:
		return usagef("--out is required (or --json)")
	case f.samples < 1:
		return usagef("--samples %d: want at least 1", f.samples)
	case !(f.temperature > 0):
		return usagef("--temperature %g: want > 0", f.temperature)
	case f.iterations < 1:
		return usagef("--iterations %d: want at least 1", f.iterations)
	}
	targets, err := f.klFlags.check()
	if err != nil {
		return err
	}
	if err := checkOut(f.out); err != nil {
		return err
	}
	var signs []int
	switch f.sign {
	case "both":
		signs = []int{1, -1}
	case "plus", "+":
		signs = []int{1}
	case "minus", "-":
		signs = []int{-1}
	default:
		return usagef("--sign %q: want both, plus or minus", f.sign)
	}
	at, err := ablate.ParsePositions(f.positions)
	if err != nil {
		return usagef("--positions: %v", err)
	}
	bos, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usagef("--bos: %v", err)
	}
	site, err := hooks.ParseSite(f.site)
	if err != nil {
		return usagef("--hook-site: %v", err)
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	tok, err := loadTokenizerFlag(m, f.tokenizer)
	if err != nil {
		return err
	}
	enc := corpus.NewEncoder(m, tok, bos)
	cat := m.Catalog()
	var dir ablate.Direction
	var inputs []labels.Input
	hash := func(role, path string) error {
		h, err := labels.HashInput(role, path)
		if err != nil {
			return usagef("%s: %v", role, err)
		}
		inputs = append(inputs, h)
		return nil
	}
	switch {
	case f.neurons != "":
		set, err := hooks.ReadNeuronSetAt(f.neurons, site)
		if err != nil {
			return usagef("--neurons: %v", err)
		}
		name := f.group
		if name == "" {
			if len(set.Groups) != 1 {
				return usagef("--neurons %s has %d groups (%s): choose one with --group", f.neurons, len(set.Groups), strings.Join(set.Names(), ", "))
			}
			name = set.Groups[0].Name
		}
		g, ok := set.Group(name)
		if !ok {
			return usagef("--neurons %s has no group %q (its groups: %s)", f.neurons, name, strings.Join(set.Names(), ", "))
		}
		if dir, err = ablate.NeuronDirection(name, hooks.Plain(g), cat); err != nil {
			return usagef("--neurons %s: group %q: %v", f.neurons, name, err)
		}
		if err := hash("neurons", f.neurons); err != nil {
			return err
		}
	case f.units.features != "":
		if dir, err = featureDirection(f.units.features, f.feature, m); err != nil {
			return err
		}
		if err := hash("features", filepath.Join(f.units.features, decompose.FactorsFile)); err != nil {
			return err
		}
	case f.units.sae != "":
		if dir, err = latentDirection(f.units.sae, f.latent, m); err != nil {
			return err
		}
		if err := hash("sae", filepath.Join(f.units.sae, sae.WeightsFile)); err != nil {
			return err
		}
	case f.direction != "":
		if dir, err = ablate.ReadDirection(f.direction); err != nil {
			return usagef("--direction: %v", err)
		}
		if err := dir.Check(cat); err != nil {
			return usagef("--direction %s: %v", f.direction, err)
		}
		if err := hash("direction", f.direction); err != nil {
			return err
		}
	default:
		key, value, ok := strings.Cut(f.diffMeans, "=")
		if !ok || key == "" || value == "" || f.eval == "" || f.hook == "" {
			return usagef("--diff-means KEY=VALUE needs --eval FILE and --hook POINT")
		}
		p, err := hooks.Parse(f.hook)
		if err != nil || !cat.Has(p) {
			return usagef("--hook %q: not a hook point of this model (see neuronscope inspect)", f.hook)
		}
		qs, err := corpus.ReadPromptSet(f.eval, enc, corpus.PromptOptions{MultiToken: true})
		if err != nil {
			return usagef("--eval: %v", err)
		}
		in := make([]bool, len(qs.Items))
		for i, it := range qs.Items {
			v, has := it.Labels[key]
			if !has {
				return usagef("--eval %s: item %d (%s) has no %q label", f.eval, i, it.ID, key)
			}
			in[i] = v == value
		}
		if dir, err = ablate.DiffInMeans(m, qs.Prompts(), in, p, 0); err != nil {
			return usagef("--diff-means %s: %v", f.diffMeans, err)
		}
		if err := hash("eval", f.eval); err != nil {
			return err
		}
	}
	unit, err := dir.Unit()
	if err != nil {
		src := map[bool]string{true: "--direction " + f.direction, false: "the direction"}[f.direction != ""]
		return usagef("%s: %v", src, err)
	}
	prompt, ids, gens, err := f.klFlags.encode(enc)
	if err != nil {
		return err
	}
	st, err := ablate.Calibrate(m, prompt, dir, ablate.CalibrateOptions{Targets: targets, Lo: f.alphaLo, Hi: f.alphaHi,
		Iterations: f.iterations, Tolerance: f.tolerance, Signs: signs, At: at})
	var ue *ablate.UnreachableError
	if errors.As(err, &ue) {
		return usagef("--alpha-lo/--alpha-hi: %v", err)
	}
	if err != nil {
		return err
	}
	st.BasePrompt = f.prompt
	decode := decoder(tok)
	if f.maxNew > 0 {
		for ti := range st.Targets {
			sp := &st.Targets[ti]
			if !sp.Reached {
				continue
			}
			iv := &ablate.Add{Dir: unit, Alpha: float32(float64(sp.Sign) * sp.Alpha), At: at}
			for s := 0; s < f.samples; s++ {
				seed := f.seed + uint64(s)
				out, err := ablate.Sample(m, ids, iv, ablate.SampleOptions{MaxNew: f.maxNew, TopK: f.topK, TopP: f.topP,
					Temperature: f.temperature, Seed: seed, StopAtEOS: true})
				if err != nil {
					return err
				}
				for k, o := range out {
					sp.Generations = append(sp.Generations, labels.Generation{Prompt: gens[k], Seed: seed, Text: decode(o), IDs: o})
				}
			}
		}
	}
	prov := m.Provenance()
	seed := int64(f.seed)
	prov.Seed, prov.BOSPolicy = &seed, enc.PolicyNote()
	prov.HooksAsked = st.Points
	prov.HooksFired = st.Points
	doc := steerReport{SchemaVersion: steerSchema, Provenance: prov, Inputs: inputs, Steering: st}
	if doc.Inputs == nil {
		doc.Inputs = []labels.Input{}
	}
	if f.out != "" {
		if err := report.WriteJSONFile(f.out, doc); err != nil {
			return err
		}
	}
	if f.asJSON {
		return report.WriteJSON(cmd.OutOrStdout(), doc)
	}
	fmt.Fprint(cmd.OutOrStdout(), steeringTable(*st))
	if f.out != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.out)
	}
	return nil
}
