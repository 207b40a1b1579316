package model

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// Save writes the model as a standard Hugging Face checkpoint: configJSON as config.json and
// every weight, under its HF name and HF shape, into model.safetensors stored as dtype
// ("F32", "BF16" or "F16"). Both files are written atomically.
func (m *Model) Save(dir string, configJSON []byte, dtype string) error {
	if _, err := ParseConfig(configJSON, filepath.Join(dir, "config.json")); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var ts []safetensors.WriteTensor
	for _, p := range m.params {
		switch dtype {
		case "F32", "":
			ts = append(ts, safetensors.F32(p.Name, p.Shape, p.Data))
		case "BF16":
			ts = append(ts, safetensors.BF16(p.Name, p.Shape, p.Data))
		case "F16":
			ts = append(ts, safetensors.F16(p.Name, p.Shape, p.Data))
		default:
			return fmt.Errorf("cannot store weights as %q (F32, BF16 or F16)", dtype)
		}
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "config.json"), func(w *bufio.Writer) error {
		_, err := w.Write(configJSON)
		return err
	})
}
