package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/profile"
	"github.com/neuronscope/neuronscope/sae"
)

// usageCase is a command line that must fail with a usage error mentioning want.
type usageCase struct {
	args []string
	want string
}

// expectUsageErrors runs every case with extra appended and checks that it fails with a usage
// error (exit code 2) containing its want, and that nothing appeared at out ("": none to check).
func expectUsageErrors(t *testing.T, cases []usageCase, out string, extra ...string) {
	t.Helper()
	for _, c := range cases {
		_, _, err := run(append(append([]string{}, c.args...), extra...)...)
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want a usage error containing %q", c.args, err, c.want)
		}
		if out == "" {
			continue
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: output written despite the error", c.args)
			os.RemoveAll(out)
		}
	}
}

// unitFixtures fits SNMF features and trains a TopK SAE on world-gpt2's blocks.1.mlp.hook_post
// over a few documents, streamed from the model; it returns the data file and the two dirs.
func unitFixtures(t *testing.T) (data, feats, saeDir string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "d.txt")
	os.WriteFile(data, []byte("ne tisafa pe Kullebyr bi Pornyva\nMara kra kan hokot got Felul\ntsetsa Vimikyn tlo wex Tufinri\nne bala tala sasape pe ne mitefe\n"), 0o644)
	feats = filepath.Join(dir, "snmf")
	if _, _, err := run("decompose", "snmf", "--model", worldGPT2, "--data", data, "--layer", "1", "--rank", "5", "--sparsity", "0.05",
		"--iters", "30", "--no-progress", "--out", feats); err != nil {
		t.Fatal(err)
	}
	saeDir = filepath.Join(dir, "sae")
	if _, _, err := run("sae", "train", "--model", worldGPT2, "--data", "../../testdata/world/train.txt", "--max-tokens", "800", "--layer", "1",
		"--arch", "topk", "--k", "4", "--latents", "32", "--batch", "32", "--buffer", "128", "--stats-rows", "64", "--steps", "20", "--quiet", "--out", saeDir); err != nil {
		t.Fatal(err)
	}
	return data, feats, saeDir
}

// TestProfileUnits: profile --features / --sae profile features and latents like neurons,
// with the activations the decompositions define: a feature's maximum over the data equals
// the largest exact NNLS coefficient of the traced activations, a latent's the largest SAE
// encoding.
func TestProfileUnits(t *testing.T) {
	data, feats, saeDir := unitFixtures(t)
	out := filepath.Join(t.TempDir(), "prof")
	if _, _, err := run("profile", "--model", worldGPT2, "--data", data, "--bos", "always", "--features", feats, "--sae", saeDir,
		"--no-progress", "--top", "3", "--calib", "2", "--out", out); err != nil {
		t.Fatal(err)
	}
	rep, err := profile.ReadReportTop(filepath.Join(out, "profile.json"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 2 || rep.Points[0].Hook != "blocks.1.mlp.hook_post.snmf" || len(rep.Points[0].Neurons) != 5 ||
		rep.Points[1].Hook != "blocks.1.mlp.hook_post.sae.hook_sae_acts_post" || len(rep.Points[1].Neurons) != 32 || len(rep.Settings.Units) != 2 {
		t.Fatalf("points %+v", rep.Points)
	}
	// Reference: the same documents traced, BOS rows dropped, encoded directly.
	jsonl := filepath.Join(t.TempDir(), "d.jsonl")
	text, _ := os.ReadFile(data)
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		b.WriteString(`"` + l + "\"\n")
	}
	os.WriteFile(jsonl, []byte(b.String()), 0o644)
	trace := filepath.Join(t.TempDir(), "t.safetensors")
	if _, _, err := run("trace", "--model", worldGPT2, "--jsonl", jsonl, "--bos", "always", "--hooks", "blocks.1.mlp.hook_post", "--out", trace); err != nil {
		t.Fatal(err)
	}
	acts, err := sae.OpenActivations(trace, sae.ActivationOptions{Tensor: "blocks.1.mlp.hook_post", DropFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	defer acts.Close()
	x := acts.Head(acts.Len())
	n := acts.Len()
	o, _ := decompose.Read(feats)
	g := make([]float32, n*5)
	if err := o.Features().Coefficients(g, x); err != nil {
		t.Fatal(err)
	}
	s, _ := sae.Load(saeDir)
	z := s.Encode(nil, x)
	for pi, c := range []struct {
		vals []float32
		k    int
	}{{g, 5}, {z, 32}} {
		for j, nr := range rep.Points[pi].Neurons {
			want := float32(math.Inf(-1))
			for r := range n {
				want = max(want, c.vals[r*c.k+j])
			}
			if nr.Count != int64(n) || math.Abs(float64(nr.Max-want)) > 1e-4*max(1, math.Abs(float64(want))) {
				t.Errorf("%s[%d]: count %d max %g, want %d and %g", rep.Points[pi].Hook, j, nr.Count, nr.Max, n, want)
			}
		}
	}
	// The dashboard renders them.
	html := filepath.Join(t.TempDir(), "r.html")
	if _, _, err := run("report", "--in", out, "--out", html); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(html)
	if !strings.Contains(string(page), "blocks.1.mlp.hook_post.sae.hook_sae_acts_post · latent") || !strings.Contains(string(page), "blocks.1.mlp.hook_post.snmf · feature") {
		t.Error("the dashboard does not show the features and latents")
	}
	// Neuronpedia / NeuronRecord exports name the source.
	if _, err := os.Stat(filepath.Join(out, "neuron_records", "blocks.1.mlp.hook_post.snmf.jsonl")); err != nil {
		entries, _ := os.ReadDir(filepath.Join(out, "neuron_records"))
		t.Errorf("neuron records: %v (have %v)", err, entries)
	}
}

// TestUnitsBadInput: a features dir or SAE that does not fit the model is a usage error naming
// the flag, and nothing is written.
func TestUnitsBadInput(t *testing.T) {
	data, feats, saeDir := unitFixtures(t)
	dir := t.TempDir()
	// An SAE whose hook the model lacks, and one whose d_in differs from the tap's width.
	noHook := filepath.Join(dir, "nohook")
	if _, _, err := run("sae", "convert", "--in", saeDir, "--out", noHook, "--hook-name", "blocks.9.mlp.hook_post"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	expectUsageErrors(t, []usageCase{
		{[]string{"profile", "--model", worldGPT2, "--data", data, "--sae", noHook}, "blocks.9.mlp.hook_post"},
		{[]string{"profile", "--model", tiny, "--data", data, "--sae", saeDir}, "d_in is 512"},
		{[]string{"profile", "--model", tiny, "--data", data, "--features", feats}, "d_mlp 512"},
		{[]string{"profile", "--model", worldGPT2, "--data", data, "--features", filepath.Join(dir, "absent")}, "--features"},
	}, out, "--no-progress", "--out", out)
}

// TestSteerUnits: steer along an SNMF feature and an SAE latent, α calibrated by KL: both
// targets are reached, a larger KL needs a larger α for each sign (KL grows with α along the
// direction), and the direction is the feature's normalised column or the latent's decoder row.
func TestSteerUnits(t *testing.T) {
	_, feats, saeDir := unitFixtures(t)
	for _, src := range [][]string{{"--features", feats, "--feature", "1"}, {"--sae", saeDir, "--latent", "3"}} {
		args := append([]string{"steer", "--model", worldGPT2, "--prompt", "ne tisafa pe", "--kl", "0.02,0.1", "--max-new", "3", "--json"}, src...)
		stdout, _, err := run(args...)
		if err != nil {
			t.Fatalf("%v: %v", src, err)
		}
		var doc steerReport
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Points) != 1 || doc.Points[0] != "blocks.1.mlp.hook_post" || len(doc.Targets) != 4 || len(doc.Inputs) != 1 {
			t.Fatalf("%v: %+v", src, doc.Steering)
		}
		alpha := map[[2]float64]float64{}
		for _, sp := range doc.Targets {
			if !sp.Reached || len(sp.Generations) == 0 {
				t.Errorf("%v: target %g sign %d not reached (%s) or no generations", src, sp.TargetKL, sp.Sign, sp.Why)
			}
			alpha[[2]float64{sp.TargetKL, float64(sp.Sign)}] = sp.Alpha
		}
		for _, sign := range []float64{1, -1} {
			if !(alpha[[2]float64{0.02, sign}] < alpha[[2]float64{0.1, sign}]) {
				t.Errorf("%v sign %g: α %g for KL 0.02, %g for KL 0.1", src, sign, alpha[[2]float64{0.02, sign}], alpha[[2]float64{0.1, sign}])
			}
		}
	}
	m, err := model.Load(worldGPT2)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := featureDirection(feats, 1, m)
	o, _ := decompose.Read(feats)
	if err != nil || len(d.Parts) != 1 || d.Parts[0].Vector[7] != o.F[7*o.Report.Rank+1] {
		t.Errorf("feature direction: %v", err)
	}
	// Bad input: an index out of range, a flag without its partner.
	base := []string{"steer", "--model", worldGPT2, "--prompt", "ne tisafa pe", "--json"}
	expectUsageErrors(t, []usageCase{
		{append(base, "--features", feats, "--feature", "5"), "--feature 5 is out of range"},
		{append(base, "--sae", saeDir, "--latent", "32"), "--latent 32 is out of range"},
		{append(base, "--sae", saeDir), "--latent"},
		{append(base, "--features", feats, "--feature", "0", "--sae", saeDir, "--latent", "0"), "exactly one"},
	}, "")
}

// TestVerifyUnits: a neuron set whose units are SNMF features or SAE latents is verified like a
// neuron set: labels name the units, random controls are random units of the same
// decomposition, and a missing or mismatched decomposition is a usage error.
func TestVerifyUnits(t *testing.T) {
	data, feats, saeDir := unitFixtures(t)
	dir := t.TempDir()
	prof := filepath.Join(dir, "prof")
	if _, _, err := run("profile", "--model", worldGPT2, "--data", data, "--features", feats, "--sae", saeDir, "--no-progress", "--calib", "2", "--out", prof); err != nil {
		t.Fatal(err)
	}
	// A small eval: 4 items per relation × language pair of two relations.
	src, _ := os.ReadFile("../../testdata/world/eval_facts.jsonl")
	var keep []string
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(src)), "\n") {
		var it struct{ Relation, Language string }
		json.Unmarshal([]byte(line), &it)
		k := it.Relation + "/" + it.Language
		if (it.Relation == "capital_of" || it.Relation == "born_in") && count[k] < 4 {
			count[k]++
			keep = append(keep, line)
		}
	}
	eval := filepath.Join(dir, "eval.jsonl")
	os.WriteFile(eval, []byte(strings.Join(keep, "\n")+"\n"), 0o644)
	write := func(name, tap, groups string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`{"schema_version":"neuronscope.neurons/v1","method":"hand","tap":"`+tap+`","groups":{`+groups+`}}`), 0o644)
		return p
	}
	featSet := write("f.json", "mlp.hook_post.snmf", `"capital_of":[{"layer":1,"index":0},{"layer":1,"index":3}],"born_in":[{"layer":1,"index":2}]`)
	latSet := write("l.json", "mlp.hook_post.sae.hook_sae_acts_post", `"capital_of":[{"layer":1,"index":5}],"born_in":[{"layer":1,"index":9},{"layer":1,"index":30}]`)
	for _, c := range []struct {
		set  string
		args []string
		unit string
	}{{featSet, []string{"--features", feats}, "blocks.1.mlp.hook_post.snmf"}, {latSet, []string{"--sae", saeDir}, "blocks.1.mlp.hook_post.sae.hook_sae_acts_post"}} {
		out := filepath.Join(dir, "labels.json")
		args := append([]string{"verify", "--model", worldGPT2, "--neurons", c.set, "--eval", eval, "--random", "3", "--resamples", "10",
			"--profile", prof, "--no-progress", "--out", out}, c.args...)
		if _, _, err := run(args...); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		f, err := labels.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Labels) != 2 {
			t.Fatalf("%d labels", len(f.Labels))
		}
		for _, l := range f.Labels {
			if len(l.Verifications) != 1 || l.Verdict == "" || l.Verifications[0].Random.N != 3 {
				t.Errorf("%s: verifications %+v", l.Set, l.Verifications)
			}
			for _, u := range l.Units {
				if u.Hook != c.unit || len(u.TopExamples) == 0 {
					t.Errorf("%s: unit %+v, want hook %s and the profile's top examples", l.Set, u, c.unit)
				}
			}
		}
		js, _ := os.ReadFile(out)
		if !strings.Contains(string(js), c.unit) {
			t.Errorf("labels do not name %s", c.unit)
		}
		os.Remove(out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--neurons", featSet}, "need --features"},
		{[]string{"--neurons", latSet, "--features", feats}, "need --sae"},
		{[]string{"--neurons", write("r.json", "mlp.hook_post.snmf", `"capital_of":[{"layer":1,"index":5}]`), "--features", feats}, "index 5 out of range [0, 5)"},
		{[]string{"--neurons", write("l2.json", "mlp.hook_post.snmf", `"capital_of":[{"layer":2,"index":1}]`), "--features", feats}, "fitted at blocks.2.mlp.hook_post"},
		{[]string{"--neurons", featSet, "--features", feats, "--intervention", "clamp"}, "clamp"},
		{[]string{"--neurons", featSet, "--features", feats, "--intervention", "mean"}, "mean"},
	} {
		out := filepath.Join(dir, "bad.json")
		args := append([]string{"verify", "--model", worldGPT2, "--eval", eval, "--random", "2", "--no-progress", "--out", out}, c.args...)
		_, _, err := run(args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: output written despite the error", c.args)
			os.Remove(out)
		}
	}
}
