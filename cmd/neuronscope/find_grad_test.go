package main

import (
	"bufio"
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
)

var (
	worldLlama = filepath.Join("..", "..", "testdata", "world-llama")
	worldDir   = filepath.Join("..", "..", "testdata", "world")
)

// worldLines reads a JSONL file of the world as raw lines with their decoded fields.
func worldLines(t *testing.T, name string) ([]string, []map[string]any) {
	t.Helper()
	f, err := os.Open(filepath.Join(worldDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	var fields []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		lines, fields = append(lines, sc.Text()), append(fields, m)
	}
	return lines, fields
}

// conceptFiles writes small task, control and exclusion sets: per continent the first n task
// items (and their control items), and the first 2 exclusion items.
func conceptFiles(t *testing.T, dir string, n int) (task, control, exclude string) {
	tl, tf := worldLines(t, "concept_task.jsonl")
	cl, _ := worldLines(t, "concept_control.jsonl")
	xl, xf := worldLines(t, "concept_exclude.jsonl")
	var tb, cb, xb strings.Builder
	per, perX := map[any]int{}, map[any]int{}
	for i := range tl {
		if k := tf[i]["continent"]; per[k] < n {
			per[k]++
			tb.WriteString(tl[i] + "\n")
			cb.WriteString(cl[i] + "\n")
		}
	}
	for i := range xl {
		if k := xf[i]["continent"]; perX[k] < 2 {
			perX[k]++
			xb.WriteString(xl[i] + "\n")
		}
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("task.jsonl", tb.String()), write("control.jsonl", cb.String()), write("exclude.jsonl", xb.String())
}

func TestFindConceptCLI(t *testing.T) {
	dir := t.TempDir()
	task, control, exclude := conceptFiles(t, dir, 4)
	out := filepath.Join(dir, "concept.json")
	stdout, _, err := run("find", "concept", "--model", worldLlama, "--task", task, "--control", control, "--exclude", exclude,
		"--group-key", "continent", "--mlp-rate", "0.02", "--specific-rate", "0.01", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	set, err := hooks.ReadNeuronSet(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(worldLlama)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if set.Method != "culnig" || set.Tap != hooks.MLPPre || len(set.Groups) != 6 || set.Groups[0].Name != "general" ||
		set.Provenance == nil || set.Provenance.ConfigHash != m.Provenance().ConfigHash {
		t.Fatalf("set %s %v groups %v provenance %+v", set.Method, set.Tap, set.Names(), set.Provenance)
	}
	gen := set.Groups[0].Neurons
	if len(gen) == 0 || len(gen) > 40+2 || !strings.Contains(stdout, "general") {
		t.Errorf("general group of %d neurons (at most 2%% of 2048 gate units and 0.2%% of the attention units); stdout %q", len(gen), stdout)
	}
	for _, g := range set.Groups {
		if len(g.Neurons) > 0 {
			if err := m.Catalog().CheckNeurons(hooks.Plain(g.Neurons)); err != nil {
				t.Errorf("group %s: %v", g.Name, err)
			}
		}
		for _, n := range g.Neurons {
			if n.Site != hooks.MLPPre && !attribute.IsAttentionSite(n.Site) {
				t.Errorf("group %s: %v selected; the candidates are gate units and attention projections", g.Name, n.Neuron)
			}
		}
	}

	// The output as an exclusion neuron set for the same model removes its general neurons.
	out2 := filepath.Join(dir, "concept2.json")
	if _, _, err := run("find", "concept", "--model", worldLlama, "--task", task, "--control", control, "--exclude", out,
		"--group-key", "continent", "--mlp-rate", "0.02", "--json", "--out", out2); err != nil {
		t.Fatal(err)
	}
	set2, _ := hooks.ReadNeuronSet(out2)
	for _, n := range set2.Groups[0].Neurons {
		for _, o := range gen {
			if n.Neuron == o.Neuron {
				t.Errorf("%v is in the exclusion set and still selected", n.Neuron)
			}
		}
	}
}

func TestFindConceptBadInput(t *testing.T) {
	dir := t.TempDir()
	task, control, _ := conceptFiles(t, dir, 2)
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	tl, _ := worldLines(t, "concept_task.jsonl")
	cl, cf := worldLines(t, "concept_control.jsonl")
	// control without the first item's continent
	var cb strings.Builder
	for i := 0; i < 40; i++ {
		if cf[i]["continent"] != cf[0]["continent"] {
			cb.WriteString(cl[i] + "\n")
		}
	}
	badControl := write("control-missing.jsonl", cb.String())
	twoWords := write("two-words.jsonl", strings.Replace(tl[0], `"answer":"Tufinri"`, `"answer":"Tufinri Diki"`, 1)+"\n")
	// an exclusion neuron set written for the GPT-2 world model
	g, err := model.Load(filepath.Join("..", "..", "testdata", "world-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	prov := g.Provenance()
	g.Close()
	other := &hooks.NeuronSet{Method: "x", Tap: hooks.MLPPre, Provenance: &prov, Groups: []hooks.NeuronGroup{{Name: "a", Neurons: []hooks.ScoredNeuron{{Neuron: hooks.NeuronAt(0, hooks.MLPPre, 1)}}}}}
	otherModel := filepath.Join(dir, "other.json")
	if err := other.WriteFile(otherModel); err != nil {
		t.Fatal(err)
	}
	outOfRange := write("range.json", `{"schema_version":"neuronscope.neurons/v1","tap":"mlp.hook_pre","groups":{"a":[{"layer":9,"index":1}]}}`)
	_, xf := worldLines(t, "concept_exclude.jsonl")
	xl, _ := worldLines(t, "concept_exclude.jsonl")
	var xb strings.Builder
	for i := range xl {
		if xf[i]["continent"] == xf[0]["continent"] {
			xb.WriteString(xl[i] + "\n")
			break
		}
	}
	oneGroupExclude := write("exclude-one.jsonl", xb.String())
	out := filepath.Join(dir, "out.json")
	base := []string{"--model", worldLlama, "--group-key", "continent", "--out", out}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--task", task, "--control", badControl}, "different \"continent\" groups"},
		{[]string{"--task", twoWords, "--control", control}, "two-words.jsonl"},
		{[]string{"--task", task, "--control", control, "--exclude", otherModel}, "written for another model"},
		{[]string{"--task", task, "--control", control, "--exclude", outOfRange}, "range.json"},
		{[]string{"--task", task, "--control", control, "--exclude", oneGroupExclude}, "every task group"},
		{[]string{"--task", task, "--control", control, "--exclude", filepath.Join(dir, "missing.jsonl")}, "--exclude"},
		{[]string{"--task", task}, "--control is required"},
		{[]string{"--task", task, "--control", control, "--mlp-rate", "2"}, "--mlp-rate 2"},
		{[]string{"--task", task, "--control", control, "--batch", "0"}, "--batch 0"},
		{[]string{"--task", task, "--control", control, "--taps", "attn.nonsense"}, "--taps attn.nonsense"},
		{[]string{"--task", task, "--control", control, "--group-key", "planet"}, "planet"},
	} {
		_, _, err := run(append(append([]string{"find", "concept"}, base...), tc.args...)...)
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want a usage error (exit 2) containing %q", tc.args, err, tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%v left %s behind", tc.args, out)
		}
	}
}

func TestFindPathCLI(t *testing.T) {
	dir := t.TempDir()
	eval := filepath.Join(worldDir, "eval_facts.jsonl")
	out := filepath.Join(dir, "path.json")
	stdout, _, err := run("find", "path", "--model", worldLlama, "--eval", eval, "--group", "relation=capital_of", "--limit", "3",
		"--steps", "4", "--compare", "language", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	set, err := hooks.ReadNeuronSet(out)
	if err != nil {
		t.Fatal(err)
	}
	if set.Method != "neuronpath" || len(set.Groups) != 9 || set.Groups[0].Name != "path/q00000" || !strings.Contains(stdout, "path similarity by language") {
		t.Fatalf("groups %v, stdout %q", set.Names(), stdout)
	}
	for l, n := range set.Groups[0].Neurons {
		if n.Layer != l || n.Site != hooks.MLPPost {
			t.Errorf("path entry %d is %v: want one neuron per layer in layer order", l, n.Neuron)
		}
	}
	var doc struct {
		Settings attribute.PathSettings `json:"settings"`
	}
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Settings.Items) != 3 || doc.Settings.Similarity == nil || doc.Settings.Items[0].Position != 2 {
		t.Fatalf("settings %+v (%v)", doc.Settings, err)
	}

	// One item at an inner position: plain group names, target = the next prompt token.
	if _, _, err := run("find", "path", "--model", worldLlama, "--eval", eval, "--item", "q00100", "--position", "1", "--steps", "2", "--out", out); err != nil {
		t.Fatal(err)
	}
	set, _ = hooks.ReadNeuronSet(out)
	if fmt.Sprint(set.Names()) != "[path activation activation_topk]" {
		t.Errorf("one item: groups %v", set.Names())
	}

	out2 := filepath.Join(dir, "bad.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--item", "q00000", "--position", "40"}, "--position 40 is outside the prompt of item q00000"},
		{[]string{"--item", "q00000", "--steps", "0"}, "--steps 0"},
		{[]string{"--item", "q00000", "--target", "margin"}, "--target"},
		{[]string{"--item", "q00000", "--site", "hook_resid_post"}, "--site"},
		{[]string{"--group", "relation"}, "--group"},
		{[]string{"--group", "relation=nope"}, "no item matches"},
		{[]string{"--item", "q00000", "--position", "x"}, "--position"},
	} {
		_, _, err := run(append([]string{"find", "path", "--model", worldLlama, "--eval", eval, "--out", out2}, tc.args...)...)
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want a usage error (exit 2) containing %q", tc.args, err, tc.want)
		}
		if _, err := os.Stat(out2); !os.IsNotExist(err) {
			t.Fatalf("%v left %s behind", tc.args, out2)
		}
	}
}

func TestFindKnowledgeNeuronSetCLI(t *testing.T) {
	dir := t.TempDir()
	_, ef := worldLines(t, "eval_facts.jsonl")
	var b strings.Builder
	for _, i := range []int{0, 1, 600} { // two capital_of facts, one of another relation
		js, _ := json.Marshal(map[string]any{"prompts": []string{ef[i]["prompt"].(string)}, "target": ef[i]["answer"], "id": ef[i]["id"], "relation": ef[i]["relation"]})
		b.Write(append(js, '\n'))
	}
	data := filepath.Join(dir, "facts.jsonl")
	os.WriteFile(data, []byte(b.String()), 0o644)
	out, neurons := filepath.Join(dir, "kn.json"), filepath.Join(dir, "kn-set.json")
	if _, _, err := run("find", "knowledge", "--model", worldLlama, "--data", data, "--steps", "3", "--out", out, "--neurons", neurons); err != nil {
		t.Fatal(err)
	}
	set, err := hooks.ReadNeuronSet(neurons)
	if err != nil {
		t.Fatal(err)
	}
	if set.Method != "knowledge" || set.Tap != hooks.MLPPost || len(set.Groups) != 5 || set.Groups[0].Name != "q00000" || !strings.HasPrefix(set.Groups[3].Name, "relation/") {
		t.Errorf("groups %v", set.Names())
	}
	if g, _ := set.Group("q00000"); len(g) == 0 {
		t.Error("fact q00000 has no knowledge neurons (one prompt: every coarse neuron is one)")
	}
}
