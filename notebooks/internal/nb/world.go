package nb

import (
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/ablate/steering"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
)

// WorldTask loads the model in modelDir (default: testdata/world-llama) and builds the
// steering comparison's task from the world's ground_truth.json in worldDir (default:
// testdata/world). The caller closes the model.
func WorldTask(modelDir, worldDir string, opt steering.WorldOptions) (*model.Model, corpus.Encoder, *steering.Task, error) {
	if worldDir == "" {
		var err error
		if worldDir, err = Testdata("world"); err != nil {
			return nil, corpus.Encoder{}, nil, err
		}
	}
	m, enc, err := Load(modelDir)
	if err != nil {
		return nil, corpus.Encoder{}, nil, err
	}
	path := filepath.Join(worldDir, "ground_truth.json")
	gt, err := os.ReadFile(path)
	if err == nil {
		var t *steering.Task
		if t, err = steering.FromWorld(gt, path, enc.Tok.TokenToID, m.Config.BOS, opt); err == nil {
			return m, enc, t, nil
		}
	}
	m.Close()
	return nil, corpus.Encoder{}, nil, err
}
