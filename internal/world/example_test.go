package world_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/internal/world"
)

func Example() {
	w, err := world.Generate(world.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	st := w.Stats()
	fmt.Println(st.TotalEntities, "entities,", st.TotalFacts, "facts,", len(w.Relations), "relations,", len(w.Languages), "languages")
	fmt.Println(st.TrainLines, "train sentences,", st.TrainTokens, "tokens, vocab", st.VocabSize)
	for _, l := range w.Languages {
		fmt.Println(l.ID, l.Grammar.WordOrder, l.Grammar.Adposition)
	}
	// One fact in every language: a training sentence and the held-out question.
	f := w.Facts[0]
	fmt.Printf("%s(%s) = %s\n", f.Relation, f.Subject, f.Object)
	for _, t := range w.Templates {
		if t.Relation == f.Relation && !t.HeldOut && t.Slot == 0 {
			fmt.Printf("train %-28s %s\n", t.ID, t.Render(f))
		}
	}
	for _, q := range w.EvalFacts {
		if q.Fact == f.ID {
			fmt.Printf("eval  %-28s %s → %s\n", q.Template, q.Prompt, q.Answer)
		}
	}
	// Output:
	// 203 entities, 570 facts, 10 relations, 4 languages
	// 5760 train sentences, 29608 tokens, vocab 501
	// pelan SVO prepositions
	// korrak SOV postpositions
	// shivu VSO prepositions
	// tlaxo OVS postpositions
	// capital_of(Rofa) = Tufinri
	// train pelan.capital_of.3           di ne tibofi pe Rofa bi Tufinri
	// train korrak.capital_of.1          Rofa kra katkrat got Tufinri
	// train shivu.capital_of.1           zei shaichaishai yu Rofa Tufinri
	// train tlaxo.capital_of.0           tsotletlox Rofa tlo wex Tufinri
	// eval  pelan.capital_of.1           Rofa bilo → Tufinri
	// eval  korrak.capital_of.3          Rofa kra kan katkrat got → Tufinri
	// eval  shivu.capital_of.2           zi zishu Rofa → Tufinri
	// eval  tlaxo.capital_of.2           tsel tsotletlox Rofa tlo wex → Tufinri
}
