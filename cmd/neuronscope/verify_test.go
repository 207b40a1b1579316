package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// verifyFixture is ablateFixture's model and questions, a neuron set with two relation groups
// and one group named after nothing, and a small text file of the world's fluency sentences.
func verifyFixture(t *testing.T) (dir, eval, neurons, texts string) {
	t.Helper()
	dir, eval, _ = ablateFixture(t)
	base := t.TempDir()
	neurons = filepath.Join(base, "neurons.json")
	os.WriteFile(neurons, []byte(`{"schema_version":"neuronscope.neurons/v1","method":"hand-picked","tap":"mlp.hook_post","groups":{
		"capital_of":[{"layer":0,"index":3,"score":0.9},{"layer":1,"index":7,"score":0.5},{"layer":1,"index":40,"score":0.2}],
		"works_for":[{"layer":1,"index":1,"score":0.7},{"layer":0,"index":9,"score":0.3}],
		"general":[{"layer":0,"index":20,"score":1}]}}`), 0o644)
	flu, err := os.ReadFile(filepath.Join("..", "..", "testdata", "world", "eval_fluency.jsonl"))
	if err != nil {
		t.Skipf("world fluency text absent: %v", err)
	}
	var keep []string
	for i, line := range strings.Split(string(flu), "\n") {
		if i%25 == 0 && line != "" {
			keep = append(keep, line)
		}
	}
	texts = filepath.Join(base, "fluency.jsonl")
	os.WriteFile(texts, []byte(strings.Join(keep, "\n")+"\n"), 0o644)
	return dir, eval, neurons, texts
}

func sha(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func TestVerifyCommand(t *testing.T) {
	dir, eval, neurons, texts := verifyFixture(t)
	out := filepath.Join(t.TempDir(), "labels.json")
	args := []string{"verify", "--model", dir, "--neurons", neurons, "--eval", eval, "--text", texts, "--random", "3",
		"--resamples", "100", "--no-progress"}
	stdout, _, err := run(append(args, "--out", out)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 sets × relation groups (accuracy)", "3 sets × language text groups (perplexity)", "capital_of", "verdict", "wrote " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	lf, err := labels.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := model.Load(dir)
	defer m.Close()
	if lf.Provenance.ConfigHash == "" || lf.Provenance.ConfigHash != m.Provenance().ConfigHash || lf.Provenance.Seed == nil {
		t.Errorf("provenance %+v", lf.Provenance)
	}
	roles := map[string]string{}
	for _, in := range lf.Inputs {
		roles[in.Role] = in.SHA256
		if in.SHA256 != sha(t, in.Path) {
			t.Errorf("input %s %s: sha256 %s, the file's is %s", in.Role, in.Path, in.SHA256, sha(t, in.Path))
		}
	}
	if len(roles) != 3 || roles["neurons"] == "" || roles["eval"] == "" || roles["text"] == "" {
		t.Errorf("inputs %+v", lf.Inputs)
	}
	if len(lf.Labels) != 3 || len(lf.Matrices) != 2 {
		t.Fatalf("%d labels, %d matrices", len(lf.Labels), len(lf.Matrices))
	}
	for _, l := range lf.Labels {
		verified := l.Set != "general"
		kind := map[bool]string{true: "relation", false: "concept"}[verified]
		if verified != (len(l.Verifications) == 1) || l.Claim.Kind != kind || l.Evidence.Finder != "hand-picked" ||
			l.Evidence.Population != 2*48 || l.Units[0].Rank != 1 || l.Units[0].Score == nil || l.Claim.Description == "" {
			t.Errorf("label %+v", l)
		}
		if verified && (l.Verifications[0].Random.N != 3 || l.Verifications[0].Resamples != 100 || l.Verdict == "") {
			t.Errorf("verification %+v", l.Verifications[0])
		}
	}
	if lf.Matrices[0].Key != "relation" || lf.Matrices[1].Key != "language" || len(lf.Matrices[0].Groups) != 10 {
		t.Errorf("matrices keyed %s (%d groups) and %s", lf.Matrices[0].Key, len(lf.Matrices[0].Groups), lf.Matrices[1].Key)
	}
	// --json prints what --out writes; the run is deterministic.
	js, _, err := run(append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(out)
	if js != string(file) {
		t.Error("--json output differs from the file of an identical run")
	}

	// activation patching, alone and with the matrix
	var pairs []string
	qs, _ := os.ReadFile(eval)
	lines := strings.Split(strings.TrimSpace(string(qs)), "\n")
	for i := 0; i+1 < 8; i++ {
		var a, b struct{ Prompt, Answer string }
		json.Unmarshal([]byte(lines[i]), &a)
		json.Unmarshal([]byte(lines[i+1]), &b)
		js, _ := json.Marshal(map[string]string{"clean": a.Prompt, "answer": a.Answer, "corrupt": b.Prompt, "corrupt_answer": b.Answer})
		pairs = append(pairs, string(js))
	}
	pairFile := filepath.Join(t.TempDir(), "pairs.jsonl")
	os.WriteFile(pairFile, []byte(strings.Join(pairs, "\n")+"\n"), 0o644)
	po := filepath.Join(t.TempDir(), "patch.json")
	stdout, _, err = run("verify", "--model", dir, "--neurons", neurons, "--experiment", "patch", "--pairs", pairFile,
		"--patch-points", "blocks.*.hook_resid_post", "--random", "2", "--resamples", "20", "--no-progress", "--out", po)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := labels.ReadFile(po)
	if err != nil || len(pf.Patching) != 1 || len(pf.Patching[0].Sites) != 5 || len(pf.Labels[0].Verifications) != 1 ||
		pf.Labels[0].Verifications[0].Experiment != "patch" || !strings.Contains(stdout, "activation patching") {
		t.Fatalf("patch file %+v (err %v)\n%s", pf, err, stdout)
	}
	if last := pf.Patching[0].Sites[4]; last.Site != "blocks.1.hook_resid_post" || math.Abs(last.Recovered-1) > 1e-6 {
		t.Errorf("patching the last residual stream recovers %+v, want 1", last)
	}

	// the other experiments and interventions
	for _, c := range []struct {
		extra []string
		check func(*labels.File) bool
	}{
		{[]string{"--experiment", "sweep", "--ks", "1,2"}, func(f *labels.File) bool {
			return len(f.Sweeps) == 2 && f.Labels[0].Verifications[0].Experiment == "sweep" && len(f.Sweeps[0].Points) == 3
		}},
		{[]string{"--experiment", "enhance"}, func(f *labels.File) bool {
			return f.Labels[0].Verifications[0].Measure == "answer_prob" && strings.Contains(f.Matrices[0].Intervention, "scale ×2")
		}},
		{[]string{"--experiment", "steer", "--prompt", "Rofa bilo", "--kl", "0.01,0.05", "--alpha-hi", "50000", "--max-new", "2"}, func(f *labels.File) bool {
			return len(f.Steering) == 3 && len(f.Labels[0].Verifications) == 1 && len(f.Steering[0].Targets) == 4 && f.Steering[0].Targets[0].Generations != nil
		}},
		{[]string{"--intervention", "resample"}, func(f *labels.File) bool { return strings.HasPrefix(f.Matrices[0].Intervention, "resample") }},
		{[]string{"--measure", "answer_logprob"}, func(f *labels.File) bool {
			return f.Matrices[0].Measure == "answer_logprob" && f.Labels[0].Verifications[0].Measure == "answer_logprob"
		}},
		{[]string{"--intervention", "mean", "--positions", "last"}, func(f *labels.File) bool {
			return strings.HasPrefix(f.Matrices[0].Intervention, "mean") && strings.Contains(f.Matrices[0].Intervention, "last prompt position")
		}},
		{[]string{"--intervention", "force", "--force-group", "speaks"}, func(f *labels.File) bool {
			return strings.Contains(f.Matrices[0].Intervention, "relation=speaks")
		}},
		{[]string{"--intervention", "clamp", "--value", "3", "--groups", "capital_of", "--top", "2"}, func(f *labels.File) bool {
			return len(f.Labels) == 1 && len(f.Labels[0].Units) == 2 && strings.HasPrefix(f.Matrices[0].Intervention, "clamp to 3")
		}},
	} {
		o := filepath.Join(t.TempDir(), "l.json")
		a := append([]string{"verify", "--model", dir, "--neurons", neurons, "--eval", eval, "--random", "2", "--resamples", "20", "--no-progress", "--out", o}, c.extra...)
		if _, _, err := run(a...); err != nil {
			t.Errorf("%v: %v", c.extra, err)
			continue
		}
		f, err := labels.ReadFile(o)
		if err != nil || !c.check(f) {
			t.Errorf("%v: file %+v (err %v)", c.extra, f, err)
		}
	}
}

// gpt2Fixture is a random GPT-2 with the world's tokenizer: a model without mlp.hook_pre_linear.
func gpt2Fixture(t *testing.T) string {
	t.Helper()
	tokJSON, err := os.ReadFile(filepath.Join("..", "..", "testdata", "world", "tokenizer.json"))
	if err != nil {
		t.Skipf("world tokenizer absent: %v", err)
	}
	cfgJSON := []byte(`{"model_type":"gpt2","n_layer":2,"n_embd":32,"n_head":4,"vocab_size":501,"n_positions":32}`)
	cfg, err := model.ParseConfig(cfgJSON, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "gpt2")
	if err := m.Save(dir, cfgJSON, "F32"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), tokJSON, 0o644)
	return dir
}

// Bad input is a usage error (exit 2) naming the file or flag and the problem, and nothing is
// written.
func TestVerifyAndSteerBadInput(t *testing.T) {
	dir, eval, neurons, _ := verifyFixture(t)
	gpt2 := gpt2Fixture(t)
	tmp := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	set := func(groups string) string {
		return `{"schema_version":"neuronscope.neurons/v1","method":"m","tap":"mlp.hook_post","groups":{` + groups + `}}`
	}
	preLinear := file("prelinear.json", set(`"capital_of":[{"layer":0,"index":1,"tap":"mlp.hook_pre_linear"}]`))
	outOfRange := file("range.json", set(`"capital_of":[{"layer":0,"index":999}]`))
	empty := file("empty.json", set(`"capital_of":[]`))
	unnamed := file("unnamed.json", set(`"foo":[{"layer":0,"index":1}],"bar":[{"layer":0,"index":2}]`))
	zero := file("zero.json", `{"schema_version":"neuronscope.direction/v1","name":"zero","parts":[{"hook":"blocks.0.mlp.hook_post","vector":[`+
		strings.TrimSuffix(strings.Repeat("0,", 48), ",")+`]}]}`)
	profileDir := profileTiny(t)
	labelsOther := filepath.Join(tmp, "labels-other.json")
	if _, _, err := run("verify", "--model", dir, "--neurons", neurons, "--eval", eval, "--random", "2", "--resamples", "10", "--no-progress", "--out", labelsOther); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out.json")
	v := func(extra ...string) []string {
		return append([]string{"verify", "--model", dir, "--eval", eval, "--random", "2", "--no-progress", "--out", out}, extra...)
	}
	steer := func(extra ...string) []string {
		return append([]string{"steer", "--model", dir, "--prompt", "Rofa bilo", "--out", out}, extra...)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--model", gpt2, "--eval", eval, "--neurons", preLinear, "--out", out}, preLinear + `: group "capital_of": entry 0 {"layer":0,"index":1} (mlp.hook_pre_linear): this model has no blocks.0.mlp.hook_pre_linear`},
		{v("--neurons", outOfRange), outOfRange + `: group "capital_of": entry 0 {"layer":0,"index":999} (mlp.hook_post): index 999 out of range [0, 48)`},
		{v("--neurons", empty), empty + `: group "capital_of" is empty`},
		{v("--neurons", neurons, "--group-key", "tense"), `--eval: ` + eval + `: item 0 (q00000) has no "tense" label`},
		{v("--neurons", unnamed), "--eval " + eval + ": cannot tell which label names the groups foo, bar"},
		{v("--neurons", neurons, "--experiment", "bogus"), "--experiment"},
		{v("--neurons", neurons, "--measure", "bleu"), "--measure"},
		{v("--neurons", neurons, "--intervention", "bogus"), "--intervention"},
		{v("--neurons", neurons, "--random", "1"), "--random 1"},
		{v("--neurons", neurons, "--positions", "first"), "--positions"},
		{v("--neurons", neurons, "--experiment", "steer"), "needs --prompt"},
		{v("--neurons", neurons, "--experiment", "patch"), "needs --pairs"},
		{v("--neurons", neurons, "--experiment", "patch", "--pairs", eval), "--pairs: "},
		{v("--neurons", neurons, "--experiment", "steer", "--prompt", "Rofa bilo", "--alpha-lo", "1e-9", "--alpha-hi", "2e-9"), "reach no KL target"},
		{[]string{"verify", "--model", dir, "--eval", eval, "--neurons", neurons, "--out", filepath.Join(tmp, "no", "such", "dir", "l.json")}, "does not exist"},
		{steer("--direction", zero), "--direction " + zero + ": direction \"zero\" has norm 0"},
		{steer("--neurons", neurons, "--group", "capital_of", "--alpha-lo", "1e-9", "--alpha-hi", "2e-9"), "--alpha-lo/--alpha-hi: α search bounds [1e-09, 2e-09] reach no KL target"},
		{steer("--neurons", neurons), "has 3 groups"},
		{steer("--neurons", outOfRange, "--group", "capital_of"), "index 999 out of range"},
		{steer("--neurons", neurons, "--direction", zero), "exactly one of"},
		{[]string{"report", "--in", profileDir, "--labels", labelsOther, "--out", out}, "--labels " + labelsOther + ": labels of a different model"},
		{[]string{"report", "--labels", eval, "--out", out}, "--labels: "},
	} {
		_, _, err := run(c.args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v:\n  err %v\n  want a usage error containing %q", c.args, err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: wrote %s despite the error", c.args, out)
			os.Remove(out)
		}
	}
}

// The steer command calibrates both signs and generates at each reached strength.
func TestSteerCommand(t *testing.T) {
	dir, _, neurons, _ := verifyFixture(t)
	out := filepath.Join(t.TempDir(), "steer.json")
	stdout, _, err := run("steer", "--model", dir, "--neurons", neurons, "--group", "capital_of", "--prompt", "Rofa bilo",
		"--kl", "0.01,0.1,1e6", "--alpha-hi", "50000", "--max-new", "3", "--top-k", "5", "--samples", "2", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "NO: KL reaches only") || !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("output:\n%s", stdout)
	}
	var doc steerReport
	if err := report.ReadJSONFile(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != steerSchema || doc.Steering == nil || len(doc.Targets) != 6 || len(doc.Inputs) != 1 {
		t.Fatalf("report %+v", doc)
	}
	for _, sp := range doc.Targets {
		if sp.Reached != (sp.TargetKL != 1e6) {
			t.Errorf("target %v sign %d: reached %v (%s)", sp.TargetKL, sp.Sign, sp.Reached, sp.Why)
		}
		if sp.Reached && (len(sp.Generations) != 2 || len(sp.Generations[0].IDs) == 0 || sp.Generations[1].Seed != 2) {
			t.Errorf("target %v: generations %+v", sp.TargetKL, sp.Generations)
		}
	}
}
