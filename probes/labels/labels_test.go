package labels

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
)

func file() *File {
	s := 0.5
	return &File{SchemaVersion: Schema, Provenance: report.Provenance{ConfigHash: "aaa", ModelDir: "m"},
		Inputs: []Input{{Role: "eval", Path: "e", SHA256: "x"}},
		Labels: []Label{{Set: "g", Claim: Claim{Kind: KindRelation, Value: "g"},
			Units:         []Unit{{Hook: "blocks.1.mlp.hook_pre", Index: 3, Score: &s, Rank: 1}, {Hook: "blocks.0.mlp.hook_post", Index: 2, Rank: 2}},
			Verifications: []Verification{{Experiment: "matrix", Verdict: NoEffect, Ref: "matrices[0]"}}, Verdict: NoEffect}},
		Matrices: []Matrix{{Name: "m0"}}}
}

func TestRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l.json")
	f := file()
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(f)
	b, _ := json.Marshal(back)
	if string(a) != string(b) {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
	for name, body := range map[string]string{
		"schema": `{"schema_version":"neuronscope.profile/v2"}`,
		"hook":   `{"schema_version":"neuronscope.labels/v1","labels":[{"set":"g","units":[{"hook":"blocks.x.mlp","index":1}]}]}`,
		"global": `{"schema_version":"neuronscope.labels/v1","labels":[{"set":"g","units":[{"hook":"hook_embed","index":1}]}]}`,
		"json":   `{"schema_version":`,
	} {
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err %v, want an error naming the file", name, err)
		}
	}
}

func TestCheckModel(t *testing.T) {
	f := file()
	if err := f.CheckModel(report.Provenance{ConfigHash: "aaa"}, "l.json"); err != nil {
		t.Error(err)
	}
	if err := f.CheckModel(report.Provenance{ConfigHash: "bbb", ModelDir: "other"}, "l.json"); err == nil ||
		!strings.Contains(err.Error(), "l.json: labels of a different model") || !strings.Contains(err.Error(), "other") {
		t.Errorf("different model: %v", err)
	}
}

func TestForNeuronAndMerge(t *testing.T) {
	f := file()
	ls, vs := f.ForNeuron(hooks.NeuronAt(1, hooks.MLPPre, 3))
	if len(ls) != 1 || ls[0].Score != 0.5 || ls[0].Set != "g" || len(vs) != 1 || vs[0].Verdict != NoEffect || *vs[0].P != 0 {
		t.Errorf("labels %+v, verdicts %+v", ls, vs)
	}
	if ls, _ := f.ForNeuron(hooks.NeuronAt(1, hooks.MLPPost, 3)); len(ls) != 0 {
		t.Error("a label on mlp.hook_pre[3] shows on mlp.hook_post[3]")
	}
	o := file()
	o.Labels[0].Verifications[0].Experiment, o.Labels[0].Verifications[0].Verdict = "sweep", Confirmed
	o.Labels = append(o.Labels, Label{Set: "h", Verifications: []Verification{{Experiment: "sweep", Ref: "matrices[0]"}}})
	o.Inputs = append(o.Inputs, Input{Role: "text", Path: "t"})
	f.Merge(o)
	if len(f.Matrices) != 2 || len(f.Labels) != 2 || len(f.Labels[0].Verifications) != 2 || len(f.Inputs) != 2 {
		t.Fatalf("merged %+v", f)
	}
	if r := f.Labels[0].Verifications[1].Ref; r != "matrices[1]" || f.Labels[1].Verifications[0].Ref != "matrices[1]" {
		t.Errorf("refs %s, %s: want matrices[1]", r, f.Labels[1].Verifications[0].Ref)
	}
	if f.Labels[0].Verdict != NoEffect || f.Labels[1].Verdict != "" {
		t.Errorf("verdicts %s, %s", f.Labels[0].Verdict, f.Labels[1].Verdict)
	}
}

func TestStatOf(t *testing.T) {
	s := StatOf([]float64{1, 2, 4})
	if s.N != 3 || s.Mean != 7.0/3 || s.Min != 1 || s.Max != 4 || math.Abs(s.Std-math.Sqrt(((1-7.0/3)*(1-7.0/3)+(2-7.0/3)*(2-7.0/3)+(4-7.0/3)*(4-7.0/3))/2)) > 1e-15 {
		t.Errorf("%+v", s)
	}
	if z := StatOf(nil); z.N != 0 || z.Mean != 0 {
		t.Errorf("%+v", z)
	}
}

func TestUnitOfAndTables(t *testing.T) {
	u := UnitOf(hooks.NeuronAt(2, hooks.MLPPost, 7), 3, 200)
	if u.Hook != "blocks.2.mlp.hook_post" || u.Percentile != 99 {
		t.Errorf("%+v", u)
	}
	m := &Matrix{Name: "n", Key: "relation", Measure: "accuracy", Sets: []string{"a"}, Groups: []string{"a", "b"}, Baseline: []float64{1, 0.5},
		Cells: [][]Cell{{{Effect: 0.5, Random: Stat{N: 2, Max: 0.1}}, {Effect: -1}}}, Interference: []Interference{{Set: "a", Group: "b", Before: 0.5, After: 1}}}
	s := m.Table()
	for _, want := range []string{"+50.0%*!", "-100.0%", "interference", "a on b: 50.0% → 100.0%"} {
		if !strings.Contains(s, want) {
			t.Errorf("matrix table lacks %q:\n%s", want, s)
		}
	}
	sw := &Sweep{Set: "a", Key: "relation", Target: "a", Points: []SweepPoint{{K: 10, Target: 0.1, P: 0.5}}}
	if !strings.Contains(sw.Table(), "      10") {
		t.Errorf("sweep table:\n%s", sw.Table())
	}
	if !strings.Contains(file().Table(), "no_effect") {
		t.Error(file().Table())
	}
}

func TestHashInput(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	os.WriteFile(p, []byte("abc"), 0o644)
	in, err := HashInput("eval", p)
	// sha256("abc")
	if err != nil || in.SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || in.Bytes != 3 || in != HashBytes("eval", p, []byte("abc")) {
		t.Errorf("%+v %v", in, err)
	}
	if _, err := HashInput("eval", p+".missing"); err == nil {
		t.Error("a missing file hashed")
	}
}

// Merging item experiments appends their tables and moves the verifications' references, and
// the table renders rows, comparisons and similarities.
func TestMergeAndTableItemEffects(t *testing.T) {
	f, o := file(), file()
	row := ItemRow{Set: "path", Intervention: "remove", Items: 4, Before: 0.9, After: 0.8, Effect: -0.1, Random: StatOf([]float64{0, 0.01}), P: 0.5, Top1Random: &Stat{}}
	f.ItemEffects = []ItemEffects{{Name: "a", Experiment: "path", Rows: []ItemRow{row}}}
	o.ItemEffects = []ItemEffects{{Name: "b", Experiment: "knowledge", Rows: []ItemRow{{Set: "capital_of", Intervention: "remove", Other: &ItemSide{Selectivity: 0.3}}}}}
	o.Labels[0].Verifications[0].Ref = "item_effects[0]"
	f.Merge(o)
	if len(f.ItemEffects) != 2 || f.Labels[0].Verifications[1].Ref != "item_effects[1]" {
		t.Fatalf("merged %d tables, ref %s", len(f.ItemEffects), f.Labels[0].Verifications[1].Ref)
	}
	f.ItemEffects[0].Comparisons = []ItemComparison{{Set: "path", Versus: "activation", Intervention: "remove", Difference: 0.02}}
	f.ItemEffects[0].Similarity = []PathSimilarity{{Key: "relation", Same: 0.3, Different: 0.1, P: 0.01, Permutations: 99}}
	for i, want := range [][]string{{"path", "remove", "-10.0%", "path − activation (remove): +2.0%", "path similarity by relation: same 0.300"}, {"capital_of", "+30.0%"}} {
		tab := f.ItemEffects[i].Table()
		for _, w := range want {
			if !strings.Contains(tab, w) {
				t.Errorf("table %d lacks %q:\n%s", i, w, tab)
			}
		}
	}
}
