package steering_test

import (
	"context"
	"fmt"
	"path"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/ablate/steering"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/sae"
	"github.com/neuronscope/neuronscope/testdata"
)

// demoModel loads the embedded world Llama, its tokenizer and its world's ground truth.
func demoModel() (*model.Model, *tokenizer.Tokenizer, []byte, error) {
	read := func(name string) []byte {
		b, err := testdata.DemoFS.ReadFile(name)
		if err != nil {
			panic(err)
		}
		return b
	}
	dir := testdata.DemoModel
	m, err := model.FromBytes("embedded:"+dir, read(path.Join(dir, "config.json")), read(path.Join(dir, "model.safetensors")))
	if err != nil {
		return nil, nil, nil, err
	}
	tok, err := tokenizer.Parse(read(path.Join(dir, "tokenizer.json")), "embedded tokenizer")
	if err != nil {
		return nil, nil, nil, err
	}
	return m, tok, read(path.Join(testdata.DemoWorld, "ground_truth.json")), nil
}

// A small comparison on the world model: SNMF features, TopK SAE latents, difference in means
// and random directions, for the world's 4 languages and 10 relations, at one KL target.
func Example() {
	m, tok, gt, err := demoModel()
	if err != nil {
		fmt.Println(err)
		return
	}
	task, err := steering.FromWorld(gt, "ground_truth.json", tok.TokenToID, m.Config.BOS,
		steering.WorldOptions{FitFacts: 2, FitFiller: 10, DetectFacts: 4, DetectFiller: 10, Prompts: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	opt := steering.DefaultOptions(2)
	opt.SNMF.Rank, opt.SNMF.MaxIter = 16, 40
	opt.SAE = sae.TrainConfig{Arch: sae.TopK, DSAE: 256, K: 8, Steps: 60, BatchSize: 64, LR: 1e-3}
	opt.Targets = []float64{0.01}
	opt.Generate = ablate.SampleOptions{MaxNew: 6, TopK: 30, TopP: 0.3, Seed: 1}
	opt.RandomDirections, opt.Bootstrap = 1, 200
	res, err := steering.Compare(context.Background(), m, task, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("concepts:", len(res.Concepts), "methods:", res.Methods)
	fmt.Println("runs:", len(res.Runs))
	auc := map[string]float64{}
	for _, d := range res.Detection {
		auc[d.Method] = d.AUC
	}
	fmt.Println("diff-means detects better than random directions:", auc["diff-means"] > auc["random"]+0.2)
	// Output:
	// concepts: 14 methods: [snmf sae diff-means random]
	// runs: 56
	// diff-means detects better than random directions: true
}
