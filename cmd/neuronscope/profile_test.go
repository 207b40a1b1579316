package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/probes/profile"
)

// writeIDData writes a .jsonl dataset of n documents of random token ids (lengths 3..80, in
// the three accepted layouts) for the tiny-llama checkpoint (vocabulary 256).
func writeIDData(t *testing.T, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	for i := range n {
		ids := make([]int, 3+rng.IntN(78))
		for k := range ids {
			ids[k] = rng.IntN(256)
		}
		js, _ := json.Marshal(ids)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "%s\n", js)
		case 1:
			fmt.Fprintf(&b, "{\"ids\": %s}\n\n", js)
		default:
			fmt.Fprintf(&b, "{\"input_ids\": %s, \"meta\": 1}\n", js)
		}
	}
	path := filepath.Join(t.TempDir(), "data.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// outputs reads every output file of a profile run except the checkpoint.
func outputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || filepath.Base(p) == checkpointName {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProfileKillResume: a run killed after 3 batches (the last checkpoint was after batch 2)
// and resumed writes byte-identical outputs to an uninterrupted run.
func TestProfileKillResume(t *testing.T) {
	data := writeIDData(t, 40)
	args := func(out string, extra ...string) []string {
		return append([]string{"profile", "--model", tiny, "--data", data, "--out", out, "--ctx", "24", "--batch", "4",
			"--top", "5", "--quantiles", "3x2", "--calib", "8", "--checkpoint-every", "2", "--lm-head", "3", "--no-progress"}, extra...)
	}
	full := filepath.Join(t.TempDir(), "full")
	if _, _, err := run(args(full)...); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut")
	_, _, err := run(args(cut, "--stop-after-batches", "3")...)
	if err == nil || !strings.Contains(err.Error(), "stopped after 3 batches") {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cut, "profile.json")); err == nil {
		t.Fatal("an interrupted run wrote profile.json")
	}
	_, stderr, err := run(args(cut, "--resume")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "resuming after 2 batches") {
		t.Errorf("resume did not start from the checkpoint: %q", stderr)
	}
	a, b := outputs(t, full), outputs(t, cut)
	if len(a) != 5 { // profile.json, 2 NeuronRecord files, 2 Neuronpedia batches
		t.Errorf("outputs: %d files", len(a))
	}
	for name, da := range a {
		if !bytes.Equal(da, b[name]) {
			t.Errorf("%s differs between the uninterrupted and the resumed run", name)
		}
	}
	// resuming with other settings is refused
	_, _, err = run(append(args(cut, "--resume"), "--top", "6")...)
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("resume with another --top: %v", err)
	}
}

// TestProfileCtrlC: SIGINT during a run finishes the batch, saves the checkpoint and fails with
// a message naming --resume; the resumed run writes the same outputs as an uninterrupted one.
func TestProfileCtrlC(t *testing.T) {
	data := writeIDData(t, 30)
	args := func(out string, extra ...string) []string {
		return append([]string{"profile", "--model", tiny, "--data", data, "--out", out, "--ctx", "20", "--batch", "3",
			"--top", "4", "--calib", "5", "--checkpoint-every", "100", "--lm-head", "0", "--no-progress"}, extra...)
	}
	full := filepath.Join(t.TempDir(), "full")
	if _, _, err := run(args(full)...); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut")
	profileAfterBatch = func(ctx context.Context, n int64) {
		if n != 4 {
			return
		}
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Second):
			t.Error("SIGINT did not reach the run")
		}
	}
	_, _, err := run(args(cut)...)
	profileAfterBatch = nil
	if err == nil || !strings.Contains(err.Error(), "continue with --resume") {
		t.Fatalf("interrupted run: %v", err)
	}
	_, stderr, err := run(args(cut, "--resume")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "resuming after 4 batches") {
		t.Errorf("stderr %q", stderr)
	}
	a, b := outputs(t, full), outputs(t, cut)
	for name, da := range a {
		if !bytes.Equal(da, b[name]) {
			t.Errorf("%s differs between the uninterrupted and the resumed run", name)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func requireKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q (has %v)", what, k, keys(m))
		}
	}
}

// TestProfileExports: profile.json has schema_version and provenance; the NeuronRecord and
// Neuronpedia files carry every field of the field lists, with consistent values.
func TestProfileExports(t *testing.T) {
	data := writeIDData(t, 12)
	out := t.TempDir()
	stdout, _, err := run("profile", "--model", tiny, "--data", data, "--out", out, "--ctx", "16", "--top", "4",
		"--calib", "4", "--lm-head", "5", "--no-progress", "--max-tokens", "300")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "256 neurons at 2 hook points over 300 tokens") {
		t.Errorf("stdout %q", stdout)
	}
	rep, err := profile.ReadReport(filepath.Join(out, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Provenance.Tool != "neuronscope" || rep.Provenance.ConfigHash == "" || rep.Tokens != 300 || len(rep.Points) != 2 {
		t.Errorf("report header: %+v", rep.Provenance)
	}
	n0 := rep.Points[1].Neurons[7]
	if n0.LMHead == nil || len(n0.LMHead.Top) != 5 || n0.Count != 300 || len(n0.TopMax) != 4 {
		t.Errorf("neuron 1/7: %+v", n0)
	}

	line, err := os.ReadFile(filepath.Join(out, "neuron_records", "blocks.1.mlp.hook_post.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(line)), "\n")
	if len(lines) != 128 {
		t.Fatalf("%d NeuronRecords, want 128", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[7]), &rec); err != nil {
		t.Fatal(err)
	}
	requireKeys(t, "NeuronRecord", rec, "neuron_id", "most_positive_activation_records", "random_sample",
		"random_sample_by_quantile", "quantile_boundaries", "mean", "variance", "skewness", "kurtosis", "dataclass_name")
	id := rec["neuron_id"].(map[string]any)
	requireKeys(t, "neuron_id", id, "layer_index", "neuron_index")
	if id["layer_index"].(float64) != 1 || id["neuron_index"].(float64) != 7 || rec["mean"].(float64) != n0.Mean {
		t.Errorf("neuron_id %v, mean %v", id, rec["mean"])
	}
	top := rec["most_positive_activation_records"].([]any)
	requireKeys(t, "ActivationRecord", top[0].(map[string]any), "tokens", "activations")
	if len(top) != 4 || len(rec["random_sample_by_quantile"].([]any)) != 5 || len(rec["quantile_boundaries"].([]any)) != 4 {
		t.Errorf("NeuronRecord lists: %d top, %d quantiles", len(top), len(rec["random_sample_by_quantile"].([]any)))
	}

	var feats []map[string]any
	raw, err := os.ReadFile(filepath.Join(out, "neuronpedia", "batch-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &feats); err != nil {
		t.Fatal(err)
	}
	if len(feats) != 128 {
		t.Fatalf("%d Neuronpedia features", len(feats))
	}
	f := feats[7]
	requireKeys(t, "Neuronpedia feature", f, "modelId", "layer", "index", "maxActApprox", "frac_nonzero",
		"pos_str", "pos_values", "neg_str", "neg_values", "activations")
	if f["modelId"] != "tiny-llama" || f["layer"].(float64) != 1 || f["index"].(float64) != 7 ||
		float32(f["maxActApprox"].(float64)) != n0.Max || len(f["pos_str"].([]any)) != 5 {
		t.Errorf("feature: modelId %v layer %v index %v max %v", f["modelId"], f["layer"], f["index"], f["maxActApprox"])
	}
	acts := f["activations"].([]any)
	a0 := acts[0].(map[string]any)
	requireKeys(t, "Neuronpedia activation", a0, "tokens", "values", "maxValue", "maxValueTokenIndex", "binMin", "binMax")
	vals := a0["values"].([]any)
	if a0["maxValue"].(float64) != vals[int(a0["maxValueTokenIndex"].(float64))].(float64) || float32(a0["maxValue"].(float64)) != n0.Max {
		t.Errorf("activation 0: maxValue %v, values %v", a0["maxValue"], vals)
	}
}

// TestProfileText profiles text with a trained checkpoint's tokenizer: token strings in the
// examples decode back to the document text.
func TestProfileText(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(t), "aidreams260k-llama")
	data := filepath.Join(t.TempDir(), "stories.txt")
	text := "Once upon a time there was a little girl named Lily.\n\nShe loved to play in the park with her big red ball.\n"
	if err := os.WriteFile(data, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, _, err := run("profile", "--model", dir, "--data", data, "--out", out, "--ctx", "8", "--calib", "2", "--no-progress",
		"--window-before", "100", "--window-after", "100"); err != nil {
		t.Fatal(err)
	}
	rep, err := profile.ReadReport(filepath.Join(out, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Settings.BOSPolicy != "auto" || rep.Provenance.BOSPolicy != "auto" {
		t.Errorf("BOS policy %q", rep.Settings.BOSPolicy)
	}
	for _, e := range rep.Points[0].Neurons[0].RandomSample {
		s := strings.TrimSpace(strings.TrimPrefix(strings.Join(e.Tokens, ""), "<s>"))
		if s == "" || !strings.Contains(text, s) {
			t.Errorf("example %q is not a piece of the text", s)
		}
	}
}

func TestProfileBadInput(t *testing.T) {
	data := writeIDData(t, 2)
	txt := filepath.Join(t.TempDir(), "d.txt")
	os.WriteFile(txt, []byte("hello\n"), 0o644)
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("[1, 2, 999]\n"), 0o644)
	for _, args := range [][]string{
		{"profile", "--model", tiny, "--out", t.TempDir()},
		{"profile", "--model", tiny, "--data", data, "--out", t.TempDir(), "--quantiles", "5"},
		{"profile", "--model", tiny, "--data", data, "--out", t.TempDir(), "--hooks", "blocks.9.nothing"},
		{"profile", "--model", tiny, "--data", data, "--out", t.TempDir(), "--ctx", "1000"},
		{"profile", "--model", tiny, "--data", txt, "--out", t.TempDir()},
		{"profile", "--model", tiny, "--data", bad, "--out", t.TempDir()},
		{"profile", "--model", tiny, "--data", "x.csv", "--out", t.TempDir()},
	} {
		_, _, err := run(args...)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: want a usage error, got %v", args[3:], err)
		}
	}
}

// TestProfileDLATokens: for a LayerNorm model (gpt2-random: centering and a per-feature γ) and
// an RMSNorm one (tiny-llama), the DLA tokens of a known neuron equal a brute-force float64
// computation of W_U[t]·(g ⊙ P w) over the whole vocabulary, the LM-head tokens equal one of
// W_U[t]·w, and the two are labelled apart in the settings.
func TestProfileDLATokens(t *testing.T) {
	gpt2 := filepath.Join(fixtures.Dir(t), "gpt2-random")
	for _, tc := range []struct {
		dir           string
		layer, neuron int
	}{{gpt2, 1, 5}, {tiny, 1, 7}} {
		m, err := model.Load(tc.dir)
		if err != nil {
			t.Fatal(err)
		}
		c := m.Config
		data := filepath.Join(t.TempDir(), "data.jsonl")
		var b strings.Builder
		for d := range 4 {
			ids := make([]int, 20)
			for i := range ids {
				ids[i] = (d*31 + i*7) % c.DVocab
			}
			js, _ := json.Marshal(ids)
			fmt.Fprintf(&b, "%s\n", js)
		}
		os.WriteFile(data, []byte(b.String()), 0o644)
		out := t.TempDir()
		if _, _, err := run("profile", "--model", tc.dir, "--data", data, "--out", out, "--ctx", "16", "--top", "3",
			"--calib", "2", "--lm-head", "4", "--dla", "4", "--no-progress"); err != nil {
			t.Fatal(err)
		}
		rep, err := profile.ReadReport(filepath.Join(out, "profile.json"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.SchemaVersion != profile.SchemaVersion || !strings.Contains(rep.Settings.DLASource, "g ⊙ P w") ||
			!strings.Contains(rep.Settings.LMHeadSource, "raw write direction") {
			t.Errorf("%s: schema %q, dla_source %q, lm_head_source %q", tc.dir, rep.SchemaVersion, rep.Settings.DLASource, rep.Settings.LMHeadSource)
		}
		var nr *profile.NeuronReport
		for _, pt := range rep.Points {
			if pt.Hook == fmt.Sprintf("blocks.%d.mlp.hook_post", tc.layer) {
				nr = &pt.Neurons[tc.neuron]
			}
		}
		if nr == nil || nr.DLA == nil || nr.LMHead == nil || len(nr.DLA.Top) != 4 || len(nr.DLA.Bottom) != 4 {
			t.Fatalf("%s: neuron %d/%d has no DLA or LM-head tokens: %+v", tc.dir, tc.layer, tc.neuron, nr)
		}

		// brute force, float64
		w := make([]float32, c.DModel)
		m.MLP(tc.layer).WriteDirection(w, tc.neuron)
		gw, _ := m.FinalNorm()
		var mean float64
		for _, x := range w {
			mean += float64(x)
		}
		mean /= float64(c.DModel)
		dir := make([]float64, c.DModel)
		for j, x := range w {
			g := float64(gw.Data[j])
			if c.NormPlusOne {
				g++
			}
			v := float64(x)
			if c.LayerNorm {
				v -= mean
			}
			dir[j] = g * v
		}
		wu := m.Unembedding()
		best, bestRaw, worst := -1, -1, -1
		var bs, brs, ws float64
		for tok := range c.DVocab {
			var s, raw float64
			for j, u := range wu.Row(tok) {
				s += float64(u) * dir[j]
				raw += float64(u) * float64(w[j])
			}
			if best < 0 || s > bs {
				best, bs = tok, s
			}
			if worst < 0 || s < ws {
				worst, ws = tok, s
			}
			if bestRaw < 0 || raw > brs {
				bestRaw, brs = tok, raw
			}
		}
		if got := nr.DLA.Top[0]; got.ID != best || math.Abs(float64(got.Score)-bs) > 1e-4*math.Max(1, math.Abs(bs)) {
			t.Errorf("%s: top DLA token %d (%g), brute force %d (%g)", tc.dir, got.ID, got.Score, best, bs)
		}
		if got := nr.DLA.Bottom[0]; got.ID != worst || math.Abs(float64(got.Score)-ws) > 1e-4*math.Max(1, math.Abs(ws)) {
			t.Errorf("%s: bottom DLA token %d (%g), brute force %d (%g)", tc.dir, got.ID, got.Score, worst, ws)
		}
		if got := nr.LMHead.Top[0]; got.ID != bestRaw || math.Abs(float64(got.Score)-brs) > 1e-4*math.Max(1, math.Abs(brs)) {
			t.Errorf("%s: top LM-head token %d (%g), brute force %d (%g)", tc.dir, got.ID, got.Score, bestRaw, brs)
		}
		m.Close()
	}
}

// TestProfileBOS: BOS positions are left out of every statistic by default (each neuron's
// count is the tokens minus the BOS positions, and no example's max token is a BOS), counted
// with --include-bos, and the choice is recorded in the settings and the provenance.
func TestProfileBOS(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d.txt")
	os.WriteFile(data, []byte("Mara kra kan hokot got Felul tsetsa\nVimikyn\nRofa bilo kan\n"), 0o644)
	for _, include := range []bool{false, true} {
		out := t.TempDir()
		args := []string{"profile", "--model", worldLlama, "--data", data, "--out", out, "--ctx", "4", "--no-progress", "--lm-head", "0", "--calib", "2"}
		if include {
			args = append(args, "--include-bos")
		}
		if _, _, err := run(args...); err != nil {
			t.Fatal(err)
		}
		rep, err := profile.ReadReport(filepath.Join(out, "profile.json"))
		if err != nil {
			t.Fatal(err)
		}
		// BOS + 7 words → [bos w w w] [bos w w w] [bos w]; BOS + 1; BOS + 3: 5 contexts, 5 BOS positions
		wantBOS, wantCount := int64(5), int64(16-5)
		if include {
			wantBOS, wantCount = 0, 16
		}
		if rep.Tokens != 16 || rep.Contexts != 5 || rep.BOSExcluded != wantBOS || rep.Settings.Options.IncludeBOS != include {
			t.Errorf("include=%v: %d tokens, %d contexts, %d BOS excluded, settings %v", include, rep.Tokens, rep.Contexts, rep.BOSExcluded, rep.Settings.Options.IncludeBOS)
		}
		if !strings.Contains(rep.Provenance.Dataset, map[bool]string{false: "5 BOS positions left out", true: "BOS positions counted"}[include]) {
			t.Errorf("include=%v: provenance %q", include, rep.Provenance.Dataset)
		}
		bosSeen := false
		for _, pt := range rep.Points {
			for _, nr := range pt.Neurons {
				if nr.Count != wantCount {
					t.Fatalf("include=%v: %s[%d] count %d, want %d", include, nr.Hook, nr.Index, nr.Count, wantCount)
				}
				for _, e := range append(nr.TopMax, nr.TopMin...) {
					if e.Tokens[e.MaxIndex] == "<bos>" {
						bosSeen = true
					}
				}
			}
		}
		if bosSeen != include {
			t.Errorf("include=%v: an example's max token is <bos>: %v", include, bosSeen)
		}
	}
}

// TestProfileBeamEqualsLocal: `profile --runner prism` writes what the local run writes over
// the same data and flags: the Neuronpedia files byte for byte, profile.json equal but for the
// last digits of the moments (the shards' moments merge by Chan/Pébay: 1e-12 relative).
func TestProfileBeamEqualsLocal(t *testing.T) {
	data := writeIDData(t, 40)
	dir := t.TempDir()
	args := []string{"profile", "--model", tiny, "--data", data, "--ctx", "16", "--batch", "4", "--top", "4", "--calib", "8",
		"--quantiles", "3x2", "--lm-head", "3", "--no-progress", "--max-tokens", "900"}
	local := filepath.Join(dir, "local")
	if _, _, err := run(append(args, "--out", local)...); err != nil {
		t.Fatal(err)
	}
	for _, runner := range []string{"prism", "direct"} {
		beam := filepath.Join(dir, runner)
		if _, _, err := run(append(args, "--out", beam, "--runner", runner, "--shards", "3")...); err != nil {
			t.Fatalf("--runner %s: %v", runner, err)
		}
		compareProfiles(t, runner, local, beam)
	}
}

// compareProfiles checks a pipeline's exports against the local run's: the Neuronpedia files
// byte for byte, profile.json equal but for the moments (1e-12 relative).
func compareProfiles(t *testing.T, runner, local, beam string) {
	t.Helper()
	for _, f := range []string{"neuronpedia/batch-0.json", "neuronpedia/batch-1.json"} {
		a, _ := os.ReadFile(filepath.Join(local, f))
		b, err := os.ReadFile(filepath.Join(beam, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: %s differs (%v)", runner, f, err)
		}
	}
	ra, err := profile.ReadReport(filepath.Join(local, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := profile.ReadReport(filepath.Join(beam, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	for p := range ra.Points {
		for j := range ra.Points[p].Neurons {
			x, y := &ra.Points[p].Neurons[j], &rb.Points[p].Neurons[j]
			for _, m := range [][2]float64{{x.Mean, y.Mean}, {x.Variance, y.Variance}, {x.Skewness, y.Skewness}, {x.Kurtosis, y.Kurtosis}} {
				if math.Abs(m[0]-m[1]) > 1e-12*math.Max(1, math.Abs(m[0])) {
					t.Errorf("%s: neuron %d/%d: moments %v", runner, p, j, m)
				}
			}
			x.Mean, x.Variance, x.Skewness, x.Kurtosis = 0, 0, 0, 0
			y.Mean, y.Variance, y.Skewness, y.Kurtosis = 0, 0, 0, 0
		}
	}
	ja, _ := json.Marshal(ra)
	jb, _ := json.Marshal(rb)
	if !bytes.Equal(ja, jb) {
		t.Errorf("%s: profile.json of the pipeline differs from the local run's", runner)
	}
}

// TestProfileBeamBadInput: an unknown runner, universal without an endpoint, a glob that
// matches nothing, a worker path without the model: an error, and no outputs.
func TestProfileBeamBadInput(t *testing.T) {
	data := writeIDData(t, 10)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"--data", data, "--runner", "spark"}, `--runner "spark"`, true},
		{[]string{"--data", data, "--runner", "universal"}, "--endpoint", true},
		{[]string{"--data", filepath.Join(dir, "none-*.jsonl"), "--runner", "prism"}, "matches no file", true},
		{[]string{"--data", data, "--runner", "prism", "--resume"}, "--resume applies to a local run", true},
		{[]string{"--data", data, "--runner", "prism", "--worker-model", filepath.Join(dir, "elsewhere")}, "cannot load the model from " + filepath.Join(dir, "elsewhere"), false},
	} {
		_, _, err := run(append([]string{"profile", "--model", tiny, "--ctx", "16", "--no-progress", "--out", out}, tc.args...)...)
		var u usageError
		if err == nil || errors.As(err, &u) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q (usage error: %v)", tc.args, err, tc.want, tc.usage)
		}
		if entries, _ := os.ReadDir(out); len(entries) > 0 {
			t.Errorf("%v left %d entries in %s", tc.args, len(entries), out)
		}
	}
}
