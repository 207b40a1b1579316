package world

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gen(t *testing.T, cfg Config) *World {
	t.Helper()
	w, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func writeAll(t *testing.T, w *World) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	if err := w.Write(dir); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(Files) {
		t.Errorf("%d entries in the output dir, want %d (temp files left?)", len(ents), len(Files))
	}
	return out
}

// TestDeterministic: same seed → byte-identical files (and tokenizer); another seed → different.
func TestDeterministic(t *testing.T) {
	a, b := writeAll(t, gen(t, DefaultConfig())), writeAll(t, gen(t, DefaultConfig()))
	cfg2 := DefaultConfig()
	cfg2.Seed = 2
	c := writeAll(t, gen(t, cfg2))
	for _, f := range Files {
		if !bytes.Equal(a[f], b[f]) {
			t.Errorf("%s differs between two runs with the same seed", f)
		}
		if f != "world.json" && bytes.Equal(a[f], c[f]) {
			t.Errorf("%s is the same for seeds 1 and 2", f)
		}
	}
	if !bytes.Contains(c["world.json"], []byte(`"seed": 2`)) {
		t.Errorf("world.json does not record seed 2:\n%s", c["world.json"])
	}
	t1, _ := gen(t, DefaultConfig()).Tokenizer()
	t2, _ := gen(t, DefaultConfig()).Tokenizer()
	if !bytes.Equal(t1, t2) {
		t.Error("tokenizer.json differs between two runs")
	}
}

// TestTrainMatchesWorld: train.txt is w.Train's text, line for line.
func TestTrainMatchesWorld(t *testing.T) {
	w := gen(t, DefaultConfig())
	files := writeAll(t, w)
	lines := strings.Split(strings.TrimSuffix(string(files["train.txt"]), "\n"), "\n")
	if len(lines) != len(w.Train) {
		t.Fatalf("%d lines, want %d", len(lines), len(w.Train))
	}
	for i, s := range w.Train {
		if lines[i] != s.Text {
			t.Fatalf("line %d %q, want %q", i, lines[i], s.Text)
		}
	}
}

// owners maps every word to the language that owns it ("" for entity names).
func owners(w *World) map[string]string {
	m := map[string]string{}
	for _, e := range w.Entities {
		m[e.Name] = ""
	}
	for _, l := range w.Languages {
		for _, word := range langWords(l) {
			m[word] = l.ID
		}
	}
	return m
}

func langWords(l Language) []string {
	var ws []string
	for _, s := range l.FunctionWords {
		ws = append(ws, s)
	}
	for _, rw := range l.RelationWords {
		ws = append(ws, rw.Noun, rw.Verb)
	}
	ws = append(ws, l.FillerNouns...)
	ws = append(ws, l.FillerVerbs...)
	return append(ws, l.FillerAdjs...)
}

// TestProportions counts train.txt lines (recovering their language from the vocabulary and
// their fact and template by rendering) against the configured weights.
func TestProportions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed = 7
	cfg.LanguageWeights = []int{1, 2, 1, 3}
	cfg.TemplateWeights = []int{2, 1}
	cfg.Filler = 120
	w := gen(t, cfg)
	files := writeAll(t, w)
	own := owners(w)
	type key struct {
		tmpl string
		fact int
	}
	rendered := map[string]key{}
	for _, tp := range w.Templates {
		for _, f := range w.Facts {
			if f.Relation == tp.Relation {
				rendered[tp.Render(f)] = key{tp.ID, f.ID}
			}
		}
	}
	count := map[key]int{}
	filler := map[string]int{}
	langLines := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(files["train.txt"]))
	for sc.Scan() {
		line := sc.Text()
		lang := ""
		for _, word := range strings.Fields(line) {
			o, ok := own[word]
			if !ok {
				t.Fatalf("word %q of %q is not in the world", word, line)
			}
			if o != "" {
				if lang != "" && lang != o {
					t.Fatalf("%q mixes languages %s and %s", line, lang, o)
				}
				lang = o
			}
		}
		langLines[lang]++
		if k, ok := rendered[line]; ok {
			count[k]++
		} else {
			filler[lang]++
		}
	}
	langIdx := map[string]int{}
	for i, l := range w.Languages {
		langIdx[l.ID] = i
	}
	wantLines := map[string]int{}
	for _, tp := range w.Templates {
		for _, f := range w.Facts {
			if f.Relation != tp.Relation {
				continue
			}
			want := 0
			if !tp.HeldOut {
				want = cfg.LanguageWeights[langIdx[tp.Language]] * cfg.TemplateWeights[tp.Slot]
			}
			if got := count[key{tp.ID, f.ID}]; got != want {
				t.Fatalf("fact %d with template %s: %d times in train.txt, want %d", f.ID, tp.ID, got, want)
			}
			wantLines[tp.Language] += want
		}
	}
	for _, l := range w.Languages {
		if filler[l.ID] != cfg.Filler {
			t.Errorf("%s: %d filler lines, want %d", l.ID, filler[l.ID], cfg.Filler)
		}
		if langLines[l.ID] != wantLines[l.ID]+cfg.Filler {
			t.Errorf("%s: %d lines, want %d", l.ID, langLines[l.ID], wantLines[l.ID]+cfg.Filler)
		}
	}
	// With default weights every language has the same share: facts × train templates + filler.
	st := gen(t, DefaultConfig()).Stats()
	for l, n := range st.TrainFacts {
		if n != 570*2 || st.TrainFiller[l] != 300 {
			t.Errorf("default %s: %d fact and %d filler sentences, want 1140 and 300", l, n, st.TrainFiller[l])
		}
	}
}

// TestFactsAndEval: every fact is in train with each train template of its (language,
// relation) and in eval only with held-out ones; answers are single tokens and the unique
// object of (subject, relation); relations are functions.
func TestFactsAndEval(t *testing.T) {
	w := gen(t, DefaultConfig())
	obj := map[[2]string]string{}
	for _, f := range w.Facts {
		k := [2]string{f.Relation, f.Subject}
		if _, dup := obj[k]; dup {
			t.Fatalf("%s(%s) has two objects", f.Relation, f.Subject)
		}
		obj[k] = f.Object
	}
	if len(w.Relations) < 8 || len(w.Languages) < 4 {
		t.Fatalf("%d relations, %d languages", len(w.Relations), len(w.Languages))
	}
	types := map[string]string{}
	for _, e := range w.Entities {
		if strings.ContainsAny(e.Name, " \t\n") {
			t.Fatalf("entity name %q is not one word", e.Name)
		}
		types[e.Name] = e.Type
	}
	tmpl := map[string]Template{}
	for _, tp := range w.Templates {
		tmpl[tp.ID] = tp
		if !strings.HasSuffix(tp.Text, "{O}") || strings.Count(tp.Text, "{O}") != 1 || strings.Count(tp.Text, "{S}") != 1 {
			t.Errorf("template %s %q: want one {S} and one {O}, {O} last", tp.ID, tp.Text)
		}
	}
	inTrain := map[[2]any]bool{}
	for _, s := range w.Train {
		if s.Fact < 0 {
			continue
		}
		if tmpl[s.Template].HeldOut {
			t.Fatalf("train sentence %q uses held-out template %s", s.Text, s.Template)
		}
		inTrain[[2]any{s.Fact, s.Template}] = true
	}
	inEval := map[[2]any]bool{}
	for _, e := range w.EvalFacts {
		tp := tmpl[e.Template]
		if !tp.HeldOut || tp.Language != e.Language || tp.Relation != e.Relation {
			t.Fatalf("eval %s: template %s is not a held-out template of (%s, %s)", e.ID, e.Template, e.Language, e.Relation)
		}
		if strings.ContainsAny(e.Answer, " \t") || e.Answer != e.Object || obj[[2]string{e.Relation, e.Subject}] != e.Answer {
			t.Fatalf("eval %s: answer %q, want the object of %s(%s)", e.ID, e.Answer, e.Relation, e.Subject)
		}
		f := w.Facts[e.Fact]
		if f.Subject != e.Subject || f.Relation != e.Relation || e.Prompt+" "+e.Answer != tp.Render(f) {
			t.Fatalf("eval %s does not match fact %d and template %s", e.ID, e.Fact, e.Template)
		}
		inEval[[2]any{e.Fact, e.Template}] = true
	}
	for _, f := range w.Facts {
		rel := w.Relations[0]
		for _, r := range w.Relations {
			if r.Name == f.Relation {
				rel = r
			}
		}
		if types[f.Subject] != rel.SubjectType || types[f.Object] != rel.ObjectType {
			t.Fatalf("fact %d %s(%s)=%s has wrong types", f.ID, f.Relation, f.Subject, f.Object)
		}
		for _, tp := range w.Templates {
			if tp.Relation != f.Relation {
				continue
			}
			k := [2]any{f.ID, tp.ID}
			if inTrain[k] == tp.HeldOut || inEval[k] != tp.HeldOut {
				t.Fatalf("fact %d template %s (held out %v): in train %v, in eval %v", f.ID, tp.ID, tp.HeldOut, inTrain[k], inEval[k])
			}
		}
	}
	// Consistency between relations.
	for _, f := range w.Facts {
		switch f.Relation {
		case "capital_of":
			if obj[[2]string{"located_in", f.Object}] != f.Subject {
				t.Errorf("capital %s of %s is not located in it", f.Object, f.Subject)
			}
		case "ceo_of":
			if obj[[2]string{"works_for", f.Object}] != f.Subject {
				t.Errorf("CEO %s of %s does not work for it", f.Object, f.Subject)
			}
		case "mother_of":
			if f.Subject == f.Object || obj[[2]string{"mother_of", f.Object}] != "" {
				t.Errorf("mother_of(%s) = %s: a mother is never a child here", f.Subject, f.Object)
			}
		}
	}
}

// TestFillerSeparable checks the guarantee: a filler sentence (train or eval_fluency)
// contains no entity name of any type (so no relation object) and no relation word; its words
// are its own language's function and filler words only. Fluency sentences are not in train.
func TestFillerSeparable(t *testing.T) {
	w := gen(t, DefaultConfig())
	allowed := map[string]map[string]bool{}
	for _, l := range w.Languages {
		a := map[string]bool{}
		for _, s := range l.FunctionWords {
			a[s] = true
		}
		for _, s := range append(append(append([]string(nil), l.FillerNouns...), l.FillerVerbs...), l.FillerAdjs...) {
			a[s] = true
		}
		allowed[l.ID] = a
	}
	check := func(lang, text string) {
		for _, word := range strings.Fields(text) {
			if !allowed[lang][word] {
				t.Fatalf("%s filler %q has %q, not a %s function or filler word", lang, text, word, lang)
			}
		}
	}
	train := map[string]bool{}
	for _, s := range w.Train {
		train[s.Text] = true
		if s.Fact < 0 {
			check(s.Language, s.Text)
		}
	}
	for _, e := range w.EvalFluency {
		check(e.Language, e.Text)
		if train[e.Text] {
			t.Fatalf("fluency item %s %q is also in train.txt", e.ID, e.Text)
		}
	}
	// And no relation word or entity is a function or filler word of any language.
	for _, l := range w.Languages {
		for _, rw := range l.RelationWords {
			for _, x := range w.Languages {
				if allowed[x.ID][rw.Noun] || allowed[x.ID][rw.Verb] {
					t.Fatalf("relation word of %s is a filler/function word of %s", l.ID, x.ID)
				}
			}
		}
	}
}

// TestVocabularyUnique: no word is shared between languages or with an entity (compared in
// lower case), so every word identifies its language.
func TestVocabularyUnique(t *testing.T) {
	w := gen(t, Config{Languages: 8, Seed: 3})
	seen := map[string]bool{}
	for _, v := range w.Vocabulary() {
		if seen[strings.ToLower(v)] {
			t.Fatalf("word %q appears twice", v)
		}
		seen[strings.ToLower(v)] = true
	}
	if len(w.Languages) != 8 || w.Languages[4].ID != "pelan2" {
		t.Fatalf("languages %d, fifth %q", len(w.Languages), w.Languages[4].ID)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Languages: 3}, {Languages: 9}, {TrainTemplates: 4, HeldOutTemplates: 1},
		{Cities: 5, Countries: 6}, {People: 10, Companies: 11}, {People: 10, Children: 10},
		{LanguageWeights: []int{1, 1}}, {TemplateWeights: []int{1, 0}},
	} {
		if _, err := Generate(c); err == nil {
			t.Errorf("Generate(%+v): no error", c)
		}
	}
	var cfg Config
	b, _ := json.Marshal(DefaultConfig())
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.withDefaults().validate() != nil {
		t.Errorf("default config round trip: %v", err)
	}
}

// TestEvalWordsSeenInTraining: at the defaults every word of every evaluation item (prompt,
// answer, fluency text) occurs in train.txt, so evaluation never asks for an unseen token.
func TestEvalWordsSeenInTraining(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		cfg := DefaultConfig()
		cfg.Seed = seed
		w := gen(t, cfg)
		seen := map[string]bool{}
		for _, s := range w.Train {
			for _, word := range strings.Fields(s.Text) {
				seen[word] = true
			}
		}
		var texts []string
		for _, e := range w.EvalFacts {
			texts = append(texts, e.Prompt+" "+e.Answer)
		}
		for _, e := range w.EvalFluency {
			texts = append(texts, e.Text)
		}
		for _, text := range texts {
			for _, word := range strings.Fields(text) {
				if !seen[word] {
					t.Fatalf("seed %d: %q of eval text %q never occurs in train.txt", seed, word, text)
				}
			}
		}
	}
}

// TestHeldOutRelationWordsTrained: the relation words of every held-out template are in a
// train template of the same (language, relation), also with two held-out templates.
func TestHeldOutRelationWordsTrained(t *testing.T) {
	for _, split := range [][2]int{{2, 1}, {2, 2}, {3, 1}, {1, 1}} {
		cfg := DefaultConfig()
		cfg.TrainTemplates, cfg.HeldOutTemplates = split[0], split[1]
		w := gen(t, cfg)
		trained := map[string]bool{}
		for _, tp := range w.Templates {
			if !tp.HeldOut {
				for _, f := range strings.Fields(tp.Text) {
					trained[tp.Language+"/"+f] = true
				}
			}
		}
		for _, tp := range w.Templates {
			rw := w.language(tp.Language).RelationWords[tp.Relation]
			for _, f := range strings.Fields(tp.Text) {
				if (f == rw.Noun || f == rw.Verb) && !trained[tp.Language+"/"+f] {
					if split[0] >= 2 {
						t.Errorf("split %v: held-out template %s uses %q, which no train template has", split, tp.ID, f)
					}
				}
			}
		}
	}
}

// A held-out prompt must never be a training context whose continuation is not the object:
// no fact pattern's prompt (its slots before {O}) is a proper prefix of another's.
func TestNoPromptIsAPrefixOfAnotherPattern(t *testing.T) {
	for _, g := range grammars {
		for i, p := range g.Facts {
			pp := strings.Fields(strings.TrimSuffix(p, " {O}"))
			for j, q := range g.Facts {
				qp := strings.Fields(strings.TrimSuffix(q, " {O}"))
				if i == j || len(pp) >= len(qp) {
					continue
				}
				if strings.Join(qp[:len(pp)], " ") == strings.Join(pp, " ") {
					t.Errorf("%s: the prompt of %q is a prefix of %q, whose next word is %s, not {O}", g.Name, p, q, qp[len(pp)])
				}
			}
		}
	}
}

// TestTrainByLanguage: train.txt split by language is every line once, each in its language's
// file, in train.txt order, and a language's file has its filler and fact sentences.
func TestTrainByLanguage(t *testing.T) {
	w := gen(t, DefaultConfig())
	dir := t.TempDir()
	names, err := w.WriteTrainByLanguage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(w.Languages) || names[0] != "train.pelan.txt" {
		t.Fatalf("files %v", names)
	}
	next := map[string]int{}
	files := map[string][]string{}
	for _, l := range w.Languages {
		b, err := os.ReadFile(filepath.Join(dir, TrainByLanguageFile(l.ID)))
		if err != nil {
			t.Fatal(err)
		}
		files[l.ID] = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if n := len(files[l.ID]); n != len(w.TrainText(l.ID)) || n != w.Config.Filler+570*w.Config.TrainTemplates {
			t.Errorf("%s: %d sentences", l.ID, n)
		}
	}
	for _, s := range w.Train {
		k := next[s.Language]
		if k >= len(files[s.Language]) || files[s.Language][k] != s.Text {
			t.Fatalf("%s sentence %d: want %q", s.Language, k, s.Text)
		}
		next[s.Language]++
	}
	if w.TrainText("nope") != nil {
		t.Error("an unknown language has sentences")
	}
}
