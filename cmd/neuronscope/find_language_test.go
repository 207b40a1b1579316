package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/safetensors"
	"github.com/neuronscope/neuronscope/probes/language"
)

// writeLanguageProbs writes a 3-language file whose neuron 0 of layer 0 is English-only, neuron
// 1 of layer 1 German-only, and the rest low and spread.
func writeLanguageProbs(t *testing.T, dir string) string {
	t.Helper()
	p := &language.Probabilities{Groups: []string{"en", "de", "fr"}, Tap: "mlp.hook_pre", Layers: 2, Width: 8, P: make([]float32, 3*2*8)}
	for g := 0; g < 3; g++ {
		for f := 0; f < 16; f++ {
			p.P[g*16+f] = 0.05 + 0.01*float32((f+g)%4)
		}
	}
	p.P[0*16+0] = 0.9 // en, layer 0, neuron 0
	p.P[1*16+9] = 0.8 // de, layer 1, neuron 1
	path := filepath.Join(dir, "probs.safetensors")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFindLanguage(t *testing.T) {
	dir := t.TempDir()
	probs := writeLanguageProbs(t, dir)
	out, repOut := filepath.Join(dir, "lape.json"), filepath.Join(dir, "lape-report.json")
	stdout, _, err := run("find", "language", "--probs", probs, "--method", "lape", "--top-rate", "0.125", "--out", out, "--report", repOut)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "2 unique neurons in 3 languages") {
		t.Errorf("stdout %q", stdout)
	}
	// --out: the neuron set, one group per language at the file's tap, the report in its settings
	set, err := hooks.ReadNeuronSet(out)
	if err != nil {
		t.Fatal(err)
	}
	en, _ := set.Group("en")
	de, _ := set.Group("de")
	fr, ok := set.Group("fr")
	if set.Method != "lape" || set.Tap != hooks.MLPPre || strings.Join(set.Names(), ",") != "en,de,fr" || !ok || len(fr) != 0 ||
		len(en) != 1 || en[0].Neuron != hooks.NeuronAt(0, hooks.MLPPre, 0) || len(de) != 1 || de[0].Neuron != hooks.NeuronAt(1, hooks.MLPPre, 1) ||
		set.Provenance == nil || set.Provenance.Dataset != probs {
		t.Errorf("set %+v", set)
	}
	var settings struct {
		Probs        string `json:"probs"`
		Deactivation string `json:"deactivation"`
		language.Report
	}
	b, _ := json.Marshal(set.Settings)
	if err := json.Unmarshal(b, &settings); err != nil {
		t.Fatal(err)
	}
	if settings.Probs != probs || settings.Settings.K != 2 || settings.Specific != 2 || len(settings.Groups) != 3 ||
		settings.Groups[0].Count != 1 || settings.Groups[0].Neurons != nil || settings.PublishedLAPEGroups != 2 ||
		!strings.Contains(settings.Deactivation, "silu(0) = 0") || len(settings.Multiplicity) != 4 {
		t.Errorf("settings %+v", settings)
	}
	// --report: the full report, every group's neurons
	var rep struct {
		Probs string `json:"probs"`
		language.Report
	}
	b, _ = os.ReadFile(repOut)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Probs != probs || rep.Settings.K != 2 || rep.Specific != 2 || len(rep.Groups) != 3 ||
		rep.Groups[0].Count != 1 || rep.Groups[0].Neurons[0].Layer != 0 || rep.Groups[0].Neurons[0].Index != 0 ||
		rep.Groups[1].Neurons[0].Layer != 1 || rep.Groups[1].Neurons[0].Index != 1 || rep.Groups[2].Count != 0 ||
		rep.PublishedLAPEGroups != 2 {
		t.Errorf("report %+v", rep)
	}

	// alignment with a fixed λ and with the sweep
	for _, lambda := range []string{"0.05", "auto"} {
		out := filepath.Join(dir, "align-"+lambda+".json")
		if _, _, err := run("find", "language", "--probs", probs, "--method", "alignment", "--top-rate", "0.125", "--lambda", lambda, "--out", out); err != nil {
			t.Fatalf("--lambda %s: %v", lambda, err)
		}
		set, err := hooks.ReadNeuronSet(out)
		if err != nil {
			t.Fatal(err)
		}
		var rep language.Report
		b, _ := json.Marshal(set.Settings)
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if set.Method != "alignment" || rep.Specific != 2 || (lambda == "auto") != (len(rep.Sweep) == 10) {
			t.Errorf("--lambda %s: %+v", lambda, rep)
		}
	}
}

func TestFindLanguageBadInput(t *testing.T) {
	dir := t.TempDir()
	probs := writeLanguageProbs(t, dir)
	notProbs := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(notProbs, []byte("not a safetensors file"), 0o644)
	out, report := filepath.Join(dir, "out.json"), filepath.Join(dir, "report.json")
	good, err := language.ReadProbabilities(probs)
	if err != nil {
		t.Fatal(err)
	}
	ok, shape := good.P, []int{3, 2, 8}
	with := func(j int, v float32) []float32 { d := slices.Clone(ok); d[j] = v; return d }
	// bad writes a probabilities file as a converter might, bypassing WriteFile's checks.
	bad := func(name string, shape []int, data []float32, langs, tap string) string {
		path := filepath.Join(dir, name+".safetensors")
		meta := map[string]string{language.MetaLanguages: langs}
		if tap != "" {
			meta[language.MetaTap] = tap
		}
		if err := safetensors.WriteFile(path, []safetensors.WriteTensor{safetensors.F32(language.TensorName, shape, data)}, meta); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "lape", "--out", out}, "--probs is required"},
		{[]string{"--probs", probs, "--out", out}, "--method is required"},
		{[]string{"--probs", probs, "--method", "entropy", "--out", out}, `--method "entropy"`},
		{[]string{"--probs", probs, "--method", "lape"}, "--out is required"},
		{[]string{"--probs", probs, "--method", "lape", "--top-rate", "0", "--out", out}, "--top-rate 0"},
		{[]string{"--probs", probs, "--method", "lape", "--bar-ratio", "1.5", "--out", out}, "--bar-ratio 1.5"},
		{[]string{"--probs", probs, "--method", "lape", "--lambda", "0.1", "--out", out}, "--lambda and --published-appear10 apply to --method alignment"},
		{[]string{"--probs", probs, "--method", "alignment", "--filter-rate", "0.9", "--out", out}, "--filter-rate applies to --method lape"},
		{[]string{"--probs", probs, "--method", "alignment", "--lambda", "-1", "--out", out}, `--lambda "-1"`},
		{[]string{"--probs", probs, "--method", "alignment", "--lambda", "x", "--out", out}, `--lambda "x"`},
		{[]string{"--probs", notProbs, "--method", "lape", "--out", out}, "garbage.safetensors"},
		{[]string{"--probs", filepath.Join(dir, "missing"), "--method", "lape", "--out", out}, "missing"},
		{[]string{"--probs", bad("rank", []int{3, 16}, ok, "en,de,fr", "mlp.hook_pre"), "--method", "lape", "--out", out}, "rank.safetensors: tensor \"activation_probability\" has shape [3 16], want rank 3"},
		{[]string{"--probs", bad("nan", shape, with(3, float32(math.NaN())), "en,de,fr", "mlp.hook_pre"), "--method", "lape", "--out", out}, "nan.safetensors: group \"en\" layer 0 neuron 3: probability is NaN"},
		{[]string{"--probs", bad("neg", shape, with(20, -0.25), "en,de,fr", "mlp.hook_pre"), "--method", "alignment", "--out", out}, "neg.safetensors: group \"de\" layer 0 neuron 4: probability -0.25 < 0"},
		{[]string{"--probs", bad("big", shape, with(47, 1.5), "en,de,fr", "mlp.hook_pre"), "--method", "lape", "--out", out}, "big.safetensors: group \"fr\" layer 1 neuron 7: probability 1.5 > 1"},
		{[]string{"--probs", bad("names", shape, ok, "en,de", "mlp.hook_pre"), "--method", "lape", "--out", out}, "names.safetensors: metadata \"languages\" names 2 groups"},
		{[]string{"--probs", bad("one", []int{1, 2, 8}, ok[:16], "en", "mlp.hook_pre"), "--method", "lape", "--out", out}, "one.safetensors: metadata \"languages\": need at least 2 groups"},
		{[]string{"--probs", bad("notap", shape, ok, "en,de,fr", ""), "--method", "lape", "--out", out}, "notap.safetensors names no tap point"},
		{[]string{"--probs", probs, "--tap", "mlp.hook_post", "--method", "lape", "--out", out}, "--tap mlp.hook_post: --probs " + probs + " was counted at mlp.hook_pre"},
		{[]string{"--probs", bad("badtap", shape, ok, "en,de,fr", "hook_embed"), "--method", "lape", "--out", out}, `badtap.safetensors: tap "hook_embed": hook site "hook_embed": want a per-layer site`},
		{[]string{"--probs", probs, "--method", "lape", "--out", out, "--report", filepath.Join(dir, "nodir", "r.json")}, "--report"},
	} {
		_, _, err := run(append([]string{"find", "language"}, tc.args...)...)
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want a usage error containing %q", tc.args, err, tc.want)
		}
		for _, f := range []string{out, report} {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Fatalf("%v left %s behind", tc.args, f)
			}
		}
	}
	// a file without a tap is read with --tap
	if _, _, err := run("find", "language", "--probs", bad("notap", shape, ok, "en,de,fr", ""), "--tap", "mlp.hook_post", "--method", "lape", "--top-rate", "0.125", "--out", out); err != nil {
		t.Fatal(err)
	}
	if set, err := hooks.ReadNeuronSet(out); err != nil || set.Tap != hooks.MLPPost {
		t.Errorf("--tap for a file without one: %+v %v", set, err)
	}
}

// TestFindLanguageCount counts the world's four languages from eval_fluency.jsonl (group key
// "language") with the world Llama, writes the probability file, and equals the same count
// from one file per language and from the saved file.
func TestFindLanguageCount(t *testing.T) {
	dir := t.TempDir()
	world := "../../testdata/world"
	model := "../../testdata/world-llama"
	probsOut := filepath.Join(dir, "probs.safetensors")
	out := filepath.Join(dir, "lape.json")
	_, _, err := run("find", "language", "--model", model, "--data", world+"/eval_fluency.jsonl", "--group-key", "language",
		"--method", "lape", "--save-probs", probsOut, "--no-progress", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := language.ReadProbabilities(probsOut)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Groups, ",") != "pelan,korrak,shivu,tlaxo" || p.Tap != "mlp.hook_pre" || p.Layers != 4 || p.Width != 512 {
		t.Fatalf("probabilities %v %s %d×%d", p.Groups, p.Tap, p.Layers, p.Width)
	}
	// the same data as one file per group
	b, _ := os.ReadFile(world + "/eval_fluency.jsonl")
	per := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var d struct{ Language string }
		json.Unmarshal([]byte(line), &d)
		per[d.Language] = append(per[d.Language], line)
	}
	var args []string
	for _, g := range p.Groups {
		path := filepath.Join(dir, g+".jsonl")
		os.WriteFile(path, []byte(strings.Join(per[g], "\n")+"\n"), 0o644)
		args = append(args, "--data", g+"="+path)
	}
	probs2 := filepath.Join(dir, "probs2.safetensors")
	ckpt := filepath.Join(dir, "count.ckpt")
	if _, _, err := run(append([]string{"find", "language", "--model", model, "--method", "lape", "--batch", "3",
		"--checkpoint", ckpt, "--save-probs", probs2, "--no-progress", "--out", filepath.Join(dir, "lape2.json")}, args...)...); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(probsOut)
	c, _ := os.ReadFile(probs2)
	if !bytes.Equal(a, c) {
		t.Error("counting per-group files differs from counting one keyed file")
	}
	// the same count as a Beam pipeline on Prism, in 3 shards
	probs3 := filepath.Join(dir, "probs3.safetensors")
	if _, _, err := run("find", "language", "--model", model, "--data", world+"/eval_fluency.jsonl", "--group-key", "language",
		"--method", "lape", "--save-probs", probs3, "--no-progress", "--runner", "prism", "--shards", "3", "--out", filepath.Join(dir, "lape4.json")); err != nil {
		t.Fatal(err)
	}
	if d, _ := os.ReadFile(probs3); !bytes.Equal(a, d) {
		t.Error("counting on Prism differs from counting in one process")
	}
	lape, _ := os.ReadFile(out)
	out3 := filepath.Join(dir, "lape3.json")
	if _, _, err := run("find", "language", "--probs", probsOut, "--method", "lape", "--out", out3); err != nil {
		t.Fatal(err)
	}
	fromFile, _ := os.ReadFile(out3)
	// the same neurons and report; only the provenance and the probabilities' source differ
	var r1, r3 struct {
		Groups   json.RawMessage `json:"groups"`
		Settings struct {
			language.Report
			Groups json.RawMessage `json:"groups"`
		} `json:"settings"`
	}
	json.Unmarshal(lape, &r1)
	json.Unmarshal(fromFile, &r3)
	j1, _ := json.Marshal(r1)
	j3, _ := json.Marshal(r3)
	if !bytes.Equal(j1, j3) || r1.Settings.Settings.K != 20 {
		t.Errorf("the selection from the counted probabilities differs from the selection from the saved file:\n%s\n%s", j1, j3)
	}
	if set, err := hooks.ReadNeuronSet(out); err != nil || set.Provenance == nil || set.Provenance.ConfigHash == "" {
		t.Errorf("a counted set records the model: %+v %v", set, err)
	}
}

// TestFindLanguageCountBadInput: a tap the model lacks, mismatched group names, an empty group,
// a prompt missing in response-only counting: a usage error naming the flag or file, nothing
// written.
func TestFindLanguageCountBadInput(t *testing.T) {
	dir := t.TempDir()
	model := "../../testdata/world-llama"
	fluency := "../../testdata/world/eval_fluency.jsonl"
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	a := write("a.txt", "ne bala tala\n")
	empty := write("empty.txt", "\n")
	out := filepath.Join(dir, "out.json")
	probs := filepath.Join(dir, "p.safetensors")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", model, "--data", fluency, "--group-key", "language", "--tap", "hook_mlp_in"}, "--tap"},
		{[]string{"--model", "../../testdata/world-gpt2", "--data", fluency, "--group-key", "language", "--tap", "mlp.hook_pre_linear"}, "--tap mlp.hook_pre_linear"},
		{[]string{"--model", model, "--data", fluency, "--group-key", "language", "--groups", "pelan,english"}, `"korrak" is not one of pelan,english`},
		{[]string{"--model", model, "--data", fluency, "--group-key", "lang"}, `--data: ` + fluency + `:1: no string field "lang"`},
		{[]string{"--model", model, "--data", "en=" + a, "--data", "en=" + a}, `--data: group name "en" appears twice`},
		{[]string{"--model", model, "--data", "en=" + a, "--data", "de=" + empty}, "--data " + empty + `: group "de" has no tokens`},
		{[]string{"--model", model, "--data", "en=" + a, "--data", a}, "is not GROUP=FILE"},
		{[]string{"--model", model, "--data", fluency, "--group-key", "language", "--response-only"}, `no string field "prompt"`},
		{[]string{"--model", model, "--data", "en=" + a, "--data", "de=" + a, "--probs", probs}, "not both"},
		{[]string{"--model", model}, "--model needs --data"},
	} {
		_, _, err := run(append([]string{"find", "language", "--method", "lape", "--no-progress", "--save-probs", probs, "--out", out}, tc.args...)...)
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want a usage error containing %q", tc.args, err, tc.want)
		}
		for _, f := range []string{out, probs} {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Fatalf("%v left %s behind", tc.args, f)
			}
		}
	}
}
