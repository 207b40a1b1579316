package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// A find concept set (gate, up and attention taps mixed) verifies through verify: every
// continent group on its own items, "general" on all of them pooled, suppress and enhance,
// with random sets of the same per-layer, per-tap composition and bootstrap p-values.
func TestVerifyConceptCLI(t *testing.T) {
	dir := t.TempDir()
	task, control, exclude := conceptFiles(t, dir, 6)
	set := filepath.Join(dir, "concept.json")
	if _, _, err := run("find", "concept", "--model", worldLlama, "--task", task, "--control", control, "--exclude", exclude,
		"--group-key", "continent", "--mlp-rate", "0.02", "--attn-rate", "0.01", "--specific-rate", "0.01", "--z", "0", "--out", set); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "labels.json")
	stdout, _, err := run("verify", "--model", worldLlama, "--neurons", set, "--eval", task, "--group-key", "continent",
		"--experiment", "matrix,enhance", "--measure", "answer_prob", "--random", "3", "--resamples", "100", "--no-progress", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := labels.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := hooks.ReadNeuronSet(set)
	if len(lf.Labels) != len(ns.Groups) || len(lf.Matrices) != 2 {
		t.Fatalf("%d labels for %d groups, %d matrices\n%s", len(lf.Labels), len(ns.Groups), len(lf.Matrices), stdout)
	}
	sites := map[hooks.Site]bool{}
	for _, l := range lf.Labels {
		if len(l.Verifications) != 2 || l.Verifications[0].Experiment != "matrix" || l.Verifications[1].Experiment != "enhance" ||
			l.Verifications[0].PBootstrap == nil || l.Verifications[1].Random.N != 3 {
			t.Errorf("label %s: %+v", l.Set, l.Verifications)
		}
		if l.Set == "general" && (l.Verifications[0].Others != nil || l.Claim.Key != "continent") {
			t.Errorf("general is not verified on every item: %+v", l)
		}
		for _, u := range l.Units {
			n, _ := u.Neuron()
			sites[n.Site] = true
		}
	}
	if !sites[hooks.MLPPre] || !sites[hooks.AttnQ] && !sites[hooks.AttnK] && !sites[hooks.AttnV] {
		t.Errorf("the set should mix gate and attention taps: %v", sites)
	}
	if !strings.Contains(stdout, "enhance") && !strings.Contains(stdout, "scale ×2") {
		t.Errorf("output:\n%s", stdout)
	}
}

// find path → verify --experiment path: a label per kind, the item table with its
// comparisons and the path similarity with a permutation p-value.
func TestVerifyPathCLI(t *testing.T) {
	dir := t.TempDir()
	lines, fields := worldLines(t, "eval_facts.jsonl")
	var b strings.Builder
	n := 0
	for i := 0; i < len(lines) && n < 6; i += 97 {
		if fields[i]["language"] == "pelan" || n%2 == 1 {
			b.WriteString(lines[i] + "\n")
			n++
		}
	}
	eval := filepath.Join(dir, "eval.jsonl")
	os.WriteFile(eval, []byte(b.String()), 0o644)
	set := filepath.Join(dir, "paths.json")
	if _, _, err := run("find", "path", "--model", worldLlama, "--eval", eval, "--steps", "4", "--compare", "relation", "--out", set); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "labels.json")
	stdout, _, err := run("verify", "--model", worldLlama, "--neurons", set, "--eval", eval, "--experiment", "path", "--random", "3",
		"--resamples", "100", "--permutations", "50", "--no-progress", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := labels.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(lf.Labels) != 3 || len(lf.ItemEffects) != 1 || len(lf.ItemEffects[0].Rows) != 6 || len(lf.ItemEffects[0].Similarity) != 1 ||
		lf.ItemEffects[0].Similarity[0].Key != "relation" || lf.ItemEffects[0].Similarity[0].Permutations != 50 {
		t.Fatalf("labels %d, item effects %+v\n%s", len(lf.Labels), lf.ItemEffects, stdout)
	}
	for _, want := range []string{"path − activation (remove)", "path similarity by relation", "activation_topk", "wrote " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// the label file names its inputs
	roles := map[string]bool{}
	for _, in := range lf.Inputs {
		roles[in.Role] = true
	}
	if !roles["neurons"] || !roles["eval"] {
		t.Errorf("inputs %+v", lf.Inputs)
	}
}

// find knowledge --neurons → verify --experiment knowledge: Dai et al.'s own-fact vs
// other-relation table per relation and a label per fact.
func TestVerifyKnowledgeCLI(t *testing.T) {
	dir := t.TempDir()
	facts := filepath.Join(dir, "facts.jsonl")
	os.WriteFile(facts, []byte(`{"id":"f0","relation":"capital_of","prompts":["Rofa bilo","hu Rofa ku hakhu kra"],"target":"Tufinri"}
{"id":"f1","relation":"capital_of","prompts":["Tonry bilo"],"target":"Diki"}
{"id":"f2","relation":"born_in","prompts":["di ne tisafa pe Dyryful bi","hu Dyryful ku hakhu kra"],"target":"Pisbyr"}
`), 0o644)
	set := filepath.Join(dir, "kn.json")
	if _, _, err := run("find", "knowledge", "--model", worldLlama, "--data", facts, "--steps", "4", "--out", filepath.Join(dir, "kn-report.json"), "--neurons", set); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "labels.json")
	stdout, _, err := run("verify", "--model", worldLlama, "--neurons", set, "--facts", facts, "--experiment", "knowledge", "--random", "3",
		"--resamples", "100", "--no-progress", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := labels.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(lf.Labels) != 3 || lf.Labels[0].Claim.Kind != labels.KindFact || len(lf.ItemEffects) != 1 || len(lf.ItemEffects[0].Rows) != 4 ||
		lf.ItemEffects[0].Rows[0].Other == nil {
		t.Fatalf("labels %+v\nitem effects %+v", lf.Labels, lf.ItemEffects)
	}
	for _, want := range []string{"relation-level groups", "own−other", "born_in"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

// Bad input to the new experiments: a usage error (exit 2) naming the flag or file, and no
// output file.
func TestVerifyItemsBadInput(t *testing.T) {
	dir := t.TempDir()
	eval := filepath.Join(dir, "eval.jsonl")
	lines, _ := worldLines(t, "eval_facts.jsonl")
	os.WriteFile(eval, []byte(strings.Join(lines[:3], "\n")+"\n"), 0o644)
	other := filepath.Join(dir, "other.jsonl")
	os.WriteFile(other, []byte(strings.Join(lines[500:503], "\n")+"\n"), 0o644)
	paths := filepath.Join(dir, "paths.json")
	if _, _, err := run("find", "path", "--model", worldLlama, "--eval", eval, "--steps", "2", "--out", paths); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	noPos := write("nopos.json", `{"schema_version":"neuronscope.neurons/v1","method":"neuronpath","tap":"mlp.hook_post","groups":{"path":[{"layer":0,"index":1}]}}`)
	var st map[string]any
	raw, _ := os.ReadFile(paths)
	json.Unmarshal(raw, &st)
	items := st["settings"].(map[string]any)["items"].([]any)
	delete(items[1].(map[string]any), "position")
	b, _ := json.Marshal(st)
	lost := write("lost.json", string(b))
	gated := write("gated.json", `{"schema_version":"neuronscope.neurons/v1","method":"culnig","tap":"mlp.hook_pre","groups":{
		"general":[{"layer":0,"index":1},{"layer":1,"index":2,"tap":"mlp.hook_pre_linear"},{"layer":0,"index":3,"tap":"attn.hook_q"}]}}`)
	facts := write("facts.jsonl", `{"id":"f0","relation":"capital_of","prompts":["Rofa bilo"],"target":"Tufinri"}
{"id":"f9","relation":"born_in","prompts":["hu Dyryful ku hakhu kra"],"target":"Pisbyr"}
`)
	kn := write("kn.json", `{"schema_version":"neuronscope.neurons/v1","method":"knowledge","tap":"mlp.hook_post","groups":{"f0":[{"layer":0,"index":1}],"f1":[]}}`)
	out := filepath.Join(dir, "out", "labels.json")
	os.MkdirAll(filepath.Dir(out), 0o755)
	worldGPT2 := filepath.Join("..", "..", "testdata", "world-gpt2")
	base := []string{"verify", "--model", worldLlama, "--no-progress", "--random", "2", "--out", out}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--neurons", noPos, "--eval", eval, "--experiment", "path"}, "--neurons " + noPos},
		{[]string{"--neurons", noPos, "--eval", eval, "--experiment", "path"}, "no item positions"},
		{[]string{"--neurons", lost, "--eval", eval, "--experiment", "path"}, "has no position"},
		{[]string{"--neurons", paths, "--eval", other, "--experiment", "path"}, "--eval " + other},
		{[]string{"--neurons", paths, "--experiment", "path"}, "needs --eval"},
		{[]string{"--neurons", paths, "--eval", eval, "--experiment", "path,matrix"}, "run alone"},
		{[]string{"--neurons", paths, "--eval", eval, "--experiment", "path", "--positions", "last"}, "drop --intervention"},
		{[]string{"--neurons", paths, "--eval", eval, "--experiment", "path", "--compare", "colour"}, "--compare colour"},
		{[]string{"--neurons", paths, "--eval", eval, "--experiment", "path", "--permutations", "0"}, "--permutations"},
		{[]string{"--neurons", kn, "--experiment", "knowledge"}, "needs --facts"},
		{[]string{"--neurons", kn, "--facts", facts, "--experiment", "knowledge"}, `no group "f9"`},
		{[]string{"--neurons", kn, "--facts", filepath.Join(dir, "none.jsonl"), "--experiment", "knowledge"}, "--facts"},
		{[]string{"--neurons", kn, "--facts", facts, "--eval", eval, "--experiment", "matrix"}, "--facts is for"},
		{[]string{"--neurons", gated, "--eval", eval, "--model", worldGPT2, "--group-key", "relation"}, "--neurons " + gated},
		{[]string{"--neurons", gated, "--eval", eval, "--group-key", "relation", "--random-pool", "mlp.hook_pre,attn.x"}, "--random-pool"},
	} {
		_, _, err := run(append(append([]string(nil), base...), c.args...)...)
		var u usageError
		switch {
		case err == nil:
			t.Errorf("%v: no error", c.args)
		case !errors.As(err, &u):
			t.Errorf("%v: not a usage error: %v", c.args, err)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("%v: error %q lacks %q", c.args, err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v left %s behind", c.args, out)
		}
	}
	// the path set found on another model
	if _, _, err := run("verify", "--model", worldGPT2, "--no-progress", "--neurons", paths, "--eval", eval, "--experiment", "path", "--out", out); err == nil ||
		!strings.Contains(err.Error(), "another model") {
		t.Errorf("a path set of another model: %v", err)
	}
}
