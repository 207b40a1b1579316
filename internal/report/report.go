// Package report holds what every neuronscope report carries: provenance, and atomic writes
// (temp file + rename) so a failed run never leaves a half-written output.
package report

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"runtime"

	"github.com/neuronscope/neuronscope/internal/atomicfile"

	"github.com/neuronscope/neuronscope/internal/linalg"
)

// Version is the tool version; release builds set it with -ldflags "-X ...report.Version=v1.2.3".
var Version = "0.1.0-dev"

// Provenance says exactly what produced a report.
type Provenance struct {
	Tool         string   `json:"tool"`
	Version      string   `json:"version"`
	GoVersion    string   `json:"go_version"`
	BLAS         string   `json:"blas_backend"`
	ModelDir     string   `json:"model_dir,omitempty"`
	ModelType    string   `json:"model_type,omitempty"`
	ConfigHash   string   `json:"config_sha256,omitempty"`
	StoredDType  string   `json:"stored_dtype,omitempty"`
	ComputeDType string   `json:"compute_dtype"`
	BOSPolicy    string   `json:"bos_policy,omitempty"`
	Padding      string   `json:"padding,omitempty"`
	Seed         *int64   `json:"seed,omitempty"`
	Dataset      string   `json:"dataset_slice,omitempty"`
	HooksAsked   []string `json:"hooks_requested,omitempty"`
	HooksFired   []string `json:"hooks_fired,omitempty"`
	// ModelWarnings are the model's load warnings (ignored config keys, HF defaults taken, …).
	ModelWarnings []string `json:"model_warnings,omitempty"`
	Command       []string `json:"command,omitempty"`
}

// New returns provenance filled with the tool and machine facts.
func New() Provenance {
	return Provenance{Tool: "neuronscope", Version: Version, GoVersion: runtime.Version(), BLAS: linalg.Backend(),
		ComputeDType: "float32", Command: os.Args}
}

// WriteFileAtomic writes path via a temp file in the same directory and a rename, so a
// failed run leaves no half-written output.
func WriteFileAtomic(path string, write func(w io.Writer) error) error {
	return atomicfile.Write(path, func(w *bufio.Writer) error { return write(w) })
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	return WriteFileAtomic(path, func(f io.Writer) error {
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
