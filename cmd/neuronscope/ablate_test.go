package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/model"
)

// ablateFixture writes a random-weight Llama with the world's tokenizer, a small eval set
// (one question per relation and language from testdata/world) and a neuron file; it skips without the world files.
func ablateFixture(t *testing.T) (dir, eval, neurons string) {
	t.Helper()
	world := filepath.Join("..", "..", "testdata", "world")
	tokJSON, err := os.ReadFile(filepath.Join(world, "tokenizer.json"))
	if err != nil {
		t.Skipf("world tokenizer absent: %v", err)
	}
	facts, err := os.ReadFile(filepath.Join(world, "eval_facts.jsonl"))
	if err != nil {
		t.Skipf("world eval set absent: %v", err)
	}
	cfgJSON := []byte(`{"model_type":"llama","hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,
		"num_attention_heads":4,"num_key_value_heads":2,"head_dim":8,"vocab_size":501,"max_position_embeddings":32,
		"rms_norm_eps":1e-5,"rope_theta":10000.0,"hidden_act":"silu","tie_word_embeddings":false}`)
	cfg, err := model.ParseConfig(cfgJSON, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	dir = filepath.Join(base, "model")
	if err := m.Save(dir, cfgJSON, "F32"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tokJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	var lines []string
	for _, line := range strings.Split(string(facts), "\n") {
		var e struct{ Relation, Language string }
		if json.Unmarshal([]byte(line), &e) == nil && per[e.Relation+"/"+e.Language] < 1 {
			per[e.Relation+"/"+e.Language]++
			lines = append(lines, line)
		}
	}
	eval = filepath.Join(base, "eval.jsonl")
	os.WriteFile(eval, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	neurons = filepath.Join(base, "neurons.json")
	os.WriteFile(neurons, []byte(`[{"layer":0,"index":3},{"layer":1,"index":7},{"layer":1,"index":40}]`), 0o644)
	return dir, eval, neurons
}

func TestAblateSelectivityCommand(t *testing.T) {
	dir, eval, neurons := ablateFixture(t)
	args := []string{"ablate", "selectivity", "--model", dir, "--eval", eval, "--neurons", neurons, "--group", "relation=capital_of"}
	out, _, err := run(args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ablate 3 neurons (L0:1 L1:2) at mlp.hook_post, zero ablation; group relation=capital_of; 40 questions",
		"capital_of", "works_for", "selectivity", "random (5 sets)", "verdict: "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	report := filepath.Join(t.TempDir(), "r.json")
	js, _, err := run(append(args, "--mode", "mean", "--random-seeds", "6", "--seed", "3", "--json", "--out", report)...)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(report)
	if err != nil || string(file) != js {
		t.Fatalf("--out file differs from --json output (err %v)", err)
	}
	var doc struct {
		Schema     string `json:"schema_version"`
		Provenance struct {
			ModelDir string   `json:"model_dir"`
			Seed     int64    `json:"seed"`
			Hooks    []string `json:"hooks_requested"`
		} `json:"provenance"`
		Key      string `json:"group_key"`
		Target   string `json:"target_group"`
		Ablation struct {
			Site, Mode string
			MeanOver   string `json:"mean_over"`
			Points     []string
		} `json:"ablation"`
		Claimed struct {
			Groups      []struct{ Group string }
			Selectivity *float64 `json:"selectivity"`
		} `json:"claimed"`
		Random struct {
			Sets []struct {
				Seed uint64 `json:"seed"`
			} `json:"sets"`
		} `json:"random"`
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != ablate.SelectivitySchema || doc.Provenance.ModelDir != dir || doc.Provenance.Seed != 3 ||
		strings.Join(doc.Provenance.Hooks, ",") != "blocks.0.mlp.hook_post,blocks.1.mlp.hook_post" ||
		doc.Key != "relation" || doc.Target != "capital_of" || doc.Ablation.Site != "mlp.hook_post" || doc.Ablation.Mode != "mean" ||
		doc.Ablation.MeanOver == "" || len(doc.Claimed.Groups) != 10 || doc.Claimed.Selectivity == nil ||
		len(doc.Random.Sets) != 6 || doc.Random.Sets[5].Seed != 8 || doc.Verdict == "" {
		t.Errorf("report %+v", doc)
	}
	// Same flags, same report (provenance aside, which holds no time).
	js2, _, err := run(append(args, "--mode", "mean", "--random-seeds", "6", "--seed", "3", "--json")...)
	if err != nil || js2 != js {
		t.Errorf("a second identical run differs (err %v)", err)
	}

	// Other sites and clamping.
	if _, _, err := run(append(args, "--hook-site", "blocks.*.mlp.hook_pre", "--mode", "clamp", "--value", "2", "--group", "language=pelan")...); err != nil {
		t.Error(err)
	}
}

func TestAblateSelectivityUsageErrors(t *testing.T) {
	dir, eval, neurons := ablateFixture(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`[{"layer":0,"index":1},{"layer":5,"index":2}]`), 0o644)
	single := filepath.Join(t.TempDir(), "single.jsonl")
	first, _ := os.ReadFile(eval)
	os.WriteFile(single, []byte(strings.SplitN(string(first), "\n", 2)[0]+"\n"), 0o644)
	base := []string{"ablate", "selectivity", "--model", dir, "--eval", eval, "--neurons", neurons}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ablate"}, "needs a subcommand"},
		{[]string{"ablate", "bogus"}, "unknown subcommand"},
		{[]string{"ablate", "selectivity", "--eval", eval, "--neurons", neurons, "--group", "relation=speaks"}, "--model is required"},
		{base, "--group is required"},
		{append(base, "--group", "relation"), "want LABEL=VALUE"},
		{append(base, "--group", "relation=nope"), "the relation groups are born_in, capital_of"},
		{append(base, "--group", "tense=past"), `no "tense" label`},
		{append(base, "--group", "relation=speaks", "--mode", "ones"), "--mode"},
		{append(base, "--group", "relation=speaks", "--value", "1"), "only for --mode clamp"},
		{append(base, "--group", "relation=speaks", "--hook-site", "hook_embed"), "--hook-site"},
		{append(base, "--group", "relation=speaks", "--random-seeds", "1"), "at least 2"},
		{append(base, "--group", "relation=speaks", "--min-drop", "0"), "--min-drop"},
		{append(base, "--group", "relation=speaks", "--bos", "sometimes"), "--bos"},
		{append(base, "--group", "relation=speaks", "--neurons", bad), bad + `: group "neurons": entry 1 {"layer":5,"index":2} (mlp.hook_post): layer 5 out of range [0, 2)`},
		{append(base, "--group", "relation=speaks", "--eval", eval+".missing"), "--eval"},
		{append(base, "--group", "relation=speaks", "--random-seeds", "x"), "random-seeds"},
		{append(base, "--group", "relation=speaks", "--eval", single), "only one relation group"},
	} {
		_, _, err := run(c.args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want a usage error containing %q", c.args[1:], err, c.want)
		}
	}
}

// TestAblateUnknownAnswers: an eval answer outside the vocabulary is an error naming it and
// the flag; with --skip-unknown-answers the item is left out and the report states the count.
func TestAblateUnknownAnswers(t *testing.T) {
	dir, eval, neurons := ablateFixture(t)
	data, _ := os.ReadFile(eval)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var item map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &item); err != nil {
		t.Fatal(err)
	}
	item["answer"] = "Atlantis"
	bad, _ := json.Marshal(item)
	withUnknown := filepath.Join(t.TempDir(), "eval.jsonl")
	os.WriteFile(withUnknown, []byte(strings.Join(append(lines, string(bad)), "\n")+"\n"), 0o644)
	args := []string{"ablate", "selectivity", "--model", dir, "--eval", withUnknown, "--neurons", neurons, "--group", "relation=capital_of", "--random-seeds", "2"}
	_, _, err := run(args...)
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), `"Atlantis"`) || !strings.Contains(err.Error(), "--skip-unknown-answers") ||
		!strings.Contains(err.Error(), fmt.Sprintf("%s:%d", withUnknown, len(lines)+1)) {
		t.Fatalf("unknown answer: %v", err)
	}
	report := filepath.Join(t.TempDir(), "r.json")
	out, _, err := run(append(args, "--skip-unknown-answers", "--out", report)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "skipped 1 eval items whose answer is not in the vocabulary") || !strings.Contains(out, "40 questions") {
		t.Errorf("table:\n%s", out)
	}
	doc, err := ablate.ReadSelectivityFile(report)
	if err != nil || doc.SkippedItems != 1 || len(doc.Skipped) != 1 || doc.Skipped[0].Line != len(lines)+1 || doc.Items != 40 {
		t.Errorf("report: %+v (%v)", doc, err)
	}
}

// TestAblateOutCheckedFirst: an --out path that cannot be written is a usage error before the
// ablations run.
func TestAblateOutCheckedFirst(t *testing.T) {
	dir, eval, neurons := ablateFixture(t)
	_, _, err := run("ablate", "selectivity", "--model", dir, "--eval", eval, "--neurons", neurons, "--group", "relation=capital_of",
		"--out", "/nonexistent/a.json")
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "--out /nonexistent/a.json") {
		t.Errorf("--out in a missing directory: %v", err)
	}
}
