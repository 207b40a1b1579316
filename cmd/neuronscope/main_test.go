package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// run executes the CLI in-process and returns stdout, stderr and the error.
func run(args ...string) (string, string, error) {
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

const tiny = "../../testdata/tiny-llama"

// TestTinyLlamaRegenerates: the committed demo checkpoint is exactly what make-random writes.
func TestTinyLlamaRegenerates(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run("make-random", "--name", "tiny-llama", "--out", dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, err := os.ReadFile(filepath.Join(tiny, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from a fresh `neuronscope make-random --name tiny-llama` (err %v)", f, err)
		}
	}
}

func TestInspectJSON(t *testing.T) {
	out, _, err := run("inspect", "--model", tiny, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got inspectOut
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.ModelType != "llama" || got.Layers != 2 || got.DMLP != 128 || got.Params != 106816 ||
		got.HFAliases["model.layers.1.mlp.down_proj:input"] != "blocks.1.mlp.hook_post" {
		t.Errorf("unexpected inspect output: %+v", got)
	}
}

func TestTraceWritesTensors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "t.safetensors")
	if _, _, err := run("trace", "--model", tiny, "--ids", "1,5,9", "--ids", "1,7", "--pad", "left",
		"--hooks", "blocks.*.mlp.hook_post,model.layers.0.mlp.up_proj:output", "--out", out); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{"logits": "[2 3 256]", "input_ids": "[2 3]", "attention_mask": "[2 3]",
		"blocks.0.mlp.hook_post": "[2 3 128]", "blocks.1.mlp.hook_post": "[2 3 128]", "blocks.0.mlp.hook_pre_linear": "[2 3 128]"}
	for name, shape := range want {
		tt, ok := f.Tensor(name)
		if !ok || fmt.Sprint(tt.Shape) != shape {
			t.Errorf("tensor %s: ok=%v shape %v, want %s", name, ok, tt.Shape, shape)
		}
	}
	var prov map[string]any
	if err := json.Unmarshal([]byte(f.Metadata()["neuronscope"]), &prov); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "blas_backend", "config_sha256", "stored_dtype", "padding", "hooks_fired"} {
		if prov[k] == nil {
			t.Errorf("provenance lacks %s", k)
		}
	}
}

// TestBadInputExitCodes: bad flags and input give a usage error (exit 2) or an error (exit 1),
// never a panic, and no output file.
func TestBadInputExitCodes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.safetensors")
	cases := []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"trace", "--model", tiny, "--ids", "1,999", "--out", out}, true, "outside the vocabulary"},
		{[]string{"trace", "--model", tiny, "--ids", "1,x", "--out", out}, true, "not a token id"},
		{[]string{"trace", "--model", tiny, "--ids", "", "--out", out}, true, "empty"},
		{[]string{"trace", "--model", tiny, "--ids", "1", "--hooks", "blocks.7.mlp.hook_post", "--out", out}, true, "does not exist"},
		{[]string{"trace", "--model", tiny, "--ids", "1", "--out", filepath.Join(dir, "missing", "o.safetensors")}, true, "missing"},
		{[]string{"trace", "--model", tiny, "--ids", "1", "--pad", "up", "--out", out}, true, "--pad"},
		{[]string{"trace", "--model", dir, "--ids", "1", "--out", out}, false, "config.json"},
		{[]string{"trace", "--model", "/nonexistent", "--ids", "1", "--out", out}, true, "not a directory"},
		{[]string{"generate", "--model", tiny, "--ids", strings.Repeat("1,", 127) + "1", "--max-new", "5"}, true, "--max-new 5"},
		{[]string{"inspect"}, true, "--model"},
		{[]string{"trace", "--model", tiny, "--text", "hello", "--out", out}, true, "tokenizer.json"},
		{[]string{"trace", "--model", tiny, "--ids", "1", "--text", "hello", "--out", out}, true, "exactly one of"},
		{[]string{"trace", "--model", tiny, "--jsonl", filepath.Join(dir, "none.jsonl"), "--out", out}, true, "--jsonl"},
		{[]string{"bench", "--config", "gpt5"}, true, "unknown --config"},
		{[]string{"bench", "--load", "/nonexistent"}, true, "--load /nonexistent"},
		{[]string{"tokenize", "--model", dir, "--text", "x"}, true, "tokenizer.json"},
		{[]string{"inspect", "--model", tiny, "--bogus"}, true, "unknown flag"},
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
			t.Errorf("%v: error %q lacks %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed run left %s behind", out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestGenerateJSON(t *testing.T) {
	out, _, err := run("generate", "--model", tiny, "--ids", "1,5,9", "--ids", "2", "--max-new", "4")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Generations []struct {
			New []int `json:"new_ids"`
		} `json:"generations"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Generations) != 2 || len(got.Generations[1].New) != 4 {
		t.Errorf("generate output %q (%v)", out, err)
	}
}

// TestTextPrompts: --text goes through the checkpoint's tokenizer.json with the BOS policy.
func TestTextPrompts(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(t), "aidreams260k-llama")
	out, _, err := run("generate", "--model", dir, "--text", "Once upon a time", "--max-new", "3")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Generations []struct {
			Prompt     []int  `json:"prompt_ids"`
			PromptText string `json:"prompt_text"`
		} `json:"generations"`
		Provenance map[string]any `json:"provenance"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	g := got.Generations[0]
	if g.Prompt[0] != 1 || !strings.Contains(g.PromptText, "Once upon a time") || got.Provenance["bos_policy"] != "auto" {
		t.Errorf("auto BOS: %+v %v", g, got.Provenance["bos_policy"])
	}
	out, _, err = run("generate", "--model", dir, "--text", "Once upon a time", "--bos", "never", "--max-new", "1")
	if err != nil || strings.Contains(out, `"prompt_ids":[1,`) {
		t.Errorf("--bos never still starts with BOS: %s %v", out, err)
	}
}

// TestNonFiniteWeights: a checkpoint with NaN/Inf weights is refused (a usage error naming
// --allow-nonfinite) by every model command; with the flag, trace and generate run and their
// outputs carry the warning in the provenance.
func TestNonFiniteWeights(t *testing.T) {
	dir := modeltest.NonFiniteCopy(t, tiny, "model.layers.0.mlp.down_proj.weight")
	out := filepath.Join(t.TempDir(), "t.safetensors")
	for _, args := range [][]string{
		{"trace", "--model", dir, "--ids", "1,5,9", "--out", out},
		{"generate", "--model", dir, "--ids", "1,5,9", "--max-new", "3"},
		{"inspect", "--model", dir},
	} {
		_, _, err := run(args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "--allow-nonfinite") || !strings.Contains(err.Error(), "down_proj") {
			t.Errorf("%s: %v, want a usage error naming the tensor and --allow-nonfinite", args[0], err)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("trace wrote its output")
	}
	if _, _, err := run("trace", "--model", dir, "--allow-nonfinite", "--ids", "1,5,9", "--out", out); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !strings.Contains(f.Metadata()["neuronscope"], `"warnings":["weights are not finite`) {
		t.Errorf("trace provenance: %s", f.Metadata()["neuronscope"])
	}
	js, _, err := run("generate", "--model", dir, "--allow-nonfinite", "--ids", "1,5,9", "--max-new", "3")
	if err != nil || !strings.Contains(js, `"warnings":["weights are not finite`) {
		t.Errorf("generate: %v\n%s", err, js)
	}
}

// TestPromptFormats: trace, generate, tokenize and attribute --jsonl take the same prompt lines
// profile does (a JSON string, {"text"}, {"ids"|"input_ids"}, an array of ids), and the same
// mistake in them is the same usage error naming the file and line, with no Go type names.
func TestPromptFormats(t *testing.T) {
	tmp := t.TempDir()
	lines := []string{`"Rofa bilo"`, `{"text":"Rofa bilo","language":"pelan"}`, `[2, 144, 212]`, `{"ids":[2,144,212]}`, `{"input_ids":[2,144,212]}`}
	all := filepath.Join(tmp, "all.jsonl")
	os.WriteFile(all, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	out := filepath.Join(tmp, "t.safetensors")
	if _, _, err := run("trace", "--model", worldLlama, "--jsonl", all, "--out", out); err != nil {
		t.Fatalf("trace: %v", err)
	}
	js, _, err := run("generate", "--model", worldLlama, "--jsonl", all, "--max-new", "2")
	var gen struct {
		Generations []struct {
			Prompt []int `json:"prompt_ids"`
		} `json:"generations"`
	}
	if err != nil || json.Unmarshal([]byte(js), &gen) != nil || len(gen.Generations) != len(lines) {
		t.Fatalf("generate: %v\n%s", err, js)
	}
	for i, g := range gen.Generations {
		if fmt.Sprint(g.Prompt) != fmt.Sprint(gen.Generations[0].Prompt) {
			t.Errorf("generate: line %d gives prompt %v, line 1 %v", i+1, g.Prompt, gen.Generations[0].Prompt)
		}
	}
	tk, _, err := run("tokenize", "--model", worldLlama, "--special", "--jsonl", all)
	if err != nil || strings.Count(tk, "\n") != len(lines) {
		t.Fatalf("tokenize: %v\n%s", err, tk)
	}
	for i, row := range strings.Split(strings.TrimSpace(tk), "\n") {
		if !strings.Contains(row, `"ids":[2,144,212]`) {
			t.Errorf("tokenize line %d: %s", i+1, row)
		}
	}
	for i, l := range lines {
		one := filepath.Join(tmp, fmt.Sprintf("one%d.jsonl", i))
		os.WriteFile(one, []byte(l+"\n"), 0o644)
		if _, _, err := run("attribute", "--model", worldLlama, "--jsonl", one, "--target", "kan", "--out", filepath.Join(tmp, "a.json")); err != nil {
			t.Errorf("attribute --jsonl %s: %v", l, err)
		}
	}

	bad := filepath.Join(tmp, "bad.jsonl")
	os.WriteFile(bad, []byte(`"Rofa bilo"`+"\n"+`[1, "a"]`+"\n"), 0o644)
	missing := filepath.Join(tmp, "missing.jsonl")
	for _, args := range [][]string{
		{"trace", "--model", worldLlama, "--out", out},
		{"generate", "--model", worldLlama},
		{"tokenize", "--model", worldLlama},
		{"attribute", "--model", worldLlama, "--target", "kan", "--out", filepath.Join(tmp, "a.json")},
		{"profile", "--model", worldLlama, "--out", filepath.Join(tmp, "p")},
	} {
		flag := "--jsonl"
		if args[0] == "profile" {
			flag = "--data"
		}
		for _, c := range []struct{ file, want string }{{bad, bad + ":2: not an array of token ids: got a string, want an integer"}, {missing, "missing.jsonl"}} {
			_, _, err := run(append(args, flag, c.file)...)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "Go ") {
				t.Errorf("%s %s %s: %v, want a usage error containing %q", args[0], flag, filepath.Base(c.file), err, c.want)
			}
		}
	}
}

// TestGenerateEOSAndSampling: generate stops after the model's EOS (the last new token) unless
// --ignore-eos; sampling is reproducible under --seed and top-k 1 is greedy decoding.
func TestGenerateEOSAndSampling(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, _ := os.ReadFile(filepath.Join(tiny, f))
		if f == "config.json" { // greedy decoding of [1 5 9] gives 25 136 110 253 ...: make 110 the EOS
			data = []byte(strings.Replace(string(data), `"eos_token_id": 2`, `"eos_token_id": 110`, 1))
		}
		os.WriteFile(filepath.Join(dir, f), data, 0o644)
	}
	type gen struct {
		Generations []struct {
			New     []int  `json:"new_ids"`
			Stopped string `json:"stopped"`
		} `json:"generations"`
		Decoding string `json:"decoding"`
	}
	get := func(args ...string) gen {
		t.Helper()
		out, _, err := run(append([]string{"generate", "--model", dir, "--ids", "1,5,9", "--max-new", "8"}, args...)...)
		var g gen
		if err != nil || json.Unmarshal([]byte(out), &g) != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return g
	}
	if g := get(); fmt.Sprint(g.Generations[0].New) != "[25 136 110]" || g.Generations[0].Stopped != "eos" {
		t.Errorf("stop at EOS: %+v", g.Generations[0])
	}
	if g := get("--ignore-eos"); len(g.Generations[0].New) != 8 || g.Generations[0].Stopped != "max_new" {
		t.Errorf("--ignore-eos: %+v", g.Generations[0])
	}
	a, b := get("--ignore-eos", "--temperature", "2", "--seed", "4"), get("--ignore-eos", "--temperature", "2", "--seed", "4")
	if fmt.Sprint(a) != fmt.Sprint(b) || !strings.Contains(a.Decoding, "seed 4") {
		t.Errorf("same seed: %v vs %v", a, b)
	}
	if g := get("--ignore-eos", "--top-k", "1", "--seed", "9"); fmt.Sprint(g.Generations[0].New) != fmt.Sprint(get("--ignore-eos").Generations[0].New) {
		t.Errorf("top-k 1: %v", g.Generations[0].New)
	}
	for _, bad := range [][]string{{"--top-p", "0"}, {"--top-k", "-1"}, {"--temperature", "0"}, {"--seed", "3"}} {
		_, _, err := run(append([]string{"generate", "--model", dir, "--ids", "1,5,9"}, bad...)...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
