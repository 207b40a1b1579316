package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
	"github.com/neuronscope/neuronscope/internal/jsonerr"
	"github.com/neuronscope/neuronscope/internal/linalg"
)

// Version is the tool version; release builds set it with
// -ldflags "-X github.com/neuronscope/neuronscope/model/report.Version=v1.2.3".
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
	Command      []string `json:"command,omitempty"`
	// Warnings are the model's load warnings (Model.Warnings), e.g. NaN/Inf weights loaded
	// with --allow-nonfinite: outputs computed under them are marked by this field.
	Warnings []string `json:"warnings,omitempty"`
}

// New returns provenance filled with the tool and machine facts (no model: see
// model.Model.Provenance).
func New() Provenance {
	return Provenance{Tool: "neuronscope", Version: Version, GoVersion: runtime.Version(), BLAS: linalg.Backend(),
		ComputeDType: "float32", Command: os.Args}
}

// WriteJSON writes v to w as JSON indented by two spaces, with a trailing newline: the form of
// every neuronscope JSON report.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteFile writes path via a temp file in the same directory and a rename, so a failed run
// leaves no half-written output. The error names path.
func WriteFile(path string, write func(w io.Writer) error) error {
	return atomicfile.Write(path, func(w *bufio.Writer) error { return write(w) })
}

// WriteJSONFile writes v as indented JSON (WriteJSON) to path atomically (WriteFile).
func WriteJSONFile(path string, v any) error {
	return WriteFile(path, func(w io.Writer) error { return WriteJSON(w, v) })
}

// ReadJSONFile reads a JSON report into v; errors name path.
func ReadJSONFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %v", path, jsonerr.Plain(err))
	}
	return nil
}

// File is one file of a set that WriteFiles writes together.
type File struct {
	Path  string
	Write func(w io.Writer) error
}

// WriteFiles writes a set of files that belong together (a report and its arrays) so that
// either all of them appear or none: each goes to a synced temp file, and they are renamed
// into place only when every one has been written.
func WriteFiles(files ...File) error {
	af := make([]atomicfile.File, len(files))
	for i, f := range files {
		write := f.Write
		af[i] = atomicfile.File{Path: f.Path, Write: func(w *bufio.Writer) error { return write(w) }}
	}
	return atomicfile.WriteAll(af)
}
