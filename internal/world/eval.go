package world

import (
	"fmt"
	"sort"

	"github.com/neuronscope/neuronscope/model/corpus"
)

// Accuracy is greedy fact-question accuracy, overall and by relation × language.
type Accuracy struct {
	Correct    int                           `json:"correct"`
	Total      int                           `json:"total"`
	Overall    float64                       `json:"overall"`
	ByRelation map[string]float64            `json:"by_relation"`
	ByLanguage map[string]float64            `json:"by_language"`
	Cells      map[string]map[string]float64 `json:"by_relation_language"` // relation → language → accuracy
	Worst      float64                       `json:"worst_cell"`           // lowest relation × language accuracy
}

// Score breaks greedy fact-question accuracy down by the "relation" and "language" labels of
// a prompt set (a world's eval_facts.jsonl read with corpus.ReadPromptSet), given whether each
// item was answered correctly.
func Score(set *corpus.PromptSet, correct []bool) Accuracy {
	type count struct{ ok, n int }
	rel, lang := map[string]*count{}, map[string]*count{}
	cell := map[[2]string]*count{}
	add := func(m map[string]*count, k string, ok bool) {
		if m[k] == nil {
			m[k] = &count{}
		}
		m[k].n++
		if ok {
			m[k].ok++
		}
	}
	a := Accuracy{ByRelation: map[string]float64{}, ByLanguage: map[string]float64{}, Cells: map[string]map[string]float64{}, Worst: 1}
	items := set.Items
	for i, e := range items {
		ok := correct[i]
		if ok {
			a.Correct++
		}
		r, l := e.Labels["relation"], e.Labels["language"]
		add(rel, r, ok)
		add(lang, l, ok)
		k := [2]string{r, l}
		if cell[k] == nil {
			cell[k] = &count{}
		}
		cell[k].n++
		if ok {
			cell[k].ok++
		}
	}
	a.Total = len(items)
	if a.Total > 0 {
		a.Overall = float64(a.Correct) / float64(a.Total)
	}
	for k, c := range rel {
		a.ByRelation[k] = float64(c.ok) / float64(c.n)
	}
	for k, c := range lang {
		a.ByLanguage[k] = float64(c.ok) / float64(c.n)
	}
	for k, c := range cell {
		if a.Cells[k[0]] == nil {
			a.Cells[k[0]] = map[string]float64{}
		}
		v := float64(c.ok) / float64(c.n)
		a.Cells[k[0]][k[1]] = v
		a.Worst = min(a.Worst, v)
	}
	return a
}

// Table renders the accuracy as a relation × language table in percent.
func (a Accuracy) Table() string {
	var rels, langs []string
	for r := range a.ByRelation {
		rels = append(rels, r)
	}
	for l := range a.ByLanguage {
		langs = append(langs, l)
	}
	sort.Strings(rels)
	sort.Strings(langs)
	s := fmt.Sprintf("%-22s", "relation")
	for _, l := range langs {
		s += fmt.Sprintf(" %8s", l)
	}
	s += fmt.Sprintf(" %8s\n", "all")
	for _, r := range rels {
		s += fmt.Sprintf("%-22s", r)
		for _, l := range langs {
			s += fmt.Sprintf(" %7.1f%%", 100*a.Cells[r][l])
		}
		s += fmt.Sprintf(" %7.1f%%\n", 100*a.ByRelation[r])
	}
	s += fmt.Sprintf("%-22s", "all")
	for _, l := range langs {
		s += fmt.Sprintf(" %7.1f%%", 100*a.ByLanguage[l])
	}
	s += fmt.Sprintf(" %7.1f%%  (%d/%d)\n", 100*a.Overall, a.Correct, a.Total)
	return s
}
