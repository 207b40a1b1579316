package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/internal/report"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/spf13/cobra"
)

// modelFlags are the flags every model-loading command shares.
type modelFlags struct {
	dir          string
	strict       bool
	allowUnknown bool // --allow-unknown-config-keys: the old default-off flag, now a no-op
}

func (f *modelFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "model", "", "Hugging Face checkpoint directory (config.json + *.safetensors)")
	cmd.Flags().BoolVar(&f.strict, "strict-config", false, "refuse a config.json with keys neuronscope has never seen (default: ignore them with a warning)")
	cmd.Flags().BoolVar(&f.allowUnknown, "allow-unknown-config-keys", false, "no-op: unknown config keys are warnings unless --strict-config")
	cmd.Flags().MarkHidden("allow-unknown-config-keys")
}

func (f *modelFlags) load(cmd *cobra.Command) (*model.Model, error) {
	if f.dir == "" {
		return nil, usagef("--model is required")
	}
	if st, err := os.Stat(f.dir); err != nil || !st.IsDir() {
		return nil, usagef("--model %s: not a directory", f.dir)
	}
	m, err := model.LoadWith(f.dir, model.Options{StrictConfig: f.strict})
	if err != nil {
		return nil, err
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	if !linalg.Fast() && m.ParamCount() > 50_000_000 {
		fmt.Fprintln(cmd.ErrOrStderr(), "hint: pure-Go BLAS with a large model is slow; build with `make build` (OpenBLAS)")
	}
	return m, nil
}

// provenance fills the model part of a report's provenance.
func provenance(m *model.Model) report.Provenance {
	p := report.New()
	p.ModelDir = m.Dir
	p.ModelType = m.Config.ModelType
	p.ConfigHash = m.Config.Hash
	p.StoredDType = m.StoredDType
	p.ModelWarnings = m.Warnings
	return p
}

// parseIDs parses repeated --ids "1,2,3" values.
func parseIDs(vals []string) ([][]int, error) {
	var out [][]int
	for i, v := range vals {
		var seq []int
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			id, err := strconv.Atoi(f)
			if err != nil {
				return nil, usagef("--ids #%d: %q is not a token id", i+1, f)
			}
			seq = append(seq, id)
		}
		if len(seq) == 0 {
			return nil, usagef("--ids #%d is empty", i+1)
		}
		out = append(out, seq)
	}
	return out, nil
}

// splitPatterns splits repeated, comma-separated --hooks values.
func splitPatterns(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func pointNames(ps []hooks.Point) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// loadTokenizer loads the checkpoint's tokenizer.json; its absence is a usage error.
func loadTokenizer(m *model.Model) (*tokenizer.Tokenizer, error) {
	path := filepath.Join(m.Dir, "tokenizer.json")
	if _, err := os.Stat(path); err != nil {
		return nil, usagef("text needs the model's tokenizer.json, and %s has none (give token ids instead)", m.Dir)
	}
	return tokenizer.Load(path)
}

// writeIndented writes v as JSON indented by two spaces, with a trailing newline.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
