package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/safetensors"
	"github.com/neuronscope/neuronscope/sae"
)

// traceTiny writes a trace of tiny-llama's blocks.1.mlp.hook_post ([batch, pos, 128]) with
// enough tokens to train on.
func traceTiny(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "acts.safetensors")
	args := []string{"trace", "--model", tiny, "--hooks", "blocks.1.mlp.hook_post", "--out", path}
	for i := range 48 {
		ids := make([]string, 0, 12)
		for j := range 6 + i%7 {
			ids = append(ids, strconv.Itoa((i*37+j*11)%250+3))
		}
		args = append(args, "--ids", strings.Join(ids, ","))
	}
	if _, _, err := run(args...); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSAETrainEvalConvertCLI(t *testing.T) {
	dir := t.TempDir()
	acts := traceTiny(t, dir)
	for _, arch := range []string{"topk", "relu", "jumprelu"} {
		out := filepath.Join(dir, arch)
		args := []string{"sae", "train", "--acts", acts, "--arch", arch, "--latents", "2x", "--steps", "30",
			"--batch", "64", "--quiet", "--json", "--out", out, "--stats-rows", "256"}
		switch arch {
		case "topk":
			args = append(args, "--k", "8")
		case "relu":
			args = append(args, "--lr", "1e-3") // the reference 5e-5 needs far more than 30 steps
		}
		stdout, _, err := run(args...)
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		var rep struct {
			Schema string `json:"schema_version"`
			SAEs   []struct {
				Metrics sae.Metrics `json:"metrics"`
				Curve   []any       `json:"curve"`
			} `json:"saes"`
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Schema != saeTrainSchema || len(rep.SAEs) != 1 || len(rep.SAEs[0].Curve) != 30 || !(rep.SAEs[0].Metrics.FVU < 1) {
			t.Errorf("%s: report %s", arch, stdout)
		}
		s, err := sae.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if s.HookName != "blocks.1.mlp.hook_post" || s.HookLayer != 1 || s.ModelName != "tiny-llama" || s.DIn != 128 || s.DSAE != 256 {
			t.Errorf("%s: saved config %+v", arch, s.Config)
		}
		// eval on the activations, then in the model.
		stdout, _, err = run("sae", "eval", "--sae", out, "--acts", acts, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		json.Unmarshal([]byte(stdout), &ev)
		for _, k := range []string{"fvu", "l0", "dead_fraction", "nmse_openai"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("%s: eval JSON lacks %s: %s", arch, k, stdout)
			}
		}
		stdout, _, err = run("sae", "eval", "--sae", out, "--model", tiny, "--acts", acts, "--atoms", "--json")
		if err != nil {
			t.Fatal(err)
		}
		ev = nil
		json.Unmarshal([]byte(stdout), &ev)
		for _, k := range []string{"fvu", "l0", "dead_fraction", "ce_increase", "loss_recovered", "ce_clean", "atoms"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("%s: eval --model JSON lacks %s: %s", arch, k, stdout)
			}
		}
	}
	// Several SAEs from one pass, then convert one to bfloat16 with folded decoder norms.
	out := filepath.Join(dir, "many")
	if _, _, err := run("sae", "train", "--acts", acts, "--arch", "relu", "--sparsity", "1,5", "--steps", "10", "--batch", "64",
		"--quiet", "--out", out, "--stats-rows", "128"); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"relu-s1", "relu-s5"} {
		if _, err := sae.Load(filepath.Join(out, sub)); err != nil {
			t.Error(err)
		}
	}
	conv := filepath.Join(dir, "conv")
	if _, _, err := run("sae", "convert", "--in", filepath.Join(out, "relu-s1"), "--out", conv, "--dtype", "bfloat16", "--fold-decoder-norm"); err != nil {
		t.Fatal(err)
	}
	s, err := sae.Load(conv)
	if err != nil || s.DType != "bfloat16" || math.Abs(float64(norm32(s.Direction(3)))-1) > 0.01 {
		t.Errorf("converted: %v %+v", err, s)
	}
}

func norm32(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return float32(math.Sqrt(s))
}

func TestSAEResumeCLI(t *testing.T) {
	dir := t.TempDir()
	acts := traceTiny(t, dir)
	base := []string{"sae", "train", "--acts", acts, "--arch", "topk", "--k", "4", "--latents", "256", "--batch", "32",
		"--quiet", "--stats-rows", "128", "--checkpoint-every", "5", "--steps", "20"}
	ref := filepath.Join(dir, "ref")
	if _, _, err := run(append(base, "--out", ref)...); err != nil {
		t.Fatal(err)
	}
	// Resuming a checkpoint continues it (here: it is complete, so the SAE written is the one
	// the checkpoint holds, byte for byte; mid-run resumes are tested in package sae).
	res := filepath.Join(dir, "resumed")
	os.MkdirAll(res, 0o755)
	ck, _ := os.ReadFile(filepath.Join(ref, "trainer_state.safetensors"))
	os.WriteFile(filepath.Join(res, "trainer_state.safetensors"), ck, 0o644)
	if _, _, err := run(append(base, "--out", res, "--resume")...); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(ref, sae.WeightsFile))
	b, _ := os.ReadFile(filepath.Join(res, sae.WeightsFile))
	if len(a) == 0 || string(a) != string(b) {
		t.Error("resumed run wrote other weights than the run it continues")
	}
	var u usageError
	_, _, err := run(append(base, "--out", res, "--resume", "--k", "5")...)
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "k: 4 → 5") {
		t.Errorf("resume with a changed --k: %v", err)
	}
	_, _, err = run(append(base, "--out", ref)...)
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("a second run over an existing checkpoint: %v", err)
	}
}

func TestSAEBadInputCLI(t *testing.T) {
	dir := t.TempDir()
	acts := traceTiny(t, dir)
	good := filepath.Join(dir, "good")
	if _, _, err := run("sae", "train", "--acts", acts, "--arch", "topk", "--k", "4", "--steps", "3", "--batch", "16", "--quiet", "--out", good, "--stats-rows", "64"); err != nil {
		t.Fatal(err)
	}
	// An activation file with a NaN: the step is named, nothing is written.
	nanPath := filepath.Join(dir, "nan.safetensors")
	x := make([]float32, 200*8)
	for i := range x {
		x[i] = float32(i%13) * 0.1
	}
	x[150*8+3] = float32(math.NaN())
	if err := safetensors.WriteFile(nanPath, []safetensors.WriteTensor{safetensors.F32("acts", []int{200, 8}, x)}, nil); err != nil {
		t.Fatal(err)
	}
	wide := filepath.Join(dir, "wide.safetensors")
	safetensors.WriteFile(wide, []safetensors.WriteTensor{safetensors.F32("acts", []int{10, 9}, make([]float32, 90))}, nil)
	otherHook := filepath.Join(dir, "otherhook")
	if _, _, err := run("sae", "convert", "--in", good, "--out", otherHook, "--hook-name", "blocks.5.mlp.hook_post"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"sae", "train", "--arch", "topk", "--out", dir}, true, "--acts is required"},
		{[]string{"sae", "train", "--acts", acts, "--arch", "gated", "--out", dir}, true, "unknown SAE architecture"},
		{[]string{"sae", "train", "--acts", acts, "--k", "300", "--latents", "2x", "--out", filepath.Join(dir, "x")}, true, "k: 300 is not in 1..d_sae (256)"},
		{[]string{"sae", "train", "--acts", acts, "--latents", "lots", "--out", filepath.Join(dir, "x")}, true, "--latents"},
		{[]string{"sae", "train", "--acts", acts, "--arch", "relu", "--k", "3", "--out", filepath.Join(dir, "x")}, true, "--k"},
		{[]string{"sae", "train", "--acts", filepath.Join(dir, "missing.safetensors"), "--out", filepath.Join(dir, "x")}, true, "missing.safetensors"},
		{[]string{"sae", "train", "--acts", acts, "--hook", "blocks.9.mlp.hook_post", "--out", filepath.Join(dir, "x")}, true, "no tensor"},
		{[]string{"sae", "train", "--acts", acts, "--resume", "--checkpoint-every", "5", "--out", filepath.Join(dir, "fresh")}, true, "trainer_state.safetensors"},
		{[]string{"sae", "train", "--acts", nanPath, "--k", "2", "--latents", "16", "--batch", "50", "--steps", "20", "--stats-rows", "10",
			"--quiet", "--out", filepath.Join(dir, "nan")}, false, "non-finite activations"},
		{[]string{"sae", "eval", "--sae", good, "--acts", wide}, true, "d_in is 128"},
		{[]string{"sae", "eval", "--sae", filepath.Join(dir, "nope"), "--acts", acts}, true, "cfg.json"},
		{[]string{"sae", "eval", "--sae", good, "--model", "../../testdata/world-llama", "--acts", acts}, true, "d_in is 128"},
		{[]string{"sae", "eval", "--sae", good, "--model", tiny, "--acts", nanPath}, true, "input_ids"},
		{[]string{"sae", "eval", "--sae", otherHook, "--model", tiny, "--acts", acts}, true, "blocks.5.mlp.hook_post"},
		{[]string{"sae", "convert", "--in", good}, true, "--out"},
		{[]string{"sae", "convert", "--in", good, "--out", filepath.Join(dir, "c"), "--fold-decoder-norm"}, true, "rescale_acts_by_decoder_norm"},
		{[]string{"sae", "bogus"}, true, "unknown subcommand"},
	}
	for _, tc := range cases {
		_, _, err := run(tc.args...)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		var u usageError
		if errors.As(err, &u) != tc.usage {
			t.Errorf("%v: usage error = %v, want %v (%v)", tc.args, !tc.usage, tc.usage, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %q does not mention %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nan", "cfg.json")); err == nil {
		t.Error("a run stopped by a NaN wrote an SAE")
	}
}

// TestSAEStreamCLI: sae train --model --data streams activations through a bounded shuffling
// buffer, deterministically (the background refill never changes the bytes), resumably, and
// sae eval --model --data measures the result in the model.
func TestSAEStreamCLI(t *testing.T) {
	dir := t.TempDir()
	base := []string{"sae", "train", "--model", worldGPT2, "--data", "../../testdata/world/train.txt", "--max-tokens", "1500",
		"--layer", "1", "--arch", "topk", "--k", "4", "--latents", "64", "--batch", "32", "--buffer", "200", "--stats-rows", "64",
		"--steps", "60", "--eval-rows", "500", "--checkpoint-every", "30", "--quiet"}
	var reps []saeTrainReport
	var weights []string
	for i := range 2 {
		out := filepath.Join(dir, strconv.Itoa(i))
		stdout, _, err := run(append(base, "--out", out, "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		var rep saeTrainReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
		w, _ := os.ReadFile(filepath.Join(out, sae.WeightsFile))
		weights = append(weights, string(w))
	}
	r := reps[0]
	// 1500 tokens in contexts that each start with BOS (the world tokenizer adds it): fewer rows.
	if r.Tensor != "blocks.1.mlp.hook_post" || r.Rows <= 0 || r.Rows >= 1500 || len(r.SAEs) != 1 ||
		r.SAEs[0].Metrics.Tokens != 500 || r.SAEs[0].Final.Step != 60 || !strings.Contains(r.Provenance.Dataset, "buffer 200 rows") {
		t.Errorf("report: tensor %s rows %d, %+v", r.Tensor, r.Rows, r.SAEs)
	}
	if weights[0] == "" || weights[0] != weights[1] {
		t.Error("two streamed runs with the same seeds wrote different weights")
	}
	s, err := sae.Load(filepath.Join(dir, "0"))
	if err != nil || s.HookName != "blocks.1.mlp.hook_post" || s.DIn != 512 || s.ModelName != "world-gpt2" {
		t.Fatalf("saved SAE: %v %+v", err, s)
	}
	// Two layers from one pass: each layer's SAE is the one a pass over that layer alone trains
	// (same rows in the same order, each SAE reading its own columns).
	multi := filepath.Join(dir, "multi")
	if _, _, err := run(append(slices.Clone(base), "--layer", "1,2", "--out", multi)...); err != nil {
		t.Fatal(err)
	}
	only2 := filepath.Join(dir, "only2")
	if _, _, err := run(append(slices.Clone(base), "--layer", "2", "--out", only2)...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sub, ref string }{{"blocks.1.mlp.hook_post", filepath.Join(dir, "0")}, {"blocks.2.mlp.hook_post", only2}} {
		got, _ := os.ReadFile(filepath.Join(multi, c.sub, sae.WeightsFile))
		want, _ := os.ReadFile(filepath.Join(c.ref, sae.WeightsFile))
		if len(got) == 0 || string(got) != string(want) {
			t.Errorf("%s trained beside another layer differs from %s trained alone", c.sub, c.ref)
		}
		if s, err := sae.Load(filepath.Join(multi, c.sub)); err != nil || s.HookName != c.sub {
			t.Errorf("%s: %v %+v", c.sub, err, s)
		}
	}
	// Resuming the final checkpoint writes the same SAE.
	res := filepath.Join(dir, "res")
	os.MkdirAll(res, 0o755)
	ck, _ := os.ReadFile(filepath.Join(dir, "0", "trainer_state.safetensors"))
	os.WriteFile(filepath.Join(res, "trainer_state.safetensors"), ck, 0o644)
	if _, _, err := run(append(base, "--out", res, "--resume")...); err != nil {
		t.Fatal(err)
	}
	if w, _ := os.ReadFile(filepath.Join(res, sae.WeightsFile)); string(w) != weights[0] {
		t.Error("resumed streamed run wrote other weights")
	}
	stdout, _, err := run("sae", "eval", "--sae", filepath.Join(dir, "0"), "--model", worldGPT2, "--data", "../../testdata/world/train.txt",
		"--max-tokens", "500", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fvu", "l0", "dead_fraction", "ce_increase", "loss_recovered"} {
		if v, ok := doc[k].(float64); !ok || math.IsNaN(v) {
			t.Errorf("eval --data: %s = %v", k, doc[k])
		}
	}
	if l0 := doc["l0"].(float64); l0 != 4 {
		t.Errorf("topk-4 L0 %g", l0)
	}
	// Bad input: clear usage errors, nothing written.
	out := filepath.Join(dir, "bad")
	expectUsageErrors(t, []usageCase{
		{[]string{"sae", "train", "--model", worldGPT2, "--data", "../../testdata/world/train.txt", "--layer", "9"}, "--layer 9 is out of range"},
		{[]string{"sae", "train", "--model", worldGPT2, "--data", "../../testdata/world/train.txt", "--layer", "1,1"}, "twice"},
		{[]string{"sae", "train", "--model", worldGPT2, "--data", "../../testdata/world/train.txt", "--layer", "1", "--hook", "mlp.hook_nope"}, "--hook"},
		{[]string{"sae", "train", "--model", worldGPT2, "--layer", "1"}, "--model needs --data"},
		{[]string{"sae", "train", "--data", "../../testdata/world/train.txt", "--layer", "1"}, "--data needs --model"},
		{[]string{"sae", "train", "--model", worldGPT2, "--data", "../../testdata/world/train.txt", "--layer", "1", "--buffer", "0"}, "--buffer 0"},
		{[]string{"sae", "train", "--model", worldGPT2, "--data", filepath.Join(dir, "absent.txt"), "--layer", "1"}, "--data"},
	}, out, "--quiet", "--out", out)
	expectUsageErrors(t, []usageCase{
		{[]string{"sae", "eval", "--sae", filepath.Join(dir, "0"), "--model", tiny, "--data", "../../testdata/world/train.txt"}, "d_in"},
		{[]string{"sae", "eval", "--sae", filepath.Join(dir, "0"), "--data", "../../testdata/world/train.txt"}, "--data needs --model"},
	}, "")
}
