package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

func TestAttributeCLI(t *testing.T) {
	dir := t.TempDir()
	for _, method := range []string{"gradient", "grad-x-act", "ig"} {
		out := filepath.Join(dir, method+".json")
		if _, _, err := run("attribute", "--model", tiny, "--ids", "1,5,9,13", "--target-token", "7",
			"--method", method, "--steps", "8", "--top", "5", "--out", out); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		rep, err := attribute.ReadReport(out)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Top[0].Point != hooks.At(rep.Top[0].Layer, hooks.MLPPost) {
			t.Errorf("%s: read back as %v", method, rep.Top[0].Point)
		}
		if len(rep.Top) != 5 || rep.Top[0].Score < rep.Top[4].Score || rep.TargetPos != 3 || rep.Provenance.ConfigHash == "" {
			t.Errorf("%s: report %+v", method, rep)
		}
		if method == "ig" && len(rep.CompletenessGap) != 2 {
			t.Errorf("ig: completeness gaps %v", rep.CompletenessGap)
		}
	}
	st := filepath.Join(dir, "g.safetensors")
	if _, _, err := run("attribute", "--model", tiny, "--ids", "1,5,9", "--target-token", "7", "--method", "gradient",
		"--hooks", "blocks.1.mlp.hook_post", "--out", st); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.OpenFile(st)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if g, ok := f.Tensor("blocks.1.mlp.hook_post"); !ok || len(g.Shape) != 2 || g.Shape[0] != 3 || g.Shape[1] != 128 {
		t.Errorf("gradient tensor: %v %v", ok, g.Shape)
	}
}

func TestAttributeBadInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "a.json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--target-token", "7", "--method", "magic"}, "--method"},
		{[]string{"--target-token", "7", "--target", "x"}, "exactly one of"},
		{[]string{"--target-token", "7", "--target-pos", "9"}, "outside"},
		{[]string{"--target-token", "999"}, "vocabulary"},
		{[]string{"--target-token", "7", "--riemann", "simpson"}, "--riemann"},
		{[]string{"--target-token", "7", "--hooks", "ln_final.hook_scale"}, "per-layer"},
		{[]string{"--target-token", "7", "--steps", "0"}, "--steps"},
	} {
		args := append([]string{"attribute", "--model", tiny, "--ids", "1,5,9", "--out", out}, c.args...)
		if _, _, err := run(args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run wrote its output")
	}
}

func TestFindKnowledgeCLI(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(t), "aidreams260k-llama")
	tmp := t.TempDir()
	data := filepath.Join(tmp, "facts.jsonl")
	os.WriteFile(data, []byte(`{"prompts":["The cat sat on the","A cat sat on the"],"target":"m"}`+"\n"), 0o644)
	out := filepath.Join(tmp, "kn.json")
	if _, _, err := run("find", "knowledge", "--model", dir, "--data", data, "--steps", "5", "--out", out); err != nil {
		t.Fatal(err)
	}
	rep, err := attribute.ReadKnowledgeReport(out)
	if err != nil || len(rep.Facts) != 1 || rep.Facts[0].Prompts != 2 || len(rep.Facts[0].Coarse) != 2 {
		t.Fatalf("report %+v (%v)", rep, err)
	}
	os.WriteFile(data, []byte(`{"prompts":["x"],"target":"there"}`+"\n"), 0o644)
	if _, _, err := run("find", "knowledge", "--model", dir, "--data", data, "--out", out+"2"); err == nil || !strings.Contains(err.Error(), data+":1: target \"there\" is 3 tokens") {
		t.Errorf("multi-token target: %v", err)
	}
}

// TestUnknownTargets: a target outside the vocabulary (it encodes to <unk>) is a usage error
// naming it, for attribute and for find knowledge (before any fact is searched).
func TestUnknownTargets(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "u.json")
	_, _, err := run("attribute", "--model", worldLlama, "--text", "Rofa bilo", "--target", "Nowhere", "--out", out)
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), `--target: target "Nowhere" is not in the model's vocabulary`) {
		t.Errorf("attribute: %v", err)
	}
	data := filepath.Join(tmp, "facts.jsonl")
	os.WriteFile(data, []byte(`{"prompts":["Rofa bilo"],"target":"kan"}`+"\n"+`{"prompts":["Rofa bilo"],"target":"Atlantis"}`+"\n"), 0o644)
	_, _, err = run("find", "knowledge", "--model", worldLlama, "--data", data, "--out", out)
	if !errors.As(err, &u) || !strings.Contains(err.Error(), data+`:2: target "Atlantis" is not in the model's vocabulary`) {
		t.Errorf("find knowledge: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run wrote its output")
	}
}
