package world

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHome: a country's continent is its located_in_continent fact; a city's, person's and
// company's home is reached through located_in, born_in and headquartered_in; instruments and
// tongues have none.
func TestHome(t *testing.T) {
	w := gen(t, DefaultConfig())
	obj := map[[2]string]string{}
	for _, f := range w.Facts {
		obj[[2]string{f.Relation, f.Subject}] = f.Object
	}
	for _, e := range w.Entities {
		c, k, ok := w.Home(e.Name)
		var want string
		switch e.Type {
		case Country:
			want = e.Name
		case City:
			want = obj[[2]string{"located_in", e.Name}]
		case Person:
			want = obj[[2]string{"located_in", obj[[2]string{"born_in", e.Name}]}]
		case Company:
			want = obj[[2]string{"located_in", obj[[2]string{"headquartered_in", e.Name}]}]
		case Continent:
			if !ok || c != "" || k != e.Name {
				t.Errorf("continent %s: home %q %q %v", e.Name, c, k, ok)
			}
			continue
		default:
			if ok {
				t.Errorf("%s %s has a home %q %q", e.Type, e.Name, c, k)
			}
			continue
		}
		if !ok || c != want || k != obj[[2]string{"located_in_continent", want}] || k == "" {
			t.Errorf("%s %s: home %q %q %v, want country %q", e.Type, e.Name, c, k, ok, want)
		}
	}
}

// TestConceptSets: the task set is the evaluation questions with their subjects' homes; each
// control item is its task item's prompt without the relation's noun and verb (nothing else
// removed, no relation word of any language left, never empty); each exclusion item is a
// place-answer fact's train sentence (which contains the answer) followed by the question.
func TestConceptSets(t *testing.T) {
	w := gen(t, DefaultConfig())
	if len(w.ConceptTask) != len(w.EvalFacts) || len(w.ConceptControl) != len(w.EvalFacts) {
		t.Fatalf("%d task, %d control items for %d questions", len(w.ConceptTask), len(w.ConceptControl), len(w.EvalFacts))
	}
	relWords := map[string]bool{}
	for _, l := range w.Languages {
		for _, rw := range l.RelationWords {
			relWords[rw.Noun], relWords[rw.Verb] = true, true
		}
	}
	continents := map[string]int{}
	for i, q := range w.EvalFacts {
		task, ctrl := w.ConceptTask[i], w.ConceptControl[i]
		c, k, _ := w.Home(q.Subject)
		if task.ID != q.ID || task.Prompt != q.Prompt || task.Answer != q.Answer || task.Country != c || task.Continent != k {
			t.Fatalf("task item %d %+v does not match question %+v (home %s %s)", i, task, q, c, k)
		}
		continents[k]++
		if ctrl.Answer != q.Answer || ctrl.Continent != k || ctrl.Prompt == "" || !strings.HasPrefix(ctrl.ID, "c") {
			t.Fatalf("control item %+v", ctrl)
		}
		rw := w.language(q.Language).RelationWords[q.Relation]
		var removed int
		cw := strings.Fields(ctrl.Prompt)
		j := 0
		for _, word := range strings.Fields(q.Prompt) {
			if j < len(cw) && cw[j] == word {
				j++
				continue
			}
			if word != rw.Noun && word != rw.Verb {
				t.Fatalf("control %q drops %q from %q", ctrl.Prompt, word, q.Prompt)
			}
			removed++
		}
		if j != len(cw) || removed == 0 {
			t.Fatalf("control %q is not %q without its relation words", ctrl.Prompt, q.Prompt)
		}
		for _, word := range cw {
			if relWords[word] {
				t.Fatalf("control %q keeps relation word %q", ctrl.Prompt, word)
			}
		}
	}
	if len(continents) != DefaultConfig().Continents {
		t.Errorf("task items cover %d continents, want %d: %v", len(continents), DefaultConfig().Continents, continents)
	}
	placeFacts := 0
	for _, f := range w.Facts {
		switch f.Relation {
		case "capital_of", "located_in", "located_in_continent", "born_in", "headquartered_in":
			placeFacts++
		}
	}
	if len(w.ConceptExclude) != placeFacts*len(w.Languages) {
		t.Errorf("%d exclusion items, want %d", len(w.ConceptExclude), placeFacts*len(w.Languages))
	}
	for _, x := range w.ConceptExclude {
		ctx, ok := strings.CutSuffix(x.Prompt, " "+w.ConceptTask[taskIndex(t, w, x)].Prompt)
		if !ok || !strings.HasSuffix(ctx, " "+x.Answer) || !strings.Contains(ctx, x.Subject) {
			t.Fatalf("exclusion item %+v: context %q does not state the fact", x, ctx)
		}
	}
}

func taskIndex(t *testing.T, w *World, x ConceptItem) int {
	for i, q := range w.ConceptTask {
		if q.Fact == x.Fact && q.Language == x.Language {
			return i
		}
	}
	t.Fatalf("no task item for %+v", x)
	return -1
}

// TestCommittedWorld: testdata/world is exactly what the default config writes, every file
// (the concept files were added after the models were trained; the others are unchanged).
func TestCommittedWorld(t *testing.T) {
	files := writeAll(t, gen(t, DefaultConfig()))
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "world", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, files[f]) {
			t.Errorf("testdata/world/%s differs from the regenerated file (neuronscope world --out testdata/world)", f)
		}
	}
}
