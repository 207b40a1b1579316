package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
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
	var asJSON bool
	var opt demo.Options
	cmd := &cobra.Command{
		Use:   "demo [--out DIR]",
		Short: "Run the toolkit on the embedded demo model (a Llama trained on the synthetic world)",
		Long: `Run neuronscope end to end on the Llama embedded in the binary (trained by 'neuronscope train'
on the synthetic world of 'neuronscope world'; see testdata/README.md): model summary, a traced
question, greedy accuracy on the held-out-template fact questions by relation and language,
the neurons (blocks.L.mlp.hook_post units) that gradient × activation credits with each
relation's answers, their LM-head decodings, and a check of those neurons against the world's
ground truth: zero-ablate each relation's top neurons and compare the accuracy drop on that
relation with the drop on the others, against random same-layer sets (package ablate). Writes report.json and summary.txt to --out
and prints the summary. --model and --eval run it on another world-trained checkpoint.`,
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
			r, err := demo.Run(in, opt)
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
			rep := demoReport{Schema: "neuronscope.demo/v1", Provenance: p, Report: r}
			summary := r.Summary()
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
			}
			if asJSON {
				return report.WriteJSON(cmd.OutOrStdout(), rep)
			}
			fmt.Fprint(cmd.OutOrStdout(), summary)
			if out != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "\nwrote %s and %s\n", filepath.Join(out, "report.json"), filepath.Join(out, "summary.txt"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "neuronscope-demo", "directory for report.json and summary.txt (empty: print only)")
	f.StringVar(&modelDir, "model", "", "a world-trained checkpoint instead of the embedded one (needs --eval)")
	f.StringVar(&evalPath, "eval", "", "eval_facts.jsonl of the world the --model was trained on")
	f.IntVar(&opt.PerRelation, "per-relation", 24, "questions attributed per relation")
	f.IntVar(&opt.TopNeurons, "top", 8, "neurons reported per relation")
	f.IntVar(&opt.Ablate, "ablate", 32, "neurons per relation zero-ablated against random sets (-1: skip the ablation stage)")
	f.IntVar(&opt.RandomSets, "random-sets", 5, "random same-layer neuron sets per ablation")
	f.IntVar(&opt.AblatePerCell, "ablate-questions", 0, "questions per relation × language in the ablation stage (0: all)")
	f.BoolVar(&asJSON, "json", false, "print report.json to stdout instead of the summary")
	return cmd
}

// demoInputs loads the embedded demo model and questions, or the given ones.
func demoInputs(modelDir, evalPath string) (demo.Inputs, error) {
	var in demo.Inputs
	if (modelDir == "") != (evalPath == "") {
		return in, usagef("--model and --eval go together")
	}
	var err error
	var questions func(enc corpus.Encoder) (*corpus.PromptSet, error)
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
		questions = func(enc corpus.Encoder) (*corpus.PromptSet, error) {
			return corpus.ParsePromptSet(bytes.NewReader(read(ev)), "embedded:"+ev, enc, corpus.PromptOptions{})
		}
	}
	in.Questions, err = questions(corpus.NewEncoder(in.Model, in.Tokenizer, tokenizer.BOSAlways))
	return in, err
}

func init() { extraCommands = append(extraCommands, newDemoCmd) }
