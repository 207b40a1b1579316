// Command 04-neuron-path finds the influential neuron path (NeuronPath) of fact questions on the
// demo world model and checks the paths by intervention, as the published evaluation does.
//
// For each question the program runs the layer-progressive search (one neuron per layer at the
// last prompt position, m = 20 steps, the answer's probability), the per-layer activation
// argmax baseline and random paths (one random neuron per layer), then
//
//   - removes each path (its neurons set to 0 at that position) and enhances it (×2), and
//     reports the mean change in the answer's probability and in top-1 accuracy;
//   - compares the joint attribution scores of the search's path and of the activation path,
//     and counts chosen neurons whose two score factors were both negative;
//   - compares paths of questions with the same and with different relations (and languages).
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/04-neuron-path          # 3 questions per relation and language
//	go run ./notebooks/04-neuron-path -budget tiny    # 1 question per relation and language, 10 steps
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
)

func main() {
	budget := flag.String("budget", "full", "full, or tiny: 1 question per relation and language, 10 steps")
	_ = flag.String("out", "", "unused: this notebook only prints")
	modelDir := flag.String("model", "", "model directory (default: testdata/world-llama of this repository)")
	evalFile := flag.String("eval", "", "questions (default: testdata/world/eval_facts.jsonl of this repository)")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(os.Stdout, *modelDir, *evalFile, *budget == "tiny"); err != nil {
		fmt.Fprintln(os.Stderr, "04-neuron-path:", err)
		os.Exit(1)
	}
}

// effect is the mean change of the answer's probability and of top-1 accuracy.
type effect struct{ dp, dacc float64 }

func run(w io.Writer, modelDir, evalFile string, tiny bool) error {
	if evalFile == "" {
		var err error
		if evalFile, err = nb.Testdata("world", "eval_facts.jsonl"); err != nil {
			return err
		}
	}
	m, enc, err := nb.Load(modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	set, err := corpus.ReadPromptSet(evalFile, enc, corpus.PromptOptions{})
	if err != nil {
		return err
	}
	perCell, steps, randomPaths := 3, 20, 3
	if tiny {
		perCell, steps = 1, 10
	}
	// Every 7th question until each relation × language cell has its share.
	count := map[[2]string]int{}
	var items []corpus.Prompt
	for i := 0; i < len(set.Items); i += 7 {
		it := set.Items[i]
		if c := [2]string{it.Labels["relation"], it.Labels["language"]}; count[c] < perCell {
			count[c]++
			items = append(items, it)
		}
	}
	L, width := m.Config.NLayers, m.Config.DMLP
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []string{"path", "activation", "random"}
	var remove, enhance [3]effect
	var seconds, jasPath, jasAct float64
	actHigher, negneg, chosen := 0, 0, 0
	var paths [][]hooks.ScoredNeuron
	for _, it := range items {
		pos, ans := len(it.IDs)-1, it.AnswerIDs[0]
		t0 := time.Now()
		res, err := attribute.NeuronPath(m, it.IDs, pos, ans, attribute.PathOptions{Steps: steps})
		if err != nil {
			return fmt.Errorf("%s: %w", it.ID, err)
		}
		seconds += time.Since(t0).Seconds()
		paths = append(paths, res.Path)
		jasPath += res.JAS
		jasAct += res.ActivationJAS
		if res.ActivationJAS > res.JAS {
			actHigher++
		}
		for _, f := range res.Factors {
			chosen++
			if f.Gradient < 0 && f.Activation < 0 {
				negneg++
			}
		}
		p0, top0, err := answerAt(m, it.IDs, pos, ans, nil)
		if err != nil {
			return err
		}
		for k, kind := range kinds {
			var sets [][]hooks.Neuron
			switch kind {
			case "path":
				sets = [][]hooks.Neuron{hooks.Plain(res.Path)}
			case "activation":
				sets = [][]hooks.Neuron{hooks.Plain(res.Activation)}
			default:
				for s := 0; s < randomPaths; s++ {
					var ns []hooks.Neuron
					for l := 0; l < L; l++ {
						ns = append(ns, hooks.NeuronAt(l, hooks.MLPPost, rng.IntN(width)))
					}
					sets = append(sets, ns)
				}
			}
			for _, ns := range sets {
				for _, iv := range []struct {
					scale float32
					into  *effect
				}{{0, &remove[k]}, {2, &enhance[k]}} {
					p, top, err := answerAt(m, it.IDs, pos, ans, scaleAt(ns, pos, iv.scale))
					if err != nil {
						return err
					}
					iv.into.dp += (p - p0) / float64(len(sets))
					iv.into.dacc += (b2f(top) - b2f(top0)) / float64(len(sets))
				}
			}
		}
	}
	n := float64(len(items))
	fmt.Fprintf(w, "%d questions (%d per relation and language), m = %d: %.3f s per question\n", len(items), perCell, steps, seconds/n)
	fmt.Fprintf(w, "\n%-12s %14s %14s %14s %14s\n", "neurons", "remove ΔP", "remove Δtop1", "enhance ΔP", "enhance Δtop1")
	for k, kind := range kinds {
		name := kind
		if kind == "random" {
			name = fmt.Sprintf("random (×%d)", randomPaths)
		}
		fmt.Fprintf(w, "%-12s %+14.4f %+14.4f %+14.4f %+14.4f\n", name, remove[k].dp/n, remove[k].dacc/n, enhance[k].dp/n, enhance[k].dacc/n)
	}
	fmt.Fprintf(w, "\nmean JAS: path %.4g, activation argmax %.4g; activation argmax higher on %d of %d questions\n", jasPath/n, jasAct/n, actHigher, len(items))
	fmt.Fprintf(w, "chosen path neurons with both score factors negative: %d of %d\n", negneg, chosen)
	for _, key := range []string{"relation", "language"} {
		var same, diff float64
		var ns, nd int
		for i := range items {
			for j := i + 1; j < len(items); j++ {
				s := attribute.PathSimilarity(paths[i], paths[j])
				if items[i].Labels[key] == items[j].Labels[key] {
					same, ns = same+s, ns+1
				} else {
					diff, nd = diff+s, nd+1
				}
			}
		}
		fmt.Fprintf(w, "path similarity by %s: same %.3f (%d pairs), different %.3f (%d pairs)\n", key, same/float64(max(ns, 1)), ns, diff/float64(max(nd, 1)), nd)
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// scaleAt multiplies the neurons by s at position pos only (NeuronPath's remove: 0, enhance: 2).
func scaleAt(ns []hooks.Neuron, pos int, s float32) []hooks.Option {
	points, idx := hooks.ByPoint(ns)
	var opts []hooks.Option
	for _, p := range points {
		units := idx[p]
		opts = append(opts, hooks.EditPoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
			w := a.Shape[len(a.Shape)-1]
			for _, j := range units {
				a.Data[pos*w+j] *= s
			}
			return nil
		}))
	}
	return opts
}

// answerAt is the probability of ans at pos and whether it is the top-1 prediction there.
func answerAt(m *model.Model, prompt []int, pos, ans int, opts []hooks.Option) (float64, bool, error) {
	b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		return 0, false, err
	}
	res, err := m.Forward(b, opts...)
	if err != nil {
		return 0, false, err
	}
	p, err := model.Prob(0, pos, ans).Value(b, res.Logits)
	v := m.Config.DVocab
	return p, model.Argmax(res.Logits.Data[pos*v:(pos+1)*v]) == ans, err
}
