package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

const worldGPT2 = "../../testdata/world-gpt2"

// worldTrace traces a few world sentences through the GPT-2 demo model (all four layers'
// mlp.hook_post, BOS first).
func worldTrace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "p.jsonl")
	var b strings.Builder
	for _, s := range []string{"ne tisafa pe Kullebyr bi Pornyva", "Mara kra kan hokot got Felul", "tsetsa Vimikyn tlo wex Tufinri",
		"ne bala tala sasape pe ne mitefe", "ne fisa ledomi tabe pe ne menosi", "pi ne defeni tabe ne pabama tala"} {
		q, _ := json.Marshal(s)
		b.Write(append(q, '\n'))
	}
	os.WriteFile(jsonl, []byte(b.String()), 0o644)
	out := filepath.Join(dir, "trace.safetensors")
	if _, _, err := run("trace", "--model", worldGPT2, "--jsonl", jsonl, "--bos", "always", "--hooks", "blocks.*.mlp.hook_post", "--out", out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDecomposeSNMF(t *testing.T) {
	trace := worldTrace(t)
	out := filepath.Join(t.TempDir(), "feat")
	stdout, _, err := run("decompose", "snmf", "--acts", trace, "--layer", "1", "--rank", "6", "--sparsity", "0.02",
		"--iters", "40", "--model", worldGPT2, "--save-g", "--json", "--no-progress", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	var sum snmfSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Tap != "blocks.1.mlp.hook_post" || sum.Rank != 6 || sum.DMLP != 512 || sum.Dropped.BOS != 6 || sum.Iterations != 40 {
		t.Errorf("summary %+v", sum)
	}
	o, err := decompose.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if o.G == nil || len(o.F) != 512*6 || o.Report.Tokens != sum.Tokens || o.Report.Features[0].Vocab == nil ||
		o.Report.Features[0].TopTokens[0].Context == "" || o.Report.Settings.BOS != 2 || o.Report.Provenance.ModelDir != worldGPT2 {
		t.Errorf("output: %d tokens, report %+v", o.Report.Tokens, o.Report.Settings)
	}
	// Without --model, --drop-bos auto finds the BOS id through the trace's provenance.
	out2 := filepath.Join(t.TempDir(), "feat2")
	if _, _, err := run("decompose", "snmf", "--acts", trace, "--hook", "blocks.1.mlp.hook_post", "--rank", "6", "--iters", "5", "--no-progress", "--out", out2); err != nil {
		t.Fatal(err)
	}
	if o2, err := decompose.Read(out2); err != nil || o2.Report.Tokens != sum.Tokens || o2.G != nil {
		t.Errorf("second run: %v", err)
	}
}

// TestDecomposeStream: --model --data streams the dataset through the model and gives the same
// matrix as tracing the same contexts: every real token except BOS, pads never counted.
func TestDecomposeStream(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.txt")
	os.WriteFile(data, []byte("ne tisafa pe Kullebyr bi Pornyva\nMara kra kan hokot got Felul\n\ntsetsa Vimikyn tlo wex Tufinri\n"), 0o644)
	out := filepath.Join(dir, "feat")
	stdout, _, err := run("decompose", "snmf", "--model", worldGPT2, "--data", data, "--bos", "always", "--layer", "1", "--rank", "4",
		"--iters", "10", "--batch", "2", "--json", "--no-progress", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	var sum snmfSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	// The same three documents traced (BOS first), then factorised from the trace file.
	jsonl := filepath.Join(dir, "d.jsonl")
	os.WriteFile(jsonl, []byte("\"ne tisafa pe Kullebyr bi Pornyva\"\n\"Mara kra kan hokot got Felul\"\n\"tsetsa Vimikyn tlo wex Tufinri\"\n"), 0o644)
	trace := filepath.Join(dir, "t.safetensors")
	if _, _, err := run("trace", "--model", worldGPT2, "--jsonl", jsonl, "--bos", "always", "--hooks", "blocks.1.mlp.hook_post", "--out", trace); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(dir, "feat2")
	stdout2, _, err := run("decompose", "snmf", "--acts", trace, "--model", worldGPT2, "--layer", "1", "--rank", "4", "--iters", "10", "--json", "--no-progress", "--out", out2)
	if err != nil {
		t.Fatal(err)
	}
	var sum2 snmfSummary
	json.Unmarshal([]byte(stdout2), &sum2)
	if sum.Tokens != sum2.Tokens || sum.Tokens == 0 || sum.Dropped.BOS != 3 || sum.Dropped.Pad != 0 || sum.Tap != "blocks.1.mlp.hook_post" {
		t.Errorf("streamed %+v, traced %+v", sum, sum2)
	}
	// Same rows, same init: the fits agree up to float32 rounding of differently padded batches.
	if math.Abs(sum.BestLoss-sum2.BestLoss) > 1e-5*sum2.BestLoss {
		t.Errorf("streamed best loss %g, traced %g", sum.BestLoss, sum2.BestLoss)
	}
}

func TestDecomposeRowsFile(t *testing.T) {
	dir := t.TempDir()
	rows := make([]float32, 50*8)
	for i := range rows {
		rows[i] = float32(math.Sin(float64(i)))
	}
	path := filepath.Join(dir, "rows.safetensors")
	if err := safetensors.WriteFile(path, []safetensors.WriteTensor{safetensors.F32("acts", []int{50, 8}, rows)}, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o")
	if _, _, err := run("decompose", "snmf", "--acts", path, "--layer", "0", "--rank", "3", "--sparsity", "0.25", "--iters", "20", "--no-progress", "--out", out); err != nil {
		t.Fatal(err)
	}
	o, err := decompose.Read(out)
	if err != nil || o.Report.Tokens != 50 || o.Report.DMLP != 8 || len(o.Report.Features[0].Neurons) > 2 {
		t.Fatalf("rows file: %v", err)
	}
}

// TestDecomposeBadInput: the bad inputs are usage errors (exit code 2) naming the flag
// or file, and nothing is written.
func TestDecomposeBadInput(t *testing.T) {
	trace := worldTrace(t)
	dir := t.TempDir()
	nanFile := filepath.Join(dir, "nan.safetensors")
	nan := make([]float32, 20*4)
	nan[13] = float32(math.NaN())
	safetensors.WriteFile(nanFile, []safetensors.WriteTensor{safetensors.F32("acts", []int{20, 4}, nan)}, nil)
	oneTok := filepath.Join(dir, "one.safetensors")
	if _, _, err := run("trace", "--model", worldGPT2, "--ids", "2", "--ids", "2", "--hooks", "blocks.0.mlp.hook_post", "--out", oneTok); err != nil {
		t.Fatal(err)
	}
	base := []string{"decompose", "snmf", "--no-progress"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--acts", trace, "--layer", "1", "--rank", "600"}, "--rank: 600 exceeds min(d_mlp, n)"},
		{[]string{"--acts", trace, "--layer", "1", "--sparsity", "0"}, "--sparsity 0"},
		{[]string{"--acts", trace, "--layer", "1", "--sparsity", "1.5"}, "--sparsity 1.5"},
		{[]string{"--acts", trace, "--layer", "7"}, `no tensor "blocks.7.mlp.hook_post"`},
		{[]string{"--acts", trace, "--layer", "7", "--model", worldGPT2}, "--layer 7 is out of range"},
		{[]string{"--acts", trace, "--layer", "1", "--hook", "mlp.hook_pre"}, `no tensor "blocks.1.mlp.hook_pre"`},
		{[]string{"--acts", nanFile, "--layer", "0", "--rank", "2"}, "row 3, neuron 1 is NaN"},
		{[]string{"--acts", oneTok, "--layer", "0"}, "no tokens left"},
		{[]string{"--acts", filepath.Join(dir, "absent.safetensors"), "--layer", "0"}, "--acts"},
		{[]string{"--acts", trace}, "--layer is required"},
		{[]string{"--acts", trace, "--layer", "1", "--init", "nmf"}, "--init"},
		{[]string{"--acts", trace, "--layer", "1", "--max-acts-mem", "64KiB"}, "exceeds the activation memory limit"},
		{[]string{"--data", filepath.Join(dir, "absent.txt"), "--model", worldGPT2, "--layer", "1"}, "--data"},
		{[]string{"--data", "../../testdata/world/train.txt", "--layer", "1"}, "--data needs --model"},
		{[]string{"--data", "../../testdata/world/train.txt", "--model", worldGPT2, "--layer", "9"}, "--layer 9 is out of range"},
		{[]string{"--data", "../../testdata/world/train.txt", "--model", worldGPT2, "--layer", "1", "--hook", "mlp.hook_nope"}, "--hook"},
		{[]string{"--data", "../../testdata/world/train.txt", "--model", worldGPT2, "--layer", "1", "--max-acts-mem", "1MiB"}, "more than --max-acts-mem"},
		{[]string{"--data", "../../testdata/world/train.txt", "--acts", trace, "--layer", "1"}, "not both"},
		{[]string{"--acts", trace, "--layer", "1", "--model", "../../testdata/tiny-llama"}, "d_mlp"},
	}
	for _, c := range cases {
		out := filepath.Join(dir, "out")
		args := append(append(append([]string{}, base...), c.args...), "--out", out)
		_, _, err := run(args...)
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want a usage error containing %q", c.args, err, c.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: output written despite the error", c.args)
			os.RemoveAll(out)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for s, want := range map[string]int64{"4GiB": 4 << 30, "512MiB": 512 << 20, "2GB": 2e9, "1000": 1000, "1.5KiB": 1536} {
		if got, err := parseBytes(s); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "-1GiB", "lots", "0"} {
		if _, err := parseBytes(s); err == nil {
			t.Errorf("parseBytes(%q) accepted", s)
		}
	}
}
