package modeltest

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// TinyNames lists the names of the tiny configs of every architecture and config variant
// (2–3 layers, d_model ≤ 32, vocabulary 97), sorted.
func TinyNames() []string {
	var out []string
	for k := range fixtures.TinyConfigs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Tiny builds the random-weight model of the tiny config name (see TinyNames) with the seed.
func Tiny(t testing.TB, name string, seed uint64) *model.Model {
	t.Helper()
	js, ok := fixtures.TinyConfigs[name]
	if !ok {
		t.Fatalf("modeltest: no tiny config %q", name)
	}
	return FromConfig(t, js, seed)
}

// FromConfig builds a random-weight model of a config.json text.
func FromConfig(t testing.TB, configJSON string, seed uint64) *model.Model {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(configJSON), "test config")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// GPT2Small is a GPT-2-small-shaped model with random weights (model.PresetConfig
// "gpt2-small"), the shape full-size benchmarks are stated at.
func GPT2Small(tb testing.TB) *model.Model {
	tb.Helper()
	cfg, err := model.PresetConfig("gpt2-small")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// Tokens is a deterministic sequence of n token ids below vocab (the i-th is (i·7919+13) mod
// vocab).
func Tokens(n, vocab int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = (i*7919 + 13) % vocab
	}
	return ids
}

// NonFiniteCopy copies the checkpoint in dir (config.json, model.safetensors and tokenizer.json
// when present) to a temporary directory with the first value of tensor set to NaN and the
// second to +Inf, and returns that directory.
func NonFiniteCopy(t testing.TB, dir, tensor string) string {
	t.Helper()
	out := t.TempDir()
	for _, f := range []string{"config.json", "tokenizer.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			if f == "tokenizer.json" {
				continue
			}
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := safetensors.OpenFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ts []safetensors.WriteTensor
	found := false
	for _, name := range src.Names() {
		tt, _ := src.Tensor(name)
		view, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		data := append([]float32(nil), view...) // the view may be the read-only mapping
		if name == tensor {
			found = true
			data[0], data[1] = float32(math.NaN()), float32(math.Inf(1))
		}
		ts = append(ts, safetensors.F32(name, tt.Shape, data))
	}
	if !found {
		t.Fatalf("%s has no tensor %s", dir, tensor)
	}
	if err := safetensors.WriteFile(filepath.Join(out, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return out
}
