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
