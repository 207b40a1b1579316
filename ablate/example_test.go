package ablate_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// Example is a research script from outside the module: load a model, stream a text file
// through it with an observer, build a neuron set from what it saw, ablate the set against
// random sets of the same shape, and read the report back.
func Example() {
	m, err := model.Load("../testdata/world-llama")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	tok, _ := corpus.LoadTokenizer(m)
	enc := corpus.NewEncoder(m, tok, tokenizer.BOSAuto)

	// 1. Stream the world's training text and sum each blocks.2.mlp.hook_post neuron over
	// the real tokens of every context.
	point := hooks.At(2, hooks.MLPPost)
	sum := make([]float64, m.Catalog().Width(point))
	contexts := func(yield func(corpus.Context) error) error {
		return corpus.Contexts(corpus.FileDocuments("../testdata/world/train.txt"), enc,
			corpus.ContextOptions{Ctx: 32, MaxTokens: 5000}, yield)
	}
	err = corpus.Run(m, contexts, corpus.RunOptions{Batch: 16, Hooks: func(b *corpus.Batch) []hooks.Option {
		return []hooks.Option{hooks.ObservePoint(point, func(_ hooks.Point, a *tensor.Tensor) error {
			w := a.Shape[2]
			for r, c := range b.Contexts {
				for pos := range c.IDs {
					for j, v := range a.Data[(r*a.Shape[1]+pos)*w:][:w] {
						sum[j] += float64(v)
					}
				}
			}
			return nil
		})}
	}})
	if err != nil {
		fmt.Println(err)
		return
	}

	// 2. The 16 neurons with the largest summed activation form a neuron set, written and read
	// back in the neuronscope.neurons/v1 format every finder uses.
	set := &hooks.NeuronSet{Method: "largest summed activation on train.txt", Tap: hooks.MLPPost}
	set.Add("busiest", hooks.Top(hooks.Scored(point, sum), 16)...)
	dir, _ := os.MkdirTemp("", "neuronscope-example")
	defer os.RemoveAll(dir)
	if err := set.WriteFile(filepath.Join(dir, "neurons.json")); err != nil {
		fmt.Println(err)
		return
	}
	back, err := hooks.ReadNeuronSet(filepath.Join(dir, "neurons.json"))
	if err != nil || back.Check(m.Catalog()) != nil {
		fmt.Println(err)
		return
	}
	busiest, _ := back.Group("busiest")

	// 3. Zero-ablate the set on the capital_of questions versus the other relations, against
	// random sets with the same per-point counts.
	questions, err := corpus.ReadPromptSet("../testdata/world/eval_facts.jsonl", enc, corpus.PromptOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	questions = questions.Filter(func(corpus.Prompt) bool { n++; return n%8 == 0 })
	r, err := ablate.Selectivity(m, questions, hooks.Plain(busiest), ablate.SelectivityOptions{
		Key: "relation", Target: "capital_of", Mode: ablate.Zero, Random: 3, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}

	// (The busiest neurons are not capital_of neurons: the verdict says so.)

	// 4. Write the report with its provenance, and read it back.
	file := ablate.SelectivityFile{SchemaVersion: ablate.SelectivitySchema, Provenance: m.Provenance(), Report: r}
	if err := report.WriteJSONFile(filepath.Join(dir, "report.json"), file); err != nil {
		fmt.Println(err)
		return
	}
	got, err := ablate.ReadSelectivityFile(filepath.Join(dir, "report.json"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ablated", len(got.Neurons), "neurons at", got.Ablation.Points, "of", got.Provenance.ModelType)
	fmt.Printf("%d questions, baseline accuracy %.2f, random sets %d\n", got.Items, got.BaselineAccuracy, len(got.Random.Sets))
	fmt.Println("first neuron reads back as", got.Neurons[0].Point, got.Neurons[0] == busiest[0].Neuron)
	fmt.Printf("capital_of drop %.2f, mean other drop %.2f, verdict %s\n", got.Claimed.TargetDrop, got.Claimed.OtherDrop, got.Verdict)
	// Output:
	// ablated 16 neurons at [blocks.2.mlp.hook_post] of llama
	// 285 questions, baseline accuracy 1.00, random sets 3
	// first neuron reads back as blocks.2.mlp.hook_post true
	// capital_of drop 0.00, mean other drop 0.00, verdict no_effect
}
