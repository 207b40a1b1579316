package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
)

// smallWorldEval writes the world's eval questions of three relations to a temp file.
func smallWorldEval(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../testdata/world/eval_facts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, r := range []string{`"capital_of"`, `"ceo_of"`, `"located_in_continent"`} {
			if strings.Contains(line, `"relation":`+r) {
				keep = append(keep, line)
			}
		}
	}
	p := filepath.Join(t.TempDir(), "eval.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindRelationCLI(t *testing.T) {
	eval := smallWorldEval(t)
	dir := t.TempDir()
	out, held := filepath.Join(dir, "rel.json"), filepath.Join(dir, "held.jsonl")
	base := []string{"find", "relation", "--model", "../../testdata/world-llama", "--eval", eval, "--heldout", "16", "--top", "20"}
	stdout, _, err := run(append(base, "--out", out, "--heldout-out", held)...)
	if err != nil {
		t.Fatal(err)
	}
	set, err := hooks.ReadNeuronSet(out)
	if err != nil || len(set.Groups) != 3 || set.Provenance == nil || set.Provenance.ConfigHash == "" || !strings.Contains(stdout, "capital_of") {
		t.Fatalf("set %+v, %v\n%s", set, err, stdout)
	}
	if g, _ := set.Group("ceo_of"); len(g) != 20 || g[0].Score < g[19].Score {
		t.Errorf("ceo_of group %v", g)
	}
	lines, _ := os.ReadFile(held)
	if n := strings.Count(string(lines), "\n"); n != 48 {
		t.Errorf("%d held-out lines, want 48", n)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(base, "--out", filepath.Join(dir, "nodir", "x.json")), "does not exist"},
		{append(base, "--out", filepath.Join(dir, "a.json"), "--taps", "hook_embed"), "--taps"},
		{append(base, "--out", filepath.Join(dir, "b.json"), "--top", "1000000"), "top"},
		{append(base[:len(base)-4], "--heldout", "50", "--out", filepath.Join(dir, "c.json")), "held out"},
	} {
		_, _, err := run(c.args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error with %q", c.args[len(c.args)-2:], err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.json")); err == nil {
		t.Error("a failed run wrote its output")
	}
}

// TestFindRelationBadInput: a tap the model lacks, --top above the number of units, a relation
// the model answers no detection prompt of: a usage error (exit 2) naming the flag or file,
// checked before any forward pass where it can be, and no output.
func TestFindRelationBadInput(t *testing.T) {
	eval := smallWorldEval(t)
	dir := t.TempDir()
	data, _ := os.ReadFile(eval)
	// capital_of asked for a function word the model never gives there
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.Contains(line, `"relation":"capital_of"`) {
			i := strings.Index(line, `"answer":"`)
			j := strings.Index(line[i+10:], `"`)
			line = line[:i+10] + "ne" + line[i+10+j:]
		}
		lines = append(lines, line)
	}
	wrong := filepath.Join(dir, "wrong.jsonl")
	os.WriteFile(wrong, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	out, held := filepath.Join(dir, "rel.json"), filepath.Join(dir, "held.jsonl")
	for _, c := range []struct {
		model, eval string
		args        []string
		want        string
	}{
		{"world-gpt2", eval, []string{"--taps", "mlp.hook_pre_linear"}, "--taps mlp.hook_pre_linear: the model (gpt2) has no such per-layer point"},
		{"world-llama", eval, []string{"--top", "1000000"}, "--top 1000000: the taps [mlp.hook_pre mlp.hook_pre_linear hook_mlp_out] have only 4608 units"},
		{"world-gpt2", eval, []string{"--top", "2561"}, "--top 2561: the taps [mlp.hook_pre hook_mlp_out] have only 2560 units"},
		{"world-llama", wrong, nil, "--eval " + wrong + ": relation capital_of: the model answers none of its"},
	} {
		args := append([]string{"find", "relation", "--model", "../../testdata/" + c.model, "--eval", c.eval, "--heldout", "16",
			"--out", out, "--heldout-out", held}, c.args...)
		_, _, err := run(args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error with %q", c.args, err, c.want)
		}
		for _, f := range []string{out, held} {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Fatalf("%v left %s behind", c.args, f)
			}
		}
	}
}
