package steering

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/testdata"
)

func TestAUC(t *testing.T) {
	s := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}
	cases := []struct {
		pos, neg []int
		want     float64
	}{
		{[]int{3, 4, 5}, []int{0, 1, 2}, 1},
		{[]int{0, 1, 2}, []int{3, 4, 5}, 0},
		{[]int{1, 3, 5}, []int{0, 2, 4}, 6.0 / 9}, // pairs won: 0.2>0.1; 0.4>0.1,0.3; 0.6>all
	}
	for _, c := range cases {
		if got := aucOf(s, c.pos, c.neg); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("aucOf(%v, %v) = %g, want %g", c.pos, c.neg, got, c.want)
		}
	}
	tied := []float64{1, 1, 1, 1}
	if got := aucOf(tied, []int{0, 1}, []int{2, 3}); got != 0.5 {
		t.Errorf("all ties: AUC %g, want 0.5", got)
	}
	// against the pair count on random scores with ties
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 40)
	for i := range x {
		x[i] = float64(rng.IntN(6))
	}
	pos, neg := []int{}, []int{}
	for i := range x {
		if i%3 == 0 {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	var won float64
	for _, p := range pos {
		for _, n := range neg {
			switch {
			case x[p] > x[n]:
				won++
			case x[p] == x[n]:
				won += 0.5
			}
		}
	}
	if got, want := aucOf(x, pos, neg), won/float64(len(pos)*len(neg)); math.Abs(got-want) > 1e-12 {
		t.Errorf("AUC %g, pair count %g", got, want)
	}
}

func TestScores(t *testing.T) {
	lex := []int{3, 7, 9}
	if got := conceptScore([][]int{{3, 4, 7, 1}, {9, 9}}, lex); math.Abs(got-4.0/6) > 1e-12 {
		t.Errorf("concept score %g, want 4/6", got)
	}
	if got := conceptScore(nil, lex); got != 0 {
		t.Errorf("no tokens: %g", got)
	}
	if got := harmonic(0.5, 0.25); math.Abs(got-1.0/3) > 1e-12 {
		t.Errorf("harmonic(0.5, 0.25) = %g, want 1/3", got)
	}
	if harmonic(0, 0.9) != 0 || harmonic(0.9, 0) != 0 {
		t.Error("harmonic mean with a zero score must be 0")
	}
	if Tolerance(0.5) != 0.01 || math.Abs(Tolerance(0.01)-0.002) > 1e-15 {
		t.Errorf("Tolerance: %g %g", Tolerance(0.5), Tolerance(0.01))
	}
}

func TestMaxCosine(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := 7
	ta := &textActs{starts: []int{0}}
	for _, n := range []int{3, 1, 4} {
		for range n {
			row := make([]float32, d)
			var s float64
			for i := range row {
				row[i] = float32(rng.NormFloat64())
				s += float64(row[i]) * float64(row[i])
			}
			ta.rows = append(ta.rows, row...)
			ta.norms = append(ta.norms, math.Sqrt(s))
		}
		ta.starts = append(ta.starts, len(ta.norms))
	}
	dirs := [][]float32{make([]float32, d), make([]float32, d)}
	for _, v := range dirs {
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
	}
	got := maxCosine(ta, dirs, d)
	for j, v := range dirs {
		for i := 0; i < 3; i++ {
			want := -1.0
			for tk := ta.starts[i]; tk < ta.starts[i+1]; tk++ {
				var dot, nv float64
				for k := range v {
					dot += float64(ta.rows[tk*d+k]) * float64(v[k])
					nv += float64(v[k]) * float64(v[k])
				}
				want = math.Max(want, dot/(ta.norms[tk]*math.Sqrt(nv)))
			}
			if math.Abs(got[j][i]-want) > 1e-5 {
				t.Errorf("direction %d text %d: %g, want %g", j, i, got[j][i], want)
			}
		}
	}
}

func readWorld(t *testing.T) ([]byte, map[string]int) {
	t.Helper()
	dir := "../../testdata"
	gt, err := os.ReadFile(filepath.Join(dir, "world", "ground_truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "world-llama", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tj); err != nil {
		t.Fatal(err)
	}
	return gt, tj.Model.Vocab
}

func TestFromWorld(t *testing.T) {
	gt, vocab := readWorld(t)
	lookup := func(w string) (int, bool) { id, ok := vocab[w]; return id, ok }
	task, err := FromWorld(gt, "gt", lookup, 2, WorldOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var langs, rels int
	for _, c := range task.Concepts {
		switch c.Kind {
		case KindLanguage:
			langs++
		case KindRelation:
			rels++
			if len(c.Lexicon) != 8 {
				t.Errorf("%s: lexicon of %d tokens, want noun and verb in 4 languages", c.Name, len(c.Lexicon))
			}
		}
		in := map[int]bool{}
		for _, i := range c.Positive {
			in[i] = true
		}
		for _, i := range c.Neutral {
			if in[i] {
				t.Errorf("%s: text %d is both positive and neutral", c.Name, i)
			}
		}
		if len(c.Positive)+len(c.Neutral) != len(task.Texts) {
			t.Errorf("%s: %d+%d texts of %d", c.Name, len(c.Positive), len(c.Neutral), len(task.Texts))
		}
	}
	if langs != 4 || rels != 10 {
		t.Errorf("%d languages and %d relations, want 4 and 10", langs, rels)
	}
	fit := map[string]bool{}
	for _, s := range task.Fit {
		if s[0] != 2 {
			t.Fatal("a fit text does not start with BOS")
		}
		b, _ := json.Marshal(s)
		fit[string(b)] = true
	}
	for _, s := range append(append([][]int(nil), task.Texts...), task.Prompts...) {
		if s[0] != 2 {
			t.Fatal("a text does not start with BOS")
		}
		if b, _ := json.Marshal(s); fit[string(b)] && len(s) > 2 {
			t.Errorf("detection text %v is also in the fit text", s)
		}
	}
	// a language's positive texts use only its words and entity names
	lang := task.Concepts[0]
	lex := map[int]bool{}
	for _, id := range lang.Lexicon {
		lex[id] = true
	}
	for _, i := range lang.Positive {
		for _, id := range task.Texts[i][1:] {
			w := ""
			for k, v := range vocab {
				if v == id {
					w = k
				}
			}
			if !lex[id] && strings.ToLower(w) == w {
				t.Errorf("%s: positive text %d has %q, not in the lexicon", lang.Name, i, w)
			}
		}
	}
	if _, err := FromWorld([]byte(`{"schema_version":"x"}`), "bad.json", lookup, 2, WorldOptions{}); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("wrong schema: %v", err)
	}
	if _, err := FromWorld(gt, "gt", func(string) (int, bool) { return 0, false }, 2, WorldOptions{}); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("unknown words: %v", err)
	}
	if _, err := FromWorld([]byte(`{`), "trunc.json", lookup, 2, WorldOptions{}); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestCompareBadInput(t *testing.T) {
	m, _, gt, err := loadDemo()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compare(context.Background(), m, &Task{}, DefaultOptions(1)); err == nil {
		t.Error("empty task accepted")
	}
	_, vocab := readWorld(t)
	task, err := FromWorld(gt, "gt", func(w string) (int, bool) { id, ok := vocab[w]; return id, ok }, m.Config.BOS, WorldOptions{FitFacts: 1, FitFiller: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compare(context.Background(), m, task, DefaultOptions(9)); err == nil || !strings.Contains(err.Error(), "layer 9") {
		t.Errorf("layer out of range: %v", err)
	}
	bad := *task
	bad.Concepts = append([]Concept(nil), task.Concepts...)
	bad.Concepts[0].Positive = []int{len(task.Texts)}
	if err := bad.Validate(); err == nil {
		t.Error("a concept naming a missing text passed validation")
	}
}

// loadDemo is the embedded world model, its tokenizer and ground truth.
var loadDemo = func() (*model.Model, *tokenizer.Tokenizer, []byte, error) {
	read := func(name string) ([]byte, error) { return testdata.DemoFS.ReadFile(name) }
	dir := testdata.DemoModel
	cfg, err := read(path.Join(dir, "config.json"))
	if err != nil {
		return nil, nil, nil, err
	}
	w, err := read(path.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, nil, nil, err
	}
	tj, err := read(path.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, nil, nil, err
	}
	gt, err := read(path.Join(testdata.DemoWorld, "ground_truth.json"))
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := model.FromBytes("embedded", cfg, w)
	if err != nil {
		return nil, nil, nil, err
	}
	tok, err := tokenizer.Parse(tj, "embedded tokenizer")
	return m, tok, gt, err
}

func TestCompareSmall(t *testing.T) {
	m, tok, gt, err := loadDemo()
	if err != nil {
		t.Fatal(err)
	}
	task, err := FromWorld(gt, "gt", tok.TokenToID, m.Config.BOS, WorldOptions{FitFacts: 2, FitFiller: 10, DetectFacts: 4, DetectFiller: 10, Prompts: 2})
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultOptions(2)
	opt.SNMF.Rank, opt.SNMF.MaxIter = 8, 20
	opt.SkipSAE = true
	opt.Targets = []float64{0.003, 0.03}
	opt.Generate.MaxNew = 4
	opt.RandomDirections, opt.Bootstrap = 1, 50
	run := func() *Result {
		r, err := Compare(context.Background(), m, task, opt)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := run()
	if want := len(task.Concepts) * 3 * len(opt.Targets); len(r.Runs) != want {
		t.Fatalf("%d runs, want %d (concepts × snmf, diff-means, random × targets)", len(r.Runs), want)
	}
	reached := 0
	for _, run := range r.Runs {
		if !run.Reached {
			continue
		}
		reached++
		if math.Abs(run.KL-run.TargetKL) > Tolerance(run.TargetKL) {
			t.Errorf("%s %s: KL %g for target %g", run.Concept, run.Method, run.KL, run.TargetKL)
		}
		if run.ConceptScore < 0 || run.ConceptScore > 1 || math.Abs(run.Fluency-math.Exp(-run.NLL)) > 1e-12 || run.HarmonicMean > max(run.ConceptScore, run.Fluency) {
			t.Errorf("%s %s: scores %+v", run.Concept, run.Method, run)
		}
		if len(run.Sample) != opt.Generate.MaxNew {
			t.Errorf("sample of %d tokens", len(run.Sample))
		}
	}
	if reached < len(r.Runs)/2 {
		t.Errorf("only %d of %d runs reached their KL target", reached, len(r.Runs))
	}
	if len(r.Table) != 3*len(opt.Targets) || len(r.Detection) != 3 {
		t.Errorf("%d table cells and %d detection rows", len(r.Table), len(r.Detection))
	}
	for _, c := range r.Concepts {
		for _, p := range c.Picks {
			if p.Method == MethodDiffMeans && p.SelectAUC < 0.75 {
				t.Errorf("%s: diff-in-means separates its own selection texts with AUC %.3f only", c.Name, p.SelectAUC)
			}
		}
	}
	if testing.Short() {
		return
	}
	a, _ := json.Marshal(r)
	b, _ := json.Marshal(run())
	if string(a) != string(b) {
		t.Error("two runs with the same settings differ")
	}
}

func TestWritePlot(t *testing.T) {
	r := &Result{Methods: []string{MethodSNMF, MethodRandom}, Table: []Cell{
		{Method: MethodSNMF, TargetKL: 0.01, Concepts: 3, ConceptScore: 0.2, Fluency: 0.5, HarmonicMean: 0.28},
		{Method: MethodRandom, TargetKL: 0.01, Concepts: 3, ConceptScore: 0.05, Fluency: 0.5, HarmonicMean: 0.09},
	}}
	for _, format := range []string{"png", "svg"} {
		var b strings.Builder
		if err := r.WritePlot(&b, format); err != nil || b.Len() == 0 {
			t.Errorf("%s with one KL target: %v (%d bytes)", format, err, b.Len())
		}
	}
	var b strings.Builder
	if err := r.WritePlot(&b, "gif"); err == nil {
		t.Error("gif accepted")
	}
	r.Table[0].TargetKL = 0
	if err := r.WritePlot(&b, "png"); err == nil {
		t.Error("a KL target of 0 plotted on a log scale")
	}
	if err := (&Result{}).WritePlot(&b, "png"); err == nil {
		t.Error("an empty result plotted")
	}
	if err := r.SavePlot(filepath.Join(t.TempDir(), "x.pdf")); err == nil {
		t.Error("a .pdf path accepted")
	}
}
