package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/sae"
)

// snmfDir writes a decompose output of rank features with random non-negative F at
// blocks.layer.mlp.hook_post of width dMLP.
func snmfDir(t *testing.T, layer, dMLP, rank int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(9, 9))
	f := make([]float32, dMLP*rank)
	for i := range f {
		f[i] = float32(max(rng.NormFloat64(), 0))
	}
	dir := filepath.Join(t.TempDir(), "snmf")
	r := &decompose.Report{SchemaVersion: decompose.Schema, Method: "snmf", Tap: "blocks." + string(rune('0'+layer)) + ".mlp.hook_post",
		Layer: layer, DMLP: dMLP, Rank: rank}
	if err := decompose.Write(dir, &decompose.Output{Report: r, F: f}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// saeDir writes a TopK SAE with random weights at blocks.layer.mlp.hook_post of width dIn.
func saeDir(t *testing.T, layer, dIn, dSAE, k int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 5))
	s := sae.New(sae.TopK, dIn, dSAE, k)
	for _, w := range [][]float32{s.WEnc, s.WDec} {
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
	}
	s.HookName, s.HookLayer = "blocks."+string(rune('0'+layer))+".mlp.hook_post", layer
	dir := filepath.Join(t.TempDir(), "sae")
	if err := s.Save(dir, sae.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestProbeSAE: --sae probes the SAE's latents at its hook, with directions in activation space.
func TestProbeSAE(t *testing.T) {
	dir, eval, _, _ := verifyFixture(t)
	out := filepath.Join(t.TempDir(), "probe")
	if _, _, err := run("probe", "--model", dir, "--eval", eval, "--label-key", "language", "--folds", "3", "--layers", "0",
		"--sae", saeDir(t, 1, 48, 16, 4), "--out", out); err != nil {
		t.Fatal(err)
	}
	var pf probeFile
	b, _ := os.ReadFile(filepath.Join(out, "probe.json"))
	if err := json.Unmarshal(b, &pf); err != nil {
		t.Fatal(err)
	}
	if len(pf.Probes) != 2 || pf.Probes[1].Units != "sae" || pf.Probes[1].Width != 16 || pf.Probes[1].Point != "blocks.1.mlp.hook_post" ||
		len(pf.Inputs) != 2 || pf.Inputs[1].Role != "sae" || len(pf.Probes[1].Directions) != 4 {
		t.Fatalf("probe.json: %+v", pf)
	}
	d, err := ablate.ReadDirection(filepath.Join(out, pf.Probes[1].Directions[0]))
	if err != nil || len(d.Parts[0].Vector) != 48 || !strings.Contains(d.Name, "SAE latents") {
		t.Errorf("direction: %v %+v", err, d)
	}
}

// TestProbeCommand: per layer a probe with held-out accuracy and a majority baseline, one
// direction file per class that steer reads, the SNMF coefficients probed too, and the same
// bytes from two runs with the same seed.
func TestProbeCommand(t *testing.T) {
	dir, eval, _, _ := verifyFixture(t)
	feats := snmfDir(t, 1, 48, 6)
	out := filepath.Join(t.TempDir(), "probe")
	args := []string{"probe", "--model", dir, "--eval", eval, "--label-key", "language", "--folds", "3", "--seed", "2",
		"--features", feats, "--out", out}
	stdout, _, err := run(args...)
	if err != nil {
		t.Fatal(err)
	}
	first := readOutputs(t, out)
	dirs := readOutputs(t, filepath.Join(out, "directions"))
	var pf probeFile
	if err := json.Unmarshal(first["probe.json"], &pf); err != nil {
		t.Fatal(err)
	}
	if pf.SchemaVersion != probeSchema || len(pf.Probes) != 3 || !slices.Equal(pf.Settings.Classes, []string{"korrak", "pelan", "shivu", "tlaxo"}) ||
		pf.Probes[2].Units != "snmf" || pf.Probes[2].Width != 6 || pf.Probes[2].Point != "blocks.1.mlp.hook_post" || len(pf.Inputs) != 2 {
		t.Fatalf("probe.json: %+v", pf)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, e := range pf.Probes {
		r := e.Result
		if len(r.Folds) != 3 || e.MeanAccuracy != r.MeanAccuracy || e.Majority <= 0 || e.Majority > 0.5 || len(e.Directions) != 4 {
			t.Errorf("%s %s: %+v", e.Point, e.Units, e)
		}
		for _, rel := range e.Directions {
			d, err := ablate.ReadDirection(filepath.Join(out, rel))
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Check(m.Catalog()); err != nil || math.Abs(d.Norm()-1) > 1e-5 || d.Parts[0].Point.String() != e.Point {
				t.Errorf("%s: %v, norm %g", rel, err, d.Norm())
			}
		}
	}
	if !strings.Contains(stdout, "majority") {
		t.Errorf("stdout:\n%s", stdout)
	}
	// the direction steers
	steerOut := filepath.Join(t.TempDir(), "steer.json")
	if _, _, err := run("steer", "--model", dir, "--direction", filepath.Join(out, pf.Probes[1].Directions[1]), "--prompt", "Rofa bilo",
		"--kl", "0.05", "--max-new", "0", "--out", steerOut); err != nil {
		t.Errorf("steer --direction: %v", err)
	}
	// the same seed again: the same bytes
	os.RemoveAll(out)
	if _, _, err := run(args...); err != nil {
		t.Fatal(err)
	}
	second := readOutputs(t, out)
	if len(second) != len(first) {
		t.Errorf("%d files, then %d", len(first), len(second))
	}
	for name, want := range first {
		if !bytes.Equal(second[name], want) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
	if a, b := readOutputs(t, filepath.Join(out, "directions")), dirs; len(a) != 12 || !reflect.DeepEqual(a, b) {
		t.Errorf("%d direction files, differing between two runs with the same seed", len(a))
	}

	// two classes: one direction per tap, toward the second
	two := filepath.Join(t.TempDir(), "two.jsonl")
	data, _ := os.ReadFile(eval)
	var keep []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, `"language":"pelan"`) || strings.Contains(l, `"language":"shivu"`) {
			keep = append(keep, l)
		}
	}
	os.WriteFile(two, []byte(strings.Join(keep, "\n")+"\n"), 0o644)
	out2 := filepath.Join(t.TempDir(), "probe2")
	if _, _, err := run("probe", "--model", dir, "--eval", two, "--label-key", "language", "--method", "diff-means", "--layers", "1",
		"--pool", "mean", "--out", out2); err != nil {
		t.Fatal(err)
	}
	var pf2 probeFile
	b2, _ := os.ReadFile(filepath.Join(out2, "probe.json"))
	json.Unmarshal(b2, &pf2)
	if len(pf2.Probes) != 1 || len(pf2.Probes[0].Directions) != 1 || !strings.HasSuffix(pf2.Probes[0].Directions[0], ".shivu.json") {
		t.Errorf("two classes: %+v", pf2.Probes)
	}
}

// TestProbeBadInput: bad flags and inputs are usage errors naming the flag or file, and leave
// no output behind.
func TestProbeBadInput(t *testing.T) {
	dir, eval, _, _ := verifyFixture(t)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	evalData, _ := os.ReadFile(eval)
	empty := filepath.Join(tmp, "empty.jsonl")
	os.WriteFile(empty, []byte(strings.Replace(string(evalData), `"relation":"capital_of"`, `"relation":" "`, 1)), 0o644)
	wrongWidth := snmfDir(t, 1, 40, 3)
	out := filepath.Join(tmp, "out", "probe")
	base := []string{"probe", "--model", dir, "--eval", eval, "--label-key", "relation"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--hook", "attn.hook_pattern", "--out", out}, "--hook"},
		{[]string{"--hook", "ln_final.hook_normalized", "--out", out}, "--hook"},
		{[]string{"--layers", "9", "--out", out}, "--layers"},
		{[]string{"--label-key", "planet", "--out", out}, "planet"},
		{[]string{"--eval", empty, "--out", out}, "empty group"},
		{[]string{"--folds", "5", "--out", out}, "--folds"},
		{[]string{"--folds", "1", "--out", out}, "--folds"},
		{[]string{"--method", "svm", "--out", out}, "--method"},
		{[]string{"--pool", "median", "--out", out}, "--pool"},
		{[]string{"--features", tmp, "--out", out}, "--features"},
		{[]string{"--features", wrongWidth, "--out", out}, "--features"},
		{[]string{"--sae", tmp, "--out", out}, "--sae"},
		{[]string{"--sae", saeDir(t, 1, 40, 8, 2), "--out", out}, "--sae"},
		{[]string{"--sae", saeDir(t, 7, 48, 8, 2), "--out", out}, "--sae"},
		{[]string{"--sae", saeDir(t, 1, 48, 8, 2), "--features", wrongWidth, "--out", out}, "--features and --sae"},
		{[]string{"--out", file}, "--out"},
		{[]string{"--out", filepath.Join(file, "x")}, "--out"},
	} {
		_, _, err := run(append(slices.Clone(base), c.args...)...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error naming %s", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "out")); err == nil {
		t.Error("a failed run left its output directory behind")
	}
}
