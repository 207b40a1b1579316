package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/testdata"
	"github.com/spf13/cobra"
)

// demoReport is report.json of `neuronscope demo`.
type demoReport struct {
	Schema     string            `json:"schema_version"`
	Provenance report.Provenance `json:"provenance"`
	*demo.Report
}

func newDemoCmd() *cobra.Command {
	var out, modelDir, evalPath string
	var asJSON, noVerify, noProgress, noConcept, noPaths, noLanguage, noRelSpec, noSteering bool
	var opt demo.Options
	cmd := &cobra.Command{
		Use:   "demo [--out DIR]",
		Short: "Run the toolkit on the embedded demo model (a Llama trained on the synthetic world)",
		Long: `Run neuronscope end to end on the Llama embedded in the binary (trained by 'neuronscope train'
on the synthetic world of 'neuronscope world'; see testdata/README.md): model summary, a traced
question, greedy accuracy on the held-out-template fact questions by relation and language,
the neurons (blocks.L.mlp.hook_post units) that gradient × activation credits with each
relation's answers, their LM-head decodings, and a check of those neurons against the world's
ground truth through the same code as 'neuronscope verify --experiment matrix': zero-ablate each
relation's --neurons neurons, measure every relation's questions (the relation × relation matrix
of relative accuracy drops), and test the drop on the relation against the drops on the others and
against --random-sets random same-layer sets (empirical p, effect size, bootstrap CI, verdict).
Then two gradient finders with their verification: concept neurons (find concept: CULNIG on the
world's concept sets, groups = the continent of each question's subject, each group suppressed
and enhanced on --concept-questions questions per continent, "general" on all of them, against
random sets with the same count at every layer and tap) and influential neuron paths (find path:
NeuronPath on --path-questions questions per relation × language, each path removed and enhanced
at its position against the activation baselines and random paths, and the path similarity by
relation and language). Then two finders that read activation statistics, each verified:
language neurons (find language: the activation probability at the LAPE tap counted over each
language's training sentences; LAPE at the published 1% and at 5%, the alignment score with its
λ search; each language's neurons zeroed and the perplexity of every language's held-out filler
measured against random sets, verify --text) and relation-specific neurons (find relation: 16
questions held out per relation, the top 200 gate, up and down units by average precision; the
relation × relation matrix of relative accuracy drops on the held-out questions, the perplexity
of 20 filler sentences per language before and after, the cumulativity sweep at k = 50 and 200,
against random sets). Then the structure stage: NerVE spectra of every layer, bricks against
random partitions, and relation probes against the majority baseline. Then the SNMF paper's
steering comparison on the world's ground truth (ablate/steering): a short SNMF and a small TopK
SAE on the middle layer's mlp.hook_post, the best feature, latent and difference in means per
language and relation (and random directions), each steered at matched KL and scored by the
world's lexicons and the unsteered model's NLL (--no-steering skips it; steering.png plots it).
Writes report.json, summary.txt, neurons.json (the set, neuronscope.neurons/v1), labels.json
(neuronscope.labels/v1), concept.json, concept-labels.json, paths.json, path-labels.json,
language.json, language-labels.json, relation-specific.json, relation-specific-labels.json and
steering.png to --out and prints the summary. --model and --eval run it on another
world-trained checkpoint (the concept stage reads concept_*.jsonl beside --eval, the statistical
finders world.json and eval_fluency.jsonl, the steering comparison ground_truth.json).`,
		Example: `  neuronscope demo
  neuronscope demo --out neuronscope-demo --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := demoInputs(modelDir, evalPath)
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.MkdirAll(out, 0o755); err != nil {
					return usagef("--out %s: %v", out, err)
				}
			}
			opt.Progress = cmd.ErrOrStderr()
			opt.SkipVerify, opt.SkipConcept, opt.SkipPaths = noVerify, noConcept, noPaths
			opt.SkipLanguage, opt.SkipRelationSpecific, opt.SkipSteering = noLanguage, noRelSpec, noSteering
			if !noProgress && !noVerify {
				bar := newBar(cmd, -1, "verification", "items")
				defer bar.Finish()
				opt.EvalProgress = func(n int) { bar.Add(n) }
			}
			r, err := demo.Run(in.Inputs, opt)
			if err != nil {
				return err
			}
			p := in.Model.Provenance()
			p.BOSPolicy, p.Padding = "always", "left for batched questions"
			p.Dataset = evalPath
			if p.Dataset == "" {
				p.Dataset = "embedded " + path.Join(testdata.DemoWorld, "eval_facts.jsonl")
			}
			p.HooksAsked, p.HooksFired = []string{"blocks.*.mlp.hook_post"}, []string{r.TapPoint}
			rep := demoReport{Schema: "neuronscope.demo/v2", Provenance: p, Report: r}
			summary := r.Summary()
			if r.Labels != nil {
				r.Labels.Provenance = p
				r.Labels.Provenance.Seed = new(int64)
				*r.Labels.Provenance.Seed = 1
				r.Labels.Inputs = []labels.Input{in.EvalInput}
			}
			if out != "" {
				if err := report.WriteFile(filepath.Join(out, "report.json"), func(w io.Writer) error {
					return report.WriteJSON(w, rep)
				}); err != nil {
					return err
				}
				if err := report.WriteFile(filepath.Join(out, "summary.txt"), func(w io.Writer) error {
					_, err := io.WriteString(w, summary)
					return err
				}); err != nil {
					return err
				}
				r.Set.Provenance = &p
				if err := r.Set.WriteFile(filepath.Join(out, "neurons.json")); err != nil {
					return err
				}
				if r.Labels != nil {
					if err := r.Labels.WriteFile(filepath.Join(out, "labels.json")); err != nil {
						return err
					}
				}
				if err := writeGradientStages(out, r, p, in.EvalInput, in.ConceptInputs); err != nil {
					return err
				}
				if err := writeStatisticStages(out, r, p, in.EvalInput, in.LanguageInputs); err != nil {
					return err
				}
				if r.Steering != nil {
					if err := r.Steering.SavePlot(filepath.Join(out, "steering.png")); err != nil {
						return err
					}
				}
			}
			if asJSON {
				return report.WriteJSON(cmd.OutOrStdout(), rep)
			}
			fmt.Fprint(cmd.OutOrStdout(), summary)
			if out != "" {
				files := "report.json, summary.txt, neurons.json, labels.json"
				if r.Concept != nil {
					files += ", concept.json, concept-labels.json"
				}
				if r.Paths != nil {
					files += ", paths.json, path-labels.json"
				}
				if r.LanguageSet != nil {
					files += ", language.json"
				}
				if r.LanguageLabels != nil {
					files += ", language-labels.json"
				}
				if r.RelationSpecific != nil {
					files += ", relation-specific.json, relation-specific-labels.json"
				}
				if r.Steering != nil {
					files += ", steering.png"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "\nwrote %s to %s\n", files, out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "neuronscope-demo", "directory for report.json and summary.txt (empty: print only)")
	f.StringVar(&modelDir, "model", "", "a world-trained checkpoint instead of the embedded one (needs --eval)")
	f.StringVar(&evalPath, "eval", "", "eval_facts.jsonl of the world the --model was trained on")
	f.IntVar(&opt.PerRelation, "per-relation", 24, "questions attributed per relation")
	f.IntVar(&opt.Neurons, "neurons", 32, "neurons per relation: the set the report lists and the verification checks")
	f.IntVar(&opt.Show, "top", 3, "neurons per relation printed in the summary")
	f.BoolVar(&noVerify, "no-verify", false, "skip the verification stage")
	f.BoolVar(&opt.SkipStructure, "no-structure", false, "skip the structure stage (spectra, bricks, probes)")
	f.IntVar(&opt.RandomSets, "random-sets", ablate.DefaultRandom, "random same-layer neuron sets per relation")
	f.IntVar(&opt.AblatePerCell, "ablate-questions", 0, "questions per relation × language in the verification (0: all)")
	f.IntVar(&opt.Workers, "workers", 1, "interventions run at once")
	f.BoolVar(&noConcept, "no-concept", false, "skip the concept-neuron stage (CULNIG, find concept, verified)")
	f.BoolVar(&noPaths, "no-paths", false, "skip the neuron-path stage (NeuronPath, find path, verified)")
	f.IntVar(&opt.ConceptItems, "concept-questions", 40, "task questions per continent in the concept verification")
	f.IntVar(&opt.PathItems, "path-questions", 1, "questions per relation × language whose paths are found and verified")
	f.BoolVar(&noLanguage, "no-language", false, "skip the language-neuron stage (LAPE and the alignment score, find language, verified)")
	f.BoolVar(&noRelSpec, "no-relation-specific", false, "skip the relation-specific-neuron stage (find relation, verified)")
	f.BoolVar(&noSteering, "no-steering", false, "skip the steering comparison (SNMF features, SAE latents, diff-in-means, random; ablate/steering)")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar")
	f.BoolVar(&asJSON, "json", false, "print report.json to stdout instead of the summary")
	return cmd
}

// demoInputs are the demo's inputs and the hash of its eval file.
type demoInputsT struct {
	demo.Inputs
	EvalInput labels.Input
	// ConceptInputs hash the concept item sets (task, control, exclusion).
	ConceptInputs []labels.Input
	// LanguageInputs hash the world config and the fluency texts.
	LanguageInputs []labels.Input
}

// demoInputs loads the embedded demo model and questions, or the given ones.
func demoInputs(modelDir, evalPath string) (demoInputsT, error) {
	var in demoInputsT
	if (modelDir == "") != (evalPath == "") {
		return in, usagef("--model and --eval go together")
	}
	var err error
	var questions func(enc corpus.Encoder) (*corpus.PromptSet, error)
	var concept func(name string) ([]byte, string, error)
	if modelDir != "" {
		if in.Model, err = model.Load(modelDir); err != nil {
			return in, err
		}
		if in.Tokenizer, err = loadTokenizer(in.Model); err != nil {
			return in, err
		}
		questions = func(enc corpus.Encoder) (*corpus.PromptSet, error) {
			return corpus.ReadPromptSet(evalPath, enc, corpus.PromptOptions{})
		}
		if in.EvalInput, err = labels.HashInput("eval", evalPath); err != nil {
			return in, usagef("--eval: %v", err)
		}
		concept = func(name string) ([]byte, string, error) {
			p := filepath.Join(filepath.Dir(evalPath), name)
			b, err := os.ReadFile(p)
			return b, p, err
		}
	} else {
		read := func(name string) []byte {
			b, e := testdata.DemoFS.ReadFile(name)
			if e != nil {
				panic(fmt.Sprintf("embedded demo file %s: %v", name, e)) // a build defect
			}
			return b
		}
		dir := testdata.DemoModel
		if in.Model, err = model.FromBytes("embedded:"+dir, read(path.Join(dir, "config.json")), read(path.Join(dir, "model.safetensors"))); err != nil {
			return in, err
		}
		if in.Tokenizer, err = tokenizer.Parse(read(path.Join(dir, "tokenizer.json")), "embedded:"+dir+"/tokenizer.json"); err != nil {
			return in, err
		}
		ev := path.Join(testdata.DemoWorld, "eval_facts.jsonl")
		in.EvalInput = labels.HashBytes("eval", "embedded:"+ev, read(ev))
		questions = func(enc corpus.Encoder) (*corpus.PromptSet, error) {
			return corpus.ParsePromptSet(bytes.NewReader(read(ev)), "embedded:"+ev, enc, corpus.PromptOptions{})
		}
		concept = func(name string) ([]byte, string, error) {
			p := path.Join(testdata.DemoWorld, name)
			return read(p), "embedded:" + p, nil
		}
	}
	enc := corpus.NewEncoder(in.Model, in.Tokenizer, tokenizer.BOSAlways)
	if in.Questions, err = questions(enc); err != nil {
		return in, err
	}
	// the world's config and held-out filler beside the questions, when the world has them
	if err := demoLanguageInputs(&in, enc, concept); err != nil {
		return in, err
	}
	if gt, src, err := concept("ground_truth.json"); err == nil {
		in.Steering = &demo.SteeringInputs{GroundTruth: gt, Source: src} // the steering comparison's lexicons
	}
	// the concept sets beside the questions, when the world has them
	var sets [3]*corpus.PromptSet
	for i, name := range []string{"concept_task.jsonl", "concept_control.jsonl", "concept_exclude.jsonl"} {
		data, src, err := concept(name)
		if err != nil {
			return in, nil // no concept sets: the demo runs without that stage
		}
		if sets[i], err = corpus.ParsePromptSet(bytes.NewReader(data), src, enc, corpus.PromptOptions{}); err != nil {
			return in, usageError{err}
		}
		in.ConceptInputs = append(in.ConceptInputs, labels.HashBytes([]string{"task", "control", "exclude"}[i], src, data))
	}
	in.Concept = &demo.ConceptInputs{Task: sets[0], Control: sets[1], Exclude: sets[2]}
	return in, nil
}

// demoLanguageInputs reads world.json and eval_fluency.jsonl beside the questions (read gives a
// file of the world's directory); without them the demo runs without the language-neuron and
// relation-specific stages.
func demoLanguageInputs(in *demoInputsT, enc corpus.Encoder, read func(name string) ([]byte, string, error)) error {
	cfg, cfgSrc, err := read("world.json")
	if err != nil {
		return nil
	}
	flu, fluSrc, err := read("eval_fluency.jsonl")
	if err != nil {
		return nil
	}
	if in.Language, err = demo.WorldLanguageInputs(cfg, flu, fluSrc, enc, in.Model.Config.MaxPos); err != nil {
		return usageError{err}
	}
	in.LanguageInputs = []labels.Input{labels.HashBytes("world", cfgSrc, cfg), labels.HashBytes("text", fluSrc, flu)}
	return nil
}

// writeStatisticStages writes the language and relation-specific stages' neuron sets and label
// files.
func writeStatisticStages(out string, r *demo.Report, p report.Provenance, eval labels.Input, lang []labels.Input) error {
	write := func(set *hooks.NeuronSet, lf *labels.File, setName, labelName string, inputs []labels.Input) error {
		return writeStage(out, p, set, lf, setName, labelName, inputs)
	}
	if r.LanguageSet != nil {
		if err := write(r.LanguageSet, r.LanguageLabels, "language.json", "language-labels.json", lang); err != nil {
			return err
		}
	}
	if r.RelationSpecific != nil {
		if err := write(r.RelationSpecificSet, r.RelationSpecificLabels, "relation-specific.json", "relation-specific-labels.json",
			append([]labels.Input{eval}, lang...)); err != nil {
			return err
		}
	}
	return nil
}

// writeStage writes a stage's neuron set and label file (none when lf is nil) to out, with
// the demo's provenance (seed 1) and the label file's inputs.
func writeStage(out string, p report.Provenance, set *hooks.NeuronSet, lf *labels.File, setName, labelName string, inputs []labels.Input) error {
	sp := p
	set.Provenance = &sp
	if err := set.WriteFile(filepath.Join(out, setName)); err != nil {
		return err
	}
	if lf == nil {
		return nil
	}
	seed := int64(1)
	lf.Provenance = p
	lf.Provenance.Seed = &seed
	lf.Inputs = inputs
	return lf.WriteFile(filepath.Join(out, labelName))
}

// writeGradientStages writes the concept and path stages' neuron sets and label files.
func writeGradientStages(out string, r *demo.Report, p report.Provenance, eval labels.Input, concept []labels.Input) error {
	write := func(set *hooks.NeuronSet, lf *labels.File, setName, labelName string, inputs []labels.Input) error {
		return writeStage(out, p, set, lf, setName, labelName, inputs)
	}
	if r.Concept != nil {
		if err := write(r.ConceptSet, r.ConceptLabels, "concept.json", "concept-labels.json", concept); err != nil {
			return err
		}
	}
	if r.Paths != nil {
		if err := write(r.PathSet, r.PathLabels, "paths.json", "path-labels.json", []labels.Input{eval}); err != nil {
			return err
		}
	}
	return nil
}

func init() { extraCommands = append(extraCommands, newDemoCmd) }
