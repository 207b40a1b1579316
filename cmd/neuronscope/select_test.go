package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// selectFixture writes, from the world's questions (prompt and answer as one sentence),
// candidates with 12 sentences of each of 5 relations and a target set of 4 other born_in
// sentences; it returns the two files and each candidate's relation.
func selectFixture(t *testing.T) (data, target string, rel []string) {
	t.Helper()
	f, err := os.Open("../../testdata/world/eval_facts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	taken := map[string]int{}
	var cands, targets []string
	for dec.More() {
		var q struct{ Prompt, Answer, Relation, Language string }
		if err := dec.Decode(&q); err != nil {
			t.Fatal(err)
		}
		switch q.Relation {
		case "born_in", "capital_of", "speaks", "works_for", "mother_of":
		default:
			continue
		}
		key := q.Relation + "/" + q.Language
		taken[key]++
		s := q.Prompt + " " + q.Answer
		switch {
		case q.Relation == "born_in" && taken[key] == 4:
			targets = append(targets, s)
		case taken[key] <= 3:
			cands, rel = append(cands, s), append(rel, q.Relation)
		}
	}
	dir := t.TempDir()
	data, target = filepath.Join(dir, "cands.txt"), filepath.Join(dir, "target.txt")
	if err := os.WriteFile(data, []byte(strings.Join(cands, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte(strings.Join(targets, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return data, target, rel
}

// TestSelectCommand: on the demo model, the 12 candidates closest to four born_in sentences
// under --normalise are born_in sentences (measured: 12 of 12; without --normalise 5 of 12,
// the rest works_for and speaks sentences, which share the born_in templates' subjects); selection.json scores every candidate and lists the
// selection in score order; selected.txt holds the selected texts; bad input is an error
// before any output.
func TestSelectCommand(t *testing.T) {
	data, target, rel := selectFixture(t)
	out := filepath.Join(t.TempDir(), "sel")
	stdout, _, err := run("select", "--model", "../../testdata/world-llama", "--data", data, "--target", target, "--n", "12", "--normalise", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "selection.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sf selectionFile
	if err := json.Unmarshal(raw, &sf); err != nil {
		t.Fatal(err)
	}
	if sf.SchemaVersion != selectSchema || sf.Candidates != len(rel) || len(sf.Scores) != len(rel) || len(sf.Selected) != 12 || sf.Targets != 4 ||
		len(sf.Settings.Points) != 4 || sf.Settings.Width != 4*512 || len(sf.Inputs) != 2 {
		t.Fatalf("selection.json: %d candidates, %d scores, %d selected, %d targets, settings %+v", sf.Candidates, len(sf.Scores), len(sf.Selected), sf.Targets, sf.Settings)
	}
	hits := 0
	for k, it := range sf.Selected {
		if k > 0 && it.Score > sf.Selected[k-1].Score {
			t.Errorf("selected %d has score %v above its predecessor's %v", k, it.Score, sf.Selected[k-1].Score)
		}
		if it.Score != sf.Scores[it.Index] || it.Line != it.Index+1 {
			t.Errorf("selected %+v: score %v in the list, line %d", it, sf.Scores[it.Index], it.Line)
		}
		if rel[it.Index] == "born_in" {
			hits++
		}
	}
	t.Logf("%d of 12 selected are born_in (12 of %d candidates are)\n%s", hits, len(rel), stdout)
	if hits < 11 {
		t.Errorf("%d of 12 selected sentences are born_in; want ≥ 11 (chance: 2.4)", hits)
	}
	txt, _ := os.ReadFile(filepath.Join(out, "selected.txt"))
	lines := strings.Split(strings.TrimSpace(string(txt)), "\n")
	if len(lines) != 12 || lines[0] != sf.Selected[0].Text {
		t.Errorf("selected.txt: %d lines, first %q, want 12 and %q", len(lines), lines[0], sf.Selected[0].Text)
	}
	// an SAE's latents instead of neurons (random weights: only the plumbing is checked)
	outSAE := filepath.Join(t.TempDir(), "sel-sae")
	if _, _, err := run("select", "--model", "../../testdata/world-llama", "--data", data, "--target", target, "--n", "5",
		"--sae", saeDir(t, 2, 512, 64, 8), "--out", outSAE); err != nil {
		t.Fatal(err)
	}
	var ss selectionFile
	raw, _ = os.ReadFile(filepath.Join(outSAE, "selection.json"))
	if err := json.Unmarshal(raw, &ss); err != nil || ss.Settings.Units != "sae" || ss.Settings.Width != 64 || len(ss.Selected) != 5 || len(ss.Inputs) != 3 {
		t.Errorf("--sae: %v, settings %+v, %d selected, %d inputs", err, ss.Settings, len(ss.Selected), len(ss.Inputs))
	}
	for _, bad := range [][]string{
		{"--sae", saeDir(t, 2, 500, 8, 2), "--n", "3"},
		{"--sae", saeDir(t, 2, 512, 8, 2), "--layers", "1", "--n", "3"},
		{"--n", "1000"},
		{"--n", "0"},
		{"--pool", "median", "--n", "3"},
		{"--target", filepath.Join(t.TempDir(), "missing.txt"), "--n", "3"},
	} {
		o := filepath.Join(t.TempDir(), "o")
		args := append([]string{"select", "--model", "../../testdata/world-llama", "--data", data, "--target", target, "--out", o}, bad...)
		if _, _, err := run(args...); err == nil {
			t.Errorf("%v: no error", bad)
		} else if _, serr := os.Stat(o); serr == nil {
			t.Errorf("%v: %v, and wrote %s", bad, err, o)
		}
	}
}
