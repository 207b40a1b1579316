package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/probes/labels"
)

func TestTrainCLI(t *testing.T) {
	dir := t.TempDir()
	w, out := filepath.Join(dir, "world"), filepath.Join(dir, "model")
	if _, _, err := run("world", "--out", w); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := run("train", "--world", w, "--out", out, "--arch", "gpt2", "--steps", "30", "--warmup", "3",
		"--layers", "1", "--d-model", "32", "--d-mlp", "64", "--heads", "2", "--quiet", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Schema string `json:"schema_version"`
		Curve  []struct {
			Loss float64 `json:"loss"`
		} `json:"loss_curve"`
		Acc struct {
			Total int `json:"total"`
		} `json:"heldout_template_accuracy"`
		Prov struct {
			BLAS string `json:"blas_backend"`
		} `json:"provenance"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != "neuronscope.train/v1" || rep.Acc.Total != 2280 || rep.Prov.BLAS == "" || len(rep.Curve) != 30 {
		t.Errorf("report: %+v", rep)
	}
	if first, last := rep.Curve[0].Loss, rep.Curve[len(rep.Curve)-1].Loss; !(last < first) {
		t.Errorf("loss %v → %v did not fall", first, last)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "training.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.ModelType != "gpt2" || m.Config.DMLP != 64 {
		t.Errorf("saved model: %s d_mlp %d", m.Config.ModelType, m.Config.DMLP)
	}
}

// tokenizerOnlyWorld is a world directory with the world's tokenizer.json and nothing else.
func tokenizerOnlyWorld(t *testing.T) string {
	w := t.TempDir()
	data, err := os.ReadFile(filepath.Join(worldDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(w, "tokenizer.json"), data, 0o644)
	return w
}

func TestTrainCLIErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--out", dir}, "--world and --out are required"},
		{[]string{"train", "--world", dir, "--out", dir}, "neuronscope world"},
		{[]string{"train", "--world", tokenizerOnlyWorld(t), "--out", dir}, "train.txt"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--arch", "bert"}, "llama or gpt2"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--steps", "0"}, "steps"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--heads", "3"}, "multiple of --heads"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--layers", "0"}, "--layers 0"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--steps", "50", "--warmup", "100"}, "--warmup 100: want 0..--steps (50)"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--min-lr", "1"}, "--min-lr 1"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--kv-heads", "3"}, "--kv-heads 3"},
		{[]string{"train", "--world", "../../testdata/world", "--out", filepath.Join("train_test.go", "m")}, "--out train_test.go/m"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--ctx", "4"}, "--ctx 4"},
		{[]string{"train", "--world", "../../testdata/world", "--out", dir, "--pack", "64"}, "--pack 64"},
	} {
		_, _, err := run(c.args...)
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &ue) {
			t.Errorf("%v: err %v, want a usage error mentioning %q", c.args, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed train wrote %d files", len(entries))
	}
}

func TestDemoCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the full-size run is checked once, in the OpenBLAS build (make test)")
	}
	out := filepath.Join(t.TempDir(), "demo")
	stdout, _, err := run("demo", "--out", out, "--per-relation", "2", "--top", "2", "--neurons", "8", "--random-sets", "2", "--ablate-questions", "4", "--no-progress")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "held-out-template greedy accuracy") || !strings.Contains(stdout, "report.json") {
		t.Errorf("summary:\n%s", stdout)
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Schema string `json:"schema_version"`
		Tap    string `json:"neuron_tap_point"`
		Prov   struct {
			ModelDir string `json:"model_dir"`
		} `json:"provenance"`
		Accuracy struct{ Overall float64 } `json:"heldout_template_accuracy"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	lf, err := labels.ReadFile(filepath.Join(out, "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lf.Labels) != 10 || len(lf.Labels[0].Units) != 8 || lf.Labels[0].Verifications[0].Random.N != 2 || len(lf.Inputs) != 1 ||
		lf.Inputs[0].Path != "embedded:world/eval_facts.jsonl" || lf.Provenance.ConfigHash == "" || len(lf.Matrices) != 1 {
		t.Errorf("labels.json: %+v", lf)
	}
	set, err := hooks.ReadNeuronSet(filepath.Join(out, "neurons.json"))
	if err != nil || len(set.Groups) != 10 || len(set.Groups[0].Neurons) != 8 {
		t.Errorf("neurons.json: %+v (err %v)", set, err)
	}
	// the activation-statistics stages: one group per language, one per relation, each with labels
	for _, c := range []struct {
		set, labels string
		groups      int
	}{{"language.json", "language-labels.json", 4}, {"relation-specific.json", "relation-specific-labels.json", 10}} {
		set, err := hooks.ReadNeuronSet(filepath.Join(out, c.set))
		if err != nil || len(set.Groups) != c.groups {
			t.Errorf("%s: %+v (err %v)", c.set, set, err)
		}
		lf, err := labels.ReadFile(filepath.Join(out, c.labels))
		if err != nil || len(lf.Labels) == 0 || lf.Labels[0].Verifications[0].Random.N != 2 || len(lf.Inputs) == 0 {
			t.Errorf("%s: %+v (err %v)", c.labels, lf, err)
		}
	}
	if rep.Schema != "neuronscope.demo/v2" || rep.Tap != "blocks.L.mlp.hook_post" || rep.Prov.ModelDir != "embedded:world-llama" || rep.Accuracy.Overall < 0.95 {
		t.Errorf("report: %+v", rep)
	}
	if _, _, err := run("demo", "--model", "../../testdata/world-llama", "--out", ""); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("--model without --eval: %v", err)
	}
}
