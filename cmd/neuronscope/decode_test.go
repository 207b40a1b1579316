package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
)

func readDecodeOut(t *testing.T, path string) attribute.DecodeReport {
	t.Helper()
	got, err := attribute.ReadDecodeReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Layers[0].Neurons[0]; n.Point != hooks.At(got.Layers[0].Layer, hooks.MLPPost) {
		t.Errorf("decoded neuron reads back as %v", n.Point)
	}
	return *got
}

func TestDecodeWritesJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "d.json")
	stdout, _, err := run("decode", "--model", tiny, "--top", "3", "--layers", "1", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "128 neurons in 1 layers") {
		t.Errorf("stdout: %q", stdout)
	}
	got := readDecodeOut(t, out)
	p := got.Provenance
	if p.Version == "" || p.BLAS == "" || p.ConfigHash == "" || p.StoredDType == "" || p.ModelDir != tiny || p.ModelType != "llama" {
		t.Errorf("provenance: %+v", p)
	}
	if !strings.Contains(got.NeuronDefinition, "blocks.L.mlp.hook_post") || got.Directions["up"] == "" ||
		!strings.Contains(got.Directions["read"], "gate_proj") || !got.NormWeight || got.Top != 3 ||
		!strings.HasPrefix(got.TokenStrings, "absent") {
		t.Errorf("header: %+v", got)
	}
	if len(got.Layers) != 1 || got.Layers[0].Layer != 1 || len(got.Layers[0].Neurons) != 128 {
		t.Fatalf("layers: %d", len(got.Layers))
	}
	m, err := model.Load(tiny)
	if err != nil {
		t.Fatal(err)
	}
	want, err := attribute.DecodeNeurons(m, attribute.DecodeOptions{K: 3, Layers: []int{1}, NormWeight: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range got.Layers[0].Neurons {
		w := want[i]
		if n.Layer != 1 || n.Index != i {
			t.Fatalf("neuron entry %d is %d/%d", i, n.Layer, n.Index)
		}
		for _, pair := range []struct {
			name string
			got  []attribute.NamedToken
			want []attribute.DecodedToken
		}{{"read_top", n.ReadTop, w.ReadTop}, {"read_bottom", n.ReadBottom, w.ReadBottom}, {"up_top", n.UpTop, w.UpTop},
			{"up_bottom", n.UpBottom, w.UpBottom}, {"write_top", n.WriteTop, w.WriteTop}, {"write_bottom", n.WriteBottom, w.WriteBottom}} {
			if len(pair.got) != 3 {
				t.Fatalf("neuron %d %s: %d tokens", i, pair.name, len(pair.got))
			}
			for r, tk := range pair.got {
				if tk.ID != pair.want[r].ID || tk.Score != pair.want[r].Score || tk.Token != nil {
					t.Fatalf("neuron %d %s rank %d: %+v, library gives %+v", i, pair.name, r, tk, pair.want[r])
				}
			}
		}
	}
}

// TestDecodeTokenStrings: with a tokenizer.json next to the weights, every listed token carries
// its vocabulary string.
func TestDecodeTokenStrings(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(tiny, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vocab := map[string]int{}
	for i := 0; i < 256; i++ {
		vocab[fmt.Sprintf("tok%d", i)] = i
	}
	tj, _ := json.Marshal(map[string]any{"model": map[string]any{"type": "WordLevel", "vocab": vocab, "unk_token": "tok0"}})
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "d.json")
	if _, _, err := run("decode", "--model", dir, "--top", "2", "--norm-weight=false", "--out", out); err != nil {
		t.Fatal(err)
	}
	got := readDecodeOut(t, out)
	if got.NormWeight || len(got.Layers) != 2 || !strings.HasPrefix(got.TokenStrings, "from ") {
		t.Fatalf("header: norm_weight %v, %d layers, token_strings %q", got.NormWeight, len(got.Layers), got.TokenStrings)
	}
	for _, l := range got.Layers {
		for _, n := range l.Neurons {
			for _, tk := range append(append(n.ReadTop, n.UpBottom...), n.WriteBottom...) {
				if tk.Token == nil || *tk.Token != fmt.Sprintf("tok%d", tk.ID) {
					t.Fatalf("layer %d neuron %d: token %+v", n.Layer, n.Index, tk)
				}
			}
		}
	}
}

func TestDecodeBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "d.json")
	cases := []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"decode", "--model", tiny}, true, "--out"},
		{[]string{"decode", "--model", tiny, "--top", "0", "--out", out}, true, "--top"},
		{[]string{"decode", "--model", tiny, "--top", "-3", "--out", out}, true, "--top"},
		{[]string{"decode", "--model", tiny, "--layers", "0,2", "--out", out}, true, "--layers"},
		{[]string{"decode", "--model", tiny, "--layers", "x", "--out", out}, true, "--layers"},
		{[]string{"decode", "--model", tiny, "--layers", "1-0", "--out", out}, true, "--layers"},
		{[]string{"decode", "--model", tiny, "--top", "many", "--out", out}, true, "--top"},
		{[]string{"decode", "--out", out}, true, "--model"},
		{[]string{"decode", "--model", tiny, "--out", filepath.Join(dir, "missing", "d.json")}, true, "missing"},
	}
	for _, c := range cases {
		_, _, err := run(c.args...)
		var u usageError
		switch {
		case err == nil:
			t.Errorf("%v: no error", c.args)
		case errors.As(err, &u) != c.usage:
			t.Errorf("%v: usage error %v, want %v (%v)", c.args, !c.usage, c.usage, err)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("%v: error %q does not mention %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s behind", out)
	}
}

func TestParseLayers(t *testing.T) {
	got, err := parseLayers(" 3, 0-2,1 ", 4)
	if err != nil || fmt.Sprint(got) != "[3 0 1 2]" {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := parseLayers("", 4); got != nil || err != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
}

// TestDecodeResid: decode --resid prints the logit lens table and writes the JSON report
// LogitLens gives; its last layer predicts what greedy generation does; misuse is a usage
// error naming the flag.
func TestDecodeResid(t *testing.T) {
	out := filepath.Join(t.TempDir(), "lens.json")
	table, _, err := run("decode", "--resid", "--model", worldLlama, "--text", "Rofa bilo", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 1+1+4+1 || !strings.Contains(lines[1], "1:Rofa") || !strings.HasPrefix(lines[5], "3 ") || !strings.Contains(lines[5], "Tufinri") {
		t.Errorf("table:\n%s", table)
	}
	var got attribute.LensReport
	if err := report.ReadJSONFile(out, &got); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(worldLlama)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want, err := attribute.LogitLens(m, got.Prompt, attribute.LensOptions{K: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Layers) != 4 || len(got.Layers[3].Positions) != 3 || got.Top != 5 {
		t.Fatalf("report: %+v", got)
	}
	for l := range want.Layers {
		for p := range want.Layers[l].Positions {
			for k, tok := range want.Layers[l].Positions[p].Top {
				if g := got.Layers[l].Positions[p].Top[k]; g.ID != tok.ID || g.Logit != tok.Logit || g.Token == "" {
					t.Errorf("layer %d pos %d top %d: CLI %+v, library %+v", l, p, k, g, tok)
				}
			}
		}
	}
	gen, err := corpus.Next(m, [][]int{got.Prompt}, 0)
	if err != nil || gen[0] != got.Layers[3].Positions[2].Top[0].ID {
		t.Errorf("last layer's top token %d, greedy next token %v (%v)", got.Layers[3].Positions[2].Top[0].ID, gen, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"decode", "--resid", "--model", worldLlama, "--text", "Rofa", "--text", "bilo"}, "one prompt"},
		{[]string{"decode", "--resid", "--model", worldLlama, "--text", "Rofa", "--norm-weight=false"}, "--norm-weight"},
		{[]string{"decode", "--model", worldLlama, "--text", "Rofa", "--out", out}, "--resid"},
		{[]string{"decode", "--resid", "--model", worldLlama, "--text", "Rofa", "--layers", "7"}, "--layers"},
		{[]string{"decode", "--resid", "--model", worldLlama}, "exactly one of --ids, --text or --jsonl"},
	} {
		_, _, err := run(c.args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error naming %q", c.args, err, c.want)
		}
	}
}
