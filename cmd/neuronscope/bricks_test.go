package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// worldTrainHead writes the first n sentences of the world's train.txt to a temp file.
func worldTrainHead(t *testing.T, n int) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "world", "train.txt"))
	if err != nil {
		t.Skipf("world training text absent: %v", err)
	}
	lines := strings.SplitN(string(data), "\n", n+1)
	p := filepath.Join(t.TempDir(), "train.txt")
	if err := os.WriteFile(p, []byte(strings.Join(lines[:n], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readOutputs reads every file of dir (not its subdirectories).
func readOutputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

// TestBricksCommand: the command partitions the layer, writes bricks.json, a label per brick
// (claim: the group it serves most, verified on both measures) and the neuron set, and two
// runs with the same seed write the same bytes.
func TestBricksCommand(t *testing.T) {
	dir, eval, _, texts := verifyFixture(t)
	data := worldTrainHead(t, 120)
	out := filepath.Join(t.TempDir(), "bricks")
	args := []string{"bricks", "--model", dir, "--data", data, "--layer", "1", "--k", "4", "--seed", "3", "--group-key", "language",
		"--eval", eval, "--text", texts, "--random", "2", "--random-partitions", "50", "--resamples", "50", "--no-progress",
		"--claim-measure", "perplexity", "--out", out}
	stdout, _, err := run(args...)
	if err != nil {
		t.Fatal(err)
	}
	first := readOutputs(t, out)
	var bf bricksFile
	if err := json.Unmarshal(first["bricks.json"], &bf); err != nil {
		t.Fatal(err)
	}
	p, a := bf.Partition, bf.Analysis
	sum := 0
	for _, s := range p.Sizes {
		sum += s
	}
	if bf.SchemaVersion != bricksSchema || p.Bricks != 4 || p.Width != 48 || sum+p.Constant != 48 || len(a.Bricks) != 4 ||
		len(a.Groups) != 4 || len(bf.Matrices) != 2 || bf.Settings.Tap != "blocks.1.mlp.hook_post" || bf.CoActivation.Rows == 0 ||
		a.Specialisation.R != 50 || bf.Provenance.Seed == nil || len(bf.Inputs) != 3 {
		t.Fatalf("bricks.json: %s", first["bricks.json"][:min(2000, len(first["bricks.json"]))])
	}
	lf, err := labels.ReadFile(filepath.Join(out, "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	langs := []string{"korrak", "pelan", "shivu", "tlaxo"}
	for b, l := range lf.Labels {
		if l.Set != "brick-0"+string(rune('0'+b)) || !slices.Contains(langs, l.Claim.Value) || l.Claim.Kind != labels.KindLanguage ||
			len(l.Verifications) != 2 || l.Verifications[0].Measure != "perplexity" || l.Verifications[1].Measure != "accuracy" ||
			l.Verdict != l.Verifications[0].Verdict || len(l.Units) != p.Sizes[b] || l.Claim.Value != langs[a.Bricks[b].Top] {
			t.Errorf("label %d: %+v", b, l)
		}
	}
	set, err := hooks.ReadNeuronSet(filepath.Join(out, "neurons.json"))
	if err != nil || len(set.Groups) != 4 || set.Len() != sum {
		t.Errorf("neurons.json: %v, %+v", err, set)
	}
	if !strings.Contains(stdout, "mean specialisation of the bricks") || !strings.Contains(stdout, "perplexity") {
		t.Errorf("stdout:\n%s", stdout)
	}
	// the same seed again: the same bytes (the command line, which names the same --out, too)
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(args...); err != nil {
		t.Fatal(err)
	}
	for name, want := range first {
		if got := readOutputs(t, out)[name]; !bytes.Equal(got, want) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
}

// TestBricksBadInput: bad flags and inputs are usage errors naming the flag or file, and
// leave no output behind.
func TestBricksBadInput(t *testing.T) {
	dir, eval, _, texts := verifyFixture(t)
	data := worldTrainHead(t, 30)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	evalData, _ := os.ReadFile(eval)
	empty := filepath.Join(tmp, "empty-group.jsonl")
	os.WriteFile(empty, []byte(strings.Replace(string(evalData), `"language":"pelan"`, `"language":""`, 1)), 0o644)
	out := filepath.Join(tmp, "out", "bricks")
	base := []string{"bricks", "--model", dir, "--data", data, "--eval", eval, "--group-key", "language", "--k", "3", "--random", "2",
		"--random-partitions", "10", "--no-progress"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--layer", "7", "--out", out}, "--layer"},
		{[]string{"--hook-site", "attn.hook_pattern", "--out", out}, "--hook-site"},
		{[]string{"--hook-site", "hook_embed", "--out", out}, "--hook-site"},
		{[]string{"--group-key", "planet", "--out", out}, "planet"},
		{[]string{"--eval", empty, "--out", out}, "empty group"},
		{[]string{"--eval", filepath.Join(tmp, "none.jsonl"), "--out", out}, "--eval"},
		{[]string{"--k", "1000", "--out", out}, "--k"},
		{[]string{"--random", "1", "--out", out}, "--random"},
		{[]string{"--claim-measure", "perplexity", "--out", out}, "--text"},
		{[]string{"--text", texts, "--group-key", "relation", "--out", out}, "--text"},
		{[]string{"--out", file}, "--out"},
		{[]string{"--out", filepath.Join(file, "x")}, "--out"},
		{[]string{"--data", "x.csv", "--out", out}, "--data"},
	} {
		_, _, err := run(append(slices.Clone(base), c.args...)...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error naming %s", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "out")); err == nil {
		t.Error("a failed run left its output directory behind")
	}
}
