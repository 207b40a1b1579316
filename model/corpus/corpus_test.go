package corpus_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

const worldDir = "../../testdata/world"

func worldModel(t testing.TB) (*model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	m, err := model.Load("../../testdata/world-llama")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := corpus.LoadTokenizer(m)
	if err != nil || tok == nil {
		t.Fatalf("tokenizer: %v", err)
	}
	return m, tok
}

func write(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadDocuments(t *testing.T) {
	p := write(t, "d.jsonl", "\"a b\"\n\n{\"text\":\"c\",\"language\":\"x\",\"n\":3}\n[1,2]\n{\"ids\":[4]}\n{\"input_ids\":[5,6],\"text\":null}\n")
	var got []string
	err := corpus.ReadDocuments(p, func(d corpus.Document) error {
		got = append(got, fmt.Sprintf("%d:%d:%q:%v:%v:%v", d.Ordinal, d.Line, d.Text, d.IDs, d.HasIDs, d.Labels))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`0:1:"a b":[]:false:map[]`, `1:3:"c":[]:false:map[language:x]`, `2:4:"":[1 2]:true:map[]`,
		`3:5:"":[4]:true:map[]`, `4:6:"":[5 6]:true:map[]`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	txt := write(t, "d.txt", "one line\r\n\n  \ntwo\n")
	got = nil
	if err := corpus.ReadDocuments(txt, func(d corpus.Document) error { got = append(got, d.Text); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "one line|two" {
		t.Fatalf("txt: %q", got)
	}
	for name, data := range map[string]string{"bad.jsonl": "{\"x\":1}\n", "bad2.jsonl": "\"ok\"\n[1,\"a\"]\n", "bad3.jsonl": "nope\n"} {
		err := corpus.ReadDocuments(write(t, name, data), func(corpus.Document) error { return nil })
		var ie *corpus.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v, want an InputError naming the file", name, err)
		}
	}
	if err := corpus.ReadDocuments("x.csv", nil); err == nil {
		t.Error("a .csv file was accepted")
	}
}

// TestContextsCutting: contexts never span documents, continuation contexts of a BOS document
// start with BOS, MaxTokens cuts exactly.
func TestContextsCutting(t *testing.T) {
	m, tok := worldModel(t)
	enc := corpus.NewEncoder(m, tok, tokenizer.BOSAuto)
	docs := corpus.TextDocuments([]string{"Mara kra kan hokot got Felul tsetsa", "Vimikyn"})
	var ctxs []corpus.Context
	err := corpus.Contexts(docs, enc, corpus.ContextOptions{Ctx: 3}, func(c corpus.Context) error {
		ctxs = append(ctxs, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	full, _ := enc.EncodeText("Mara kra kan hokot got Felul tsetsa")
	if full.IDs[0] != m.Config.BOS || len(full.IDs) != 8 {
		t.Fatalf("expected BOS + 7 words, got %v", full.Tokens)
	}
	// 8 ids: [bos w1 w2] [bos w3 w4] [bos w5 w6] [bos w7], then the second document.
	if len(ctxs) != 5 {
		t.Fatalf("%d contexts", len(ctxs))
	}
	for i, c := range ctxs {
		if c.IDs[0] != m.Config.BOS || c.Index != int64(i) || c.BOS != 1 {
			t.Errorf("context %d: %v", i, c)
		}
	}
	err = corpus.Contexts(docs, corpus.NewEncoder(m, tok, tokenizer.BOSNever), corpus.ContextOptions{Ctx: 3}, func(c corpus.Context) error {
		if c.BOS != 0 {
			t.Errorf("--bos never: context %+v has BOS positions", c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := ctxs[1]; c.Start != 2 || c.IDs[1] != full.IDs[3] || c.Doc != 0 {
		t.Errorf("continuation context: %+v", c)
	}
	if ctxs[4].Doc != 1 || len(ctxs[4].IDs) != 2 {
		t.Errorf("second document: %+v", ctxs[4])
	}
	tokens, n, err := corpus.CountTokens(docs, enc, corpus.ContextOptions{Ctx: 3, MaxTokens: 7})
	if err != nil || tokens != 7 || n != 3 {
		t.Errorf("MaxTokens 7: %d tokens in %d contexts (%v)", tokens, n, err)
	}
	bad := corpus.Encoder{Vocab: 10}
	err = corpus.Contexts(corpus.FileDocuments(write(t, "ids.jsonl", "[1,2]\n[3,99]\n")), bad, corpus.ContextOptions{Ctx: 4}, func(corpus.Context) error { return nil })
	var ie *corpus.InputError
	if !errors.As(err, &ie) || ie.Line != 2 || !strings.Contains(err.Error(), "99") {
		t.Errorf("out-of-vocabulary id: %v", err)
	}
}

// TestRunBatchesEqualSingle: Run hands every context to the observers exactly once, and the
// activations of a batched run equal those of each context alone.
func TestRunBatchesEqualSingle(t *testing.T) {
	m, tok := worldModel(t)
	enc := corpus.NewEncoder(m, tok, tokenizer.BOSAuto)
	ctxs := func(yield func(corpus.Context) error) error {
		return corpus.Contexts(corpus.FileDocuments(filepath.Join(worldDir, "train.txt")), enc, corpus.ContextOptions{Ctx: 16, MaxTokens: 400}, yield)
	}
	post := hooks.At(2, hooks.MLPPost)
	batched := map[int64][]float32{}
	var seen []int64
	err := corpus.Run(m, ctxs, corpus.RunOptions{Batch: 5, Skip: 2,
		Hooks: func(b *corpus.Batch) []hooks.Option {
			return []hooks.Option{hooks.ObservePoint(post, func(_ hooks.Point, a *tensor.Tensor) error {
				w := a.Shape[2]
				for r, c := range b.Contexts {
					batched[c.Index] = append([]float32(nil), a.Data[r*a.Shape[1]*w:(r*a.Shape[1]+len(c.IDs))*w]...)
				}
				return nil
			})}
		},
		After: func(b *corpus.Batch) error {
			for _, c := range b.Contexts {
				seen = append(seen, c.Index)
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 10 || seen[0] != 2 || !slices.IsSorted(seen) {
		t.Fatalf("contexts seen: %v", seen)
	}
	checked := 0
	err = ctxs(func(c corpus.Context) error {
		if c.Index < 2 || c.Index%3 != 0 {
			return nil
		}
		b, _ := model.NewBatch([][]int{c.IDs}, model.PadRight, 0)
		res, err := m.Forward(b, hooks.CapturePoints(post))
		if err != nil {
			return err
		}
		a, _ := res.Cache.Get(post)
		for i, v := range a.Data {
			// Batching changes the row blocking of the matrix products: float32 rounding only.
			if d := math.Abs(float64(v - batched[c.Index][i])); d > 1e-5*(1+math.Abs(float64(v))) {
				return fmt.Errorf("context %d: batched %g, alone %g", c.Index, batched[c.Index][i], v)
			}
		}
		checked++
		return nil
	})
	if err != nil || checked == 0 {
		t.Fatalf("%v (%d checked)", err, checked)
	}
	boom := errors.New("boom")
	if err := corpus.Run(m, ctxs, corpus.RunOptions{After: func(*corpus.Batch) error { return boom }}); !errors.Is(err, boom) {
		t.Errorf("After's error: %v", err)
	}
}

func TestPromptSet(t *testing.T) {
	m, tok := worldModel(t)
	enc := corpus.NewEncoder(m, tok, tokenizer.BOSAuto)
	set, err := corpus.ReadPromptSet(filepath.Join(worldDir, "eval_facts.jsonl"), enc, corpus.PromptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Items) != 2280 {
		t.Fatalf("%d items", len(set.Items))
	}
	it := set.Items[0]
	if it.IDs[0] != m.Config.BOS || len(it.AnswerIDs) != 1 || it.Labels["relation"] == "" || it.Labels["language"] == "" || it.ID == "" {
		t.Fatalf("item 0: %+v", it)
	}
	rels, err := set.Groups("relation")
	if err != nil || len(rels) != 10 {
		t.Fatalf("relations %v %v", rels, err)
	}
	if _, err := set.Groups("nope"); err == nil {
		t.Error("a missing label key passed")
	}
	for name, line := range map[string]string{
		"noanswer.jsonl": `{"prompt":"zhiyi"}`,
		"twotok.jsonl":   `{"prompt":"Mara kra","answer":"kan hokot"}`,
		"unknown.jsonl":  `{"prompt":"Mara kra","answer":"Atlantis"}`,
		"json.jsonl":     `{"prompt":`,
	} {
		_, err := corpus.ReadPromptSet(write(t, name, line+"\n"), enc, corpus.PromptOptions{})
		var ie *corpus.InputError
		if !errors.As(err, &ie) || ie.Line != 1 {
			t.Errorf("%s: %v", name, err)
		}
	}
	multi, err := corpus.ReadPromptSet(write(t, "two.jsonl", `{"prompt":"Mara kra","answer":"kan hokot"}`+"\n"), enc, corpus.PromptOptions{MultiToken: true})
	if err != nil || len(multi.Items[0].AnswerIDs) != 2 {
		t.Fatalf("multi-token answer: %v", err)
	}
	skip, err := corpus.ReadPromptSet(write(t, "skip.jsonl", `{"prompt":"Mara kra","answer":"kan"}`+"\n"+`{"prompt":"Mara kra","answer":"Atlantis"}`+"\n"),
		enc, corpus.PromptOptions{SkipUnknownAnswers: true})
	if err != nil || len(skip.Items) != 1 || len(skip.Skipped) != 1 || skip.Skipped[0].Line != 2 || !strings.Contains(skip.Skipped[0].Reason, "Atlantis") {
		t.Fatalf("skipping unknown answers: %+v %v", skip, err)
	}
	a := multi.Items[0].AnswerIDs
	got := multi.Correct([][]int{{a[0], a[1], 7}})
	if !got[0] || multi.Correct([][]int{{a[1]}})[0] || !multi.Correct([][]int{{a[0]}})[0] {
		t.Error("prefix rule")
	}
}

// TestGenerateMatchesModel: batched, length-sorted greedy evaluation equals model.Generate on
// each prompt alone, and next-token accuracy of the world model is what training reported.
func TestGenerateMatchesModel(t *testing.T) {
	m, tok := worldModel(t)
	enc := corpus.NewEncoder(m, tok, tokenizer.BOSAuto)
	set, err := corpus.ReadPromptSet(filepath.Join(worldDir, "eval_facts.jsonl"), enc, corpus.PromptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set.Items = set.Items[:120]
	gen, err := corpus.Generate(m, set.Prompts(), corpus.GenerateOptions{MaxNew: 3, BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(gen); i += 17 {
		alone, err := m.Generate([][]int{set.Items[i].IDs}, 3)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(alone[0], gen[i]) {
			t.Errorf("prompt %d: batched %v, alone %v", i, gen[i], alone[0])
		}
	}
	next, err := corpus.Next(m, set.Prompts(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i, c := range set.CorrectNext(next) {
		if c {
			ok++
		}
		if next[i] != gen[i][0] {
			t.Fatalf("prompt %d: Next %d, Generate %d", i, next[i], gen[i][0])
		}
	}
	if ok < 110 {
		t.Errorf("only %d/120 correct", ok)
	}
	if _, err := corpus.Generate(m, [][]int{{1, 2}}, corpus.GenerateOptions{MaxNew: m.Config.MaxPos}); err == nil {
		t.Error("generating past the model's positions passed")
	}
}

// TestEncodeTarget: a target is one known token; a word outside the vocabulary is an
// UnknownTokenError naming it, not the id of <unk>.
func TestEncodeTarget(t *testing.T) {
	m, tok := worldModel(t)
	enc := corpus.NewEncoder(m, tok, tokenizer.BOSAuto)
	id, s, err := enc.EncodeTarget("kan")
	if err != nil || s != "kan" || id <= 0 {
		t.Fatalf("kan: %d %q %v", id, s, err)
	}
	_, _, err = enc.EncodeTarget("Atlantis")
	var unk *corpus.UnknownTokenError
	if !errors.As(err, &unk) || unk.Text != "Atlantis" {
		t.Errorf("Atlantis: %v", err)
	}
	if _, _, err := enc.EncodeTarget("kan hokot"); err == nil || !strings.Contains(err.Error(), "2 tokens") {
		t.Errorf("two words: %v", err)
	}
	if _, _, err := (corpus.Encoder{}).EncodeTarget("kan"); err == nil {
		t.Error("no tokenizer: no error")
	}
}
