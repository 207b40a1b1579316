// Package nb holds what the notebook programs share: finding the repository's testdata and
// loading a model with its tokenizer.
package nb

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// Testdata returns path elems under the repository's testdata directory, found by walking up
// from the working directory to go.mod.
func Testdata(elems ...string) (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(append([]string{d, "testdata"}, elems...)...), nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("not inside the neuronscope repository (no go.mod above); give the paths as flags")
		}
		d = up
	}
}

// Load loads the model in dir (default: testdata/world-llama) and an encoder for its
// tokenizer.json (BOS policy auto).
func Load(dir string) (*model.Model, corpus.Encoder, error) {
	if dir == "" {
		var err error
		if dir, err = Testdata("world-llama"); err != nil {
			return nil, corpus.Encoder{}, err
		}
	}
	m, err := model.Load(dir)
	if err != nil {
		return nil, corpus.Encoder{}, err
	}
	tok, err := corpus.LoadTokenizer(m)
	if err != nil || tok == nil {
		m.Close()
		return nil, corpus.Encoder{}, fmt.Errorf("%s: no usable tokenizer.json (%v)", dir, err)
	}
	return m, corpus.NewEncoder(m, tok, tokenizer.BOSAuto), nil
}

// World loads the model in dir (default testdata/world-llama) with the world's held-out
// questions (default testdata/world/eval_facts.jsonl) as demo inputs; close releases the model.
func World(dir, eval string) (in demo.Inputs, close func(), err error) {
	m, enc, err := Load(dir)
	if err != nil {
		return demo.Inputs{}, nil, err
	}
	if eval == "" {
		if eval, err = Testdata("world", "eval_facts.jsonl"); err != nil {
			m.Close()
			return demo.Inputs{}, nil, err
		}
	}
	q, err := corpus.ReadPromptSet(eval, enc, corpus.PromptOptions{})
	if err != nil {
		m.Close()
		return demo.Inputs{}, nil, err
	}
	return demo.Inputs{Model: m, Tokenizer: enc.Tok, Questions: q}, func() { m.Close() }, nil
}
