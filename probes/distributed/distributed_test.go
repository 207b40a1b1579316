package distributed

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/language"
	"github.com/neuronscope/neuronscope/probes/profile"
)

const worldModel = "../../testdata/world-llama"

// shardData writes the first n lines of the world's training text as one file and as k shard
// files, and returns the single file and the shards' glob.
func shardData(t *testing.T, dir string, n, k int) (string, string) {
	t.Helper()
	b, err := os.ReadFile("../../testdata/world/train.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")[:n]
	one := filepath.Join(dir, "all.txt")
	if err := os.WriteFile(one, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range k {
		part := lines[i*n/k : (i+1)*n/k]
		if err := os.WriteFile(filepath.Join(dir, "shards", "part-"+string(rune('a'+i))+".txt"), []byte(strings.Join(part, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return one, filepath.Join(dir, "shards", "part-*.txt")
}

type setup struct {
	m      *model.Model
	enc    corpus.Encoder
	points []hooks.Point
	opt    profile.Options
	ctx    int
	batch  int
}

func newSetup(t *testing.T) setup {
	m, err := model.Load(worldModel)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		t.Fatal(err)
	}
	points, err := m.Catalog().MatchAll([]string{"blocks.*.mlp.hook_post"})
	if err != nil {
		t.Fatal(err)
	}
	return setup{m: m, enc: corpus.NewEncoder(m, tok, tokenizer.BOSAuto), points: points,
		opt: profile.Options{TopK: 6, QuantileBins: 4, PerBin: 3, RandomSample: 5, HistBins: 16, CalibContext: 40, Seed: 2}.Defaults(),
		ctx: 16, batch: 8}
}

// single profiles files in one process, as the profile command does, and writes the exports.
func (s setup) single(t *testing.T, plan *Plan, out string, set profile.Settings, prov report.Provenance) {
	t.Helper()
	p := profile.New(s.opt)
	err := p.Run(s.m, s.points, func(yield func(corpus.Context) error) error {
		return plan.Range(s.enc, 0, plan.Contexts, yield)
	}, profile.RunOptions{Batch: s.batch, PadID: max(s.m.Config.Pad, 0)})
	if err != nil {
		t.Fatal(err)
	}
	p.Finish()
	name := profile.TokenNames(s.enc.Tok)
	heads, err := profile.VocabTokens(s.m, s.points, 3, false, name)
	if err != nil {
		t.Fatal(err)
	}
	// The dataset note is the profile command's, as the pipeline's final step writes it.
	prov.Dataset = profile.DatasetNote(set.Data, set.DataSHA256, p.Tokens, p.Contexts, p.Opt.IncludeBOS, p.BOSExcluded)
	if err := p.WriteExports(out, prov, set, name, func(nr *profile.NeuronReport) { nr.LMHead = heads[nr.Neuron] }); err != nil {
		t.Fatal(err)
	}
}

func (s setup) job(plan *Plan, out string, shards int, set profile.Settings, prov report.Provenance) ProfileJob {
	names := make([]string, len(s.points))
	for i, p := range s.points {
		names[i] = p.String()
	}
	return ProfileJob{ModelDir: worldModel, Plan: plan, BOS: "auto", Batch: s.batch, Points: names, Options: s.opt,
		Shards: shards, Out: out, LMHead: 3, Settings: set, Provenance: prov}
}

// compareOutputs checks the pipeline's exports against the single process's: the Neuronpedia
// files byte for byte, profile.json and the NeuronRecords equal but for the moments, which
// agree to 1e-12 relative.
func compareOutputs(t *testing.T, want, got string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(want, "neuronpedia", "*.json"))
	recs, _ := filepath.Glob(filepath.Join(want, "neuron_records", "*.jsonl"))
	if len(files) == 0 || len(recs) == 0 {
		t.Fatalf("%s has no exports", want)
	}
	for _, f := range files {
		a, _ := os.ReadFile(f)
		b, err := os.ReadFile(filepath.Join(got, "neuronpedia", filepath.Base(f)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs (%v)", filepath.Base(f), err)
		}
	}
	moments := map[string]bool{"mean": true, "variance": true, "skewness": true, "kurtosis": true}
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		switch x := a.(type) {
		case map[string]any:
			y, ok := b.(map[string]any)
			if !ok || len(x) != len(y) {
				t.Errorf("%s: %v vs %v", path, a, b)
				return
			}
			for k, v := range x {
				if moments[k] {
					fa, _ := v.(float64)
					fb, _ := y[k].(float64)
					if d := fa - fb; d > 1e-12*max(1, abs(fa)) || -d > 1e-12*max(1, abs(fa)) {
						t.Errorf("%s.%s: %v vs %v", path, k, fa, fb)
					}
					continue
				}
				walk(path+"."+k, v, y[k])
			}
		case []any:
			y, ok := b.([]any)
			if !ok || len(x) != len(y) {
				t.Errorf("%s: lengths differ", path)
				return
			}
			for i := range x {
				walk(path, x[i], y[i])
			}
		default:
			if a != b {
				t.Errorf("%s: %v vs %v", path, a, b)
			}
		}
	}
	readJSON := func(path string) any {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if strings.HasSuffix(path, ".jsonl") {
			var all []any
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatal(err)
				}
				all = append(all, v)
			}
			return all
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	walk("profile.json", readJSON(filepath.Join(want, "profile.json")), readJSON(filepath.Join(got, "profile.json")))
	for _, r := range recs {
		walk(filepath.Base(r), readJSON(r), readJSON(filepath.Join(got, "neuron_records", filepath.Base(r))))
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestProfilePipelinePrism runs the profiling pipeline on the embedded Prism runner over the
// data split into three files (a glob) with three shards after the calibration prefix, and
// compares its exports with a single-process run over the same data in one file.
func TestProfilePipelinePrism(t *testing.T) {
	s := newSetup(t)
	dir := t.TempDir()
	one, glob := shardData(t, dir, 240, 3)
	files, err := ExpandData([]string{glob})
	if err != nil || len(files) != 3 {
		t.Fatalf("%v %v", files, err)
	}
	plan, err := NewPlan(files, s.enc, s.ctx, 1200)
	if err != nil {
		t.Fatal(err)
	}
	plan1, err := NewPlan([]string{one}, s.enc, s.ctx, 1200)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Contexts != plan1.Contexts || plan.Tokens != plan1.Tokens || plan.Tokens != 1200 {
		t.Fatalf("plans: %d contexts %d tokens vs %d %d", plan.Contexts, plan.Tokens, plan1.Contexts, plan1.Tokens)
	}
	set := profile.Settings{Data: "data", Ctx: s.ctx, Batch: s.batch, BOSPolicy: "auto", Options: s.opt, ModelID: "world-llama", LMHeadSource: profile.LMHeadSource}
	prov := report.Provenance{Tool: "neuronscope", Dataset: "test"}
	want := filepath.Join(dir, "single")
	s.single(t, plan1, want, set, prov)
	got := filepath.Join(dir, "beam")
	if err := RunProfile(context.Background(), s.job(plan, got, 3, set, prov), Runner{Name: "prism"}); err != nil {
		t.Fatal(err)
	}
	if staging, _ := filepath.Glob(filepath.Join(dir, ".beam.staging-*")); len(staging) > 0 {
		t.Errorf("staging left: %v", staging)
	}
	compareOutputs(t, want, got)
	if leftovers, _ := filepath.Glob(filepath.Join(got, ".partial-*")); len(leftovers) > 0 {
		t.Errorf("temporary outputs left: %v", leftovers)
	}
}

// TestProfilePipelineBadInput: a glob that matches nothing, a worker that cannot load the model
// (the error names the worker's path), a shard that fails (no outputs, and a rerun succeeds),
// shards of inconsistent settings.
func TestProfilePipelineBadInput(t *testing.T) {
	dir := t.TempDir()
	if _, err := ExpandData([]string{filepath.Join(dir, "nothing-*.jsonl")}); err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Errorf("empty glob: %v", err)
	}
	s := newSetup(t)
	one, _ := shardData(t, dir, 120, 1)
	plan, err := NewPlan([]string{one}, s.enc, s.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	job := s.job(plan, out, 2, profile.Settings{}, report.Provenance{})
	job.ModelDir = filepath.Join(dir, "not-on-this-worker")
	err = RunProfile(context.Background(), job, Runner{Name: "prism"})
	if err == nil || !strings.Contains(err.Error(), "cannot load the model from "+job.ModelDir) {
		t.Errorf("unloadable model: %v", err)
	}
	job = s.job(plan, out, 2, profile.Settings{}, report.Provenance{})
	job.FailShard = 2
	if err := RunProfile(context.Background(), job, Runner{Name: "prism"}); err == nil || !strings.Contains(err.Error(), "failing as asked") {
		t.Errorf("failed shard: %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) > 0 {
		t.Errorf("an interrupted job left %d entries in %s", len(entries), out)
	}
	job.FailShard = 0
	if err := RunProfile(context.Background(), job, Runner{Name: "prism"}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "profile.json")); err != nil {
		t.Errorf("rerun wrote no profile.json: %v", err)
	}
	// a state of other options does not merge
	a := profile.New(s.opt)
	b := profile.New(profile.Options{TopK: 9})
	for _, p := range []*profile.Profiler{a, b} {
		rows := []corpus.Context{{IDs: []int{2, 5, 7}, Index: 0}}
		if err := p.Observe(hooks.At(0, hooks.MLPPost), make([]float32, 3*4), rows, 3, 4); err != nil {
			t.Fatal(err)
		}
		p.EndBatch(rows)
	}
	pa, pb, cut := filepath.Join(dir, "a.state"), filepath.Join(dir, "b.state"), filepath.Join(dir, "cut.state")
	if err := a.Save(pa, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(pb, ""); err != nil {
		t.Fatal(err)
	}
	merge := mergeStates{Staging: dir}
	if _, err := merge.MergeAccumulators(pa, pb); err == nil || !strings.Contains(err.Error(), "inconsistent shards") {
		t.Errorf("inconsistent shards: %v", err)
	}
	eb, _ := os.ReadFile(pb)
	os.WriteFile(cut, eb[:len(eb)/2], 0o644)
	if _, err := merge.AddInput(pa, cut); err == nil {
		t.Error("a truncated state merged")
	}
}

// TestCountPipelinePrism: counting the world's languages (one keyed JSONL) on Prism in three
// shards writes the same activation-probability file as the single-process pass.
func TestCountPipelinePrism(t *testing.T) {
	s := newSetup(t)
	dir := t.TempDir()
	data := language.Data{Keyed: "../../testdata/world/eval_fluency.jsonl", GroupKey: "language"}
	groups, items, err := data.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	data.Groups = groups
	site := language.DefaultTap(s.m.Catalog())
	c, err := language.NewCounter(groups, site.String(), s.m.Config.NLayers, s.m.Catalog().Width(hooks.At(0, site)), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(s.m, s.enc, items, language.PassOptions{Tap: site, Ctx: 32, Batch: 8}); err != nil {
		t.Fatal(err)
	}
	want, err := c.Probabilities()
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(dir, "single.safetensors")
	if err := want.WriteFile(wantPath); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "beam.safetensors")
	pipe, err := CountPipeline(CountJob{ModelDir: worldModel, Data: data, Groups: groups, BOS: "auto", Tap: site.String(),
		Ctx: 32, Batch: 8, Shards: 3, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), pipe, Runner{Name: "prism"}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(wantPath)
	b, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("the pipeline's probability file differs from the single process's (%v)", err)
	}
}
