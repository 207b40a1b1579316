package model

import (
	"sort"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

// FromBytes builds a model from a config.json and a single model.safetensors held in memory
// (for example embedded in the binary), without copying float32 weights. name stands for the
// checkpoint in errors and in Model.Dir.
func FromBytes(name string, configJSON, weights []byte) (*Model, error) {
	cfg, err := ParseConfig(configJSON, name+"/config.json")
	if err != nil {
		return nil, err
	}
	ts, _, err := safetensors.ParseHeader(weights, name+"/model.safetensors")
	if err != nil {
		return nil, err
	}
	src := memSource{ts: ts}
	dtypes := map[safetensors.DType]int64{}
	for n, t := range ts {
		src.names = append(src.names, n)
		dtypes[t.DType] += int64(len(t.Data))
	}
	sort.Strings(src.names)
	m, err := New(cfg, src)
	if err != nil {
		return nil, err
	}
	m.Dir, m.StoredBytes, m.StoredDType = name, int64(len(weights)), dtypeSummary(dtypes)
	return m, nil
}

// memSource is a Source over parsed in-memory tensors.
type memSource struct {
	ts    map[string]safetensors.Tensor
	names []string
}

func (s memSource) Tensor(name string) (safetensors.Tensor, bool) { t, ok := s.ts[name]; return t, ok }
func (s memSource) Names() []string                               { return append([]string(nil), s.names...) }
