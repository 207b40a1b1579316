package language

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// idItems is a stream of token-id documents, document i in group groups[i].
func idItems(docs [][]int, groups []int) Items {
	return func(yield func(Item) error) error {
		for i, ids := range docs {
			if err := yield(Item{Group: groups[i], Doc: corpus.Document{Ordinal: int64(i), IDs: ids, HasIDs: true}}); err != nil {
				return err
			}
		}
		return nil
	}
}

// bruteCounts runs every document alone with a capture of the tap and counts by hand.
func bruteCounts(t *testing.T, m *model.Model, site hooks.Site, docs [][]int, groups []int, nGroups, ctx int) *Counts {
	t.Helper()
	W := m.Catalog().Width(hooks.At(0, site))
	c, err := NewCounts([]string{"a", "b", "c"}[:nGroups], site.String(), m.Config.NLayers, W)
	if err != nil {
		t.Fatal(err)
	}
	for i, ids := range docs {
		for s := 0; s < len(ids); s += ctx {
			seq := ids[s:min(s+ctx, len(ids))]
			b, err := model.NewBatch([][]int{seq}, model.PadRight, 0)
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Forward(b, hooks.Capture("blocks.*."+site.String()))
			if err != nil {
				t.Fatal(err)
			}
			for l := range m.Config.NLayers {
				a, _ := res.Cache.Get(hooks.At(l, site))
				for p := range seq {
					for j := range W {
						if a.Data[p*W+j] > 0 {
							c.Positive[(groups[i]*c.Layers+l)*W+j]++
						}
					}
				}
			}
			c.Tokens[groups[i]] += int64(len(seq))
		}
	}
	return c
}

// TestCountBatchEqualsOneAtATime: counting in padded batches equals counting each prompt alone
// (the pass with batch 1) and a hand count over captured activations; padding is never counted.
func TestCountBatchEqualsOneAtATime(t *testing.T) {
	for _, arch := range []string{"llama", "gpt2"} {
		m := modeltest.Tiny(t, arch, 3)
		site := DefaultTap(m.Catalog())
		if want := map[string]hooks.Site{"llama": hooks.MLPPre, "gpt2": hooks.MLPPost}[arch]; site != want {
			t.Fatalf("%s: default tap %s, want %s", arch, site, want)
		}
		var docs [][]int
		var groups []int
		for i := range 11 {
			n := 3 + (i*7)%23 // lengths 3..25, some longer than ctx 16
			ids := modeltest.Tokens(n+i, 97)[i:]
			docs = append(docs, ids)
			groups = append(groups, i%3)
		}
		W := m.Catalog().Width(hooks.At(0, site))
		count := func(batch int) *Counter {
			c, err := NewCounter([]string{"a", "b", "c"}, site.String(), m.Config.NLayers, W, false)
			if err != nil {
				t.Fatal(err)
			}
			enc := corpus.Encoder{BOS: -1, Vocab: 97}
			if err := c.Run(m, enc, idItems(docs, groups), PassOptions{Tap: site, Ctx: 16, Batch: batch, PadID: 5}); err != nil {
				t.Fatal(err)
			}
			return c
		}
		one, batched := count(1), count(4)
		brute := bruteCounts(t, m, site, docs, groups, 3, 16)
		if !slices.Equal(one.Full.Positive, batched.Full.Positive) || !slices.Equal(one.Full.Tokens, batched.Full.Tokens) {
			t.Errorf("%s: batched counts differ from one at a time", arch)
		}
		if !slices.Equal(brute.Positive, batched.Full.Positive) || !slices.Equal(brute.Tokens, batched.Full.Tokens) {
			t.Errorf("%s: counts differ from the hand count over captured activations", arch)
		}
		var total int64
		for _, d := range docs {
			total += int64(len(d))
		}
		if got := batched.Full.Tokens[0] + batched.Full.Tokens[1] + batched.Full.Tokens[2]; got != total {
			t.Errorf("%s: %d tokens counted, the documents have %d (padding counted?)", arch, got, total)
		}
		var nonzero bool
		for _, v := range batched.Full.Positive {
			nonzero = nonzero || v > 0
		}
		if !nonzero {
			t.Errorf("%s: no positive activation counted", arch)
		}
	}
}

// worldModel loads the world Llama (4 layers × 512, a WordLevel tokenizer).
func worldModel(t *testing.T) (*model.Model, corpus.Encoder) {
	t.Helper()
	m, err := model.Load("../../testdata/world-llama")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, corpus.NewEncoder(m, tok, tokenizer.BOSAuto)
}

// TestCountResponseOnly: response-only counting equals counting the full texts and the prompts
// in separate passes (the published full − prefix), batched or not, and pooling gives each
// document's mean response.
func TestCountResponseOnly(t *testing.T) {
	m, enc := worldModel(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "qa.jsonl")
	var lines []string
	var fulls, prompts []string
	separate := 0
	var ownRow []int // items whose prompt runs as a row of its own
	f, err := os.ReadFile("../../testdata/world/eval_facts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(f), "\n")[:24] {
		var q struct{ Language, Prompt, Answer string }
		if err := json.Unmarshal([]byte(line), &q); err != nil {
			t.Fatal(err)
		}
		lang := []string{"x", "y"}[i%2]
		full, prompt := q.Prompt+" "+q.Answer, q.Prompt
		if i%3 == 0 {
			// a prompt ending inside a word: its encoding is not a prefix of the text's, so
			// it runs as a row of its own
			cut := prompt[:len(prompt)-1]
			pi, _ := enc.Encode(corpus.Document{Text: cut})
			fi, _ := enc.Encode(corpus.Document{Text: full})
			if !strings.HasSuffix(cut, " ") && !slices.Equal(pi, fi[:min(len(pi), len(fi))]) {
				prompt = cut
				separate++
				ownRow = append(ownRow, i)
			}
		}
		b, _ := json.Marshal(map[string]string{"text": full, "prompt": prompt, "lang": lang})
		lines = append(lines, string(b))
		fulls, prompts = append(fulls, full), append(prompts, prompt)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if separate == 0 {
		t.Fatal("no prompt runs as a row of its own")
	}
	groups, items, err := Data{Keyed: path, GroupKey: "lang", PrefixKey: "prompt"}.Resolve()
	if err != nil || !slices.Equal(groups, []string{"x", "y"}) {
		t.Fatalf("groups %v, %v", groups, err)
	}
	site := DefaultTap(m.Catalog())
	W := m.Catalog().Width(hooks.At(0, site))
	var pooled [][]float32
	run := func(batch int, pool bool) *Counter {
		c, err := NewCounter(groups, site.String(), m.Config.NLayers, W, true)
		if err != nil {
			t.Fatal(err)
		}
		opt := PassOptions{Tap: site, Ctx: 32, Batch: batch}
		if pool {
			opt.Pool = func(p Pooled) error {
				if p.Item != int64(len(pooled)) || p.Group != int(p.Item%2) {
					t.Errorf("pooled item %d group %d out of order", p.Item, p.Group)
				}
				pooled = append(pooled, p.Mean)
				return nil
			}
		}
		if err := c.Run(m, enc, items, opt); err != nil {
			t.Fatal(err)
		}
		return c
	}
	one, batched := run(1, false), run(5, true)
	for _, pair := range [][2]*Counts{{one.Full, batched.Full}, {one.Prefix, batched.Prefix}} {
		if !slices.Equal(pair[0].Positive, pair[1].Positive) || !slices.Equal(pair[0].Tokens, pair[1].Tokens) {
			t.Errorf("batched response counts differ from one at a time")
		}
	}
	// separate passes over the full texts and the prompts alone
	texts := func(ss []string) Items {
		return func(yield func(Item) error) error {
			for i, s := range ss {
				if err := yield(Item{Group: i % 2, Doc: corpus.Document{Text: s}}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	sep := func(ss []string) *Counts {
		c, _ := NewCounter(groups, site.String(), m.Config.NLayers, W, false)
		if err := c.Run(m, enc, texts(ss), PassOptions{Tap: site, Ctx: 32, Batch: 3}); err != nil {
			t.Fatal(err)
		}
		return c.Full
	}
	full, prefix := sep(fulls), sep(prompts)
	if !slices.Equal(full.Positive, batched.Full.Positive) || !slices.Equal(full.Tokens, batched.Full.Tokens) ||
		!slices.Equal(prefix.Positive, batched.Prefix.Positive) || !slices.Equal(prefix.Tokens, batched.Prefix.Tokens) {
		t.Errorf("response-only counts differ from separate full and prompt passes")
	}
	p, err := batched.Probabilities()
	if err != nil || p.Counting != CountingResponse {
		t.Fatalf("probabilities: %v %v", p, err)
	}
	// pooling: document 0's mean at layer 2, neuron 7, by hand from a capture of the same
	// first batch (5 rows: documents in order, each followed by its prompt when that runs as a
	// row of its own), so that the activations are the pass's own bit for bit
	if len(pooled) != len(fulls) {
		t.Fatalf("%d pooled responses for %d documents", len(pooled), len(fulls))
	}
	var rows [][]int
	for i := 0; len(rows) < 5; i++ {
		ids, _ := enc.Encode(corpus.Document{Text: fulls[i]})
		rows = append(rows, ids)
		if slices.Contains(ownRow, i) && len(rows) < 5 {
			pids, _ := enc.Encode(corpus.Document{Text: prompts[i]})
			rows = append(rows, pids)
		}
	}
	b, _ := model.NewBatch(rows, model.PadRight, 0)
	res, err := m.Forward(b, hooks.CapturePoints(hooks.At(2, site)))
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	a2, _ := res.Cache.Get(hooks.At(2, site))
	for pos := range rows[0] {
		sum += float64(a2.Data[pos*W+7])
	}
	if got, want := pooled[0][2*W+7], float32(sum/float64(len(rows[0]))); got != want {
		t.Errorf("pooled mean %g, want %g", got, want)
	}
}

// TestCountResumes: a pass stopped after some batches, saved and resumed gives the counts of
// an uninterrupted pass.
func TestCountResumes(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 4)
	var docs [][]int
	var groups []int
	for i := range 9 {
		docs = append(docs, modeltest.Tokens(5+i, 97)[i:])
		groups = append(groups, i%2)
	}
	enc := corpus.Encoder{BOS: -1, Vocab: 97}
	W := m.Catalog().Width(hooks.At(0, hooks.MLPPre))
	opt := PassOptions{Tap: hooks.MLPPre, Ctx: 8, Batch: 2}
	whole, _ := NewCounter([]string{"a", "b"}, "mlp.hook_pre", 2, W, false)
	if err := whole.Run(m, enc, idItems(docs, groups), opt); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "count.ckpt")
	stop := errors.New("stop")
	part, _ := NewCounter([]string{"a", "b"}, "mlp.hook_pre", 2, W, false)
	o := opt
	o.AfterBatch = func(c *Counter) error {
		if c.Batches == 3 {
			if err := c.Save(path, "fp"); err != nil {
				t.Fatal(err)
			}
			return stop
		}
		return nil
	}
	if err := part.Run(m, enc, idItems(docs, groups), o); !errors.Is(err, stop) {
		t.Fatal(err)
	}
	if _, err := LoadCounter(path, "other"); err == nil {
		t.Error("a checkpoint of other settings was accepted")
	}
	resumed, err := LoadCounter(path, "fp")
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Run(m, enc, idItems(docs, groups), opt); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resumed.Full.Positive, whole.Full.Positive) || !slices.Equal(resumed.Full.Tokens, whole.Full.Tokens) || resumed.Contexts != whole.Contexts {
		t.Error("resumed counts differ from an uninterrupted pass")
	}
	// two halves merged give the whole
	a, _ := NewCounter([]string{"a", "b"}, "mlp.hook_pre", 2, W, false)
	b, _ := NewCounter([]string{"a", "b"}, "mlp.hook_pre", 2, W, false)
	_ = a.Run(m, enc, idItems(docs[:4], groups[:4]), opt)
	_ = b.Run(m, enc, idItems(docs[4:], groups[4:]), opt)
	if err := a.Merge(b); err != nil || !slices.Equal(a.Full.Positive, whole.Full.Positive) || !slices.Equal(a.Full.Tokens, whole.Full.Tokens) {
		t.Errorf("merged halves differ from the whole: %v", err)
	}
}

// TestCountBadInput: a tap the model lacks, an empty group, unknown or duplicate group names,
// a missing prompt, a prompt the text does not start with.
func TestCountBadInput(t *testing.T) {
	m := modeltest.Tiny(t, "gpt2", 1)
	c, _ := NewCounter([]string{"a", "b"}, "mlp.hook_pre_linear", 2, 128, false)
	err := c.Run(m, corpus.Encoder{BOS: -1}, idItems(nil, nil), PassOptions{Tap: hooks.MLPPreLinear, Ctx: 8})
	if err == nil || !strings.Contains(err.Error(), "no mlp.hook_pre_linear") {
		t.Errorf("missing tap: %v", err)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, empty := write("a.jsonl", "[1,2,3]\n"), write("empty.txt", "\n\n")
	enc := corpus.Encoder{BOS: -1, Vocab: 97}
	groups, items, err := Data{Files: []GroupFile{{"a", a}, {"b", empty}}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Scan(enc, items, groups, 8, false, false)
	var eg *EmptyGroupError
	if !errors.As(err, &eg) || eg.Group != "b" {
		t.Errorf("empty group: %v", err)
	}
	if _, _, err := (Data{Files: []GroupFile{{"a", a}, {"a", empty}}}).Resolve(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate group: %v", err)
	}
	keyed := write("k.jsonl", `{"ids":[1,2],"lang":"x"}`+"\n"+`{"ids":[3,4],"lang":"z"}`+"\n")
	_, items, err = Data{Keyed: keyed, GroupKey: "lang", Groups: []string{"x", "y"}}.Resolve()
	if err == nil {
		_, _, err = Scan(enc, items, []string{"x", "y"}, 8, false, false)
	}
	if err == nil || !strings.Contains(err.Error(), `"z" is not one of x,y`) || !strings.Contains(err.Error(), "k.jsonl:2") {
		t.Errorf("unknown group: %v", err)
	}
	_, _, err = Data{Keyed: keyed, GroupKey: "language"}.Resolve()
	if err == nil || !strings.Contains(err.Error(), `no string field "language"`) {
		t.Errorf("missing group field: %v", err)
	}
	mw, encw := worldModel(t)
	_ = mw
	qa := write("qa.jsonl", `{"text":"Rofa bilo Tufinri","prompt":"Rofa bilo","lang":"x"}`+"\n"+`{"text":"Tonry bilo Diki","prompt":"Diki","lang":"y"}`+"\n")
	groups, items, _ = Data{Keyed: qa, GroupKey: "lang", PrefixKey: "prompt"}.Resolve()
	if _, _, err := Scan(encw, items, groups, 32, true, true); err == nil || !strings.Contains(err.Error(), "qa.jsonl:2") || !strings.Contains(err.Error(), "does not start with its prompt") {
		t.Errorf("prompt not a prefix: %v", err)
	}
	groups, items, _ = Data{Keyed: qa, GroupKey: "lang", PrefixKey: "question"}.Resolve()
	if _, _, err := Scan(encw, items, groups, 32, true, true); err == nil || !strings.Contains(err.Error(), `no string field "question"`) {
		t.Errorf("no prompt: %v", err)
	}
}
