package world

import (
	"strings"
	"testing"
)

func TestScore(t *testing.T) {
	items := []EvalFact{
		{Relation: "a", Language: "x", Answer: "P"},
		{Relation: "a", Language: "y", Answer: "Q"},
		{Relation: "b", Language: "x", Answer: "R"},
		{Relation: "b", Language: "x", Answer: "S"},
	}
	acc := Score(items, []string{"P", "no", "R", "no"})
	if acc.Correct != 2 || acc.Total != 4 || acc.Overall != 0.5 {
		t.Errorf("overall %d/%d = %v, want 2/4", acc.Correct, acc.Total, acc.Overall)
	}
	if acc.ByRelation["a"] != 0.5 || acc.ByLanguage["x"] != 2.0/3 || acc.Cells["a"]["y"] != 0 || acc.Cells["b"]["x"] != 0.5 {
		t.Errorf("breakdown wrong: %+v", acc)
	}
	if acc.Worst != 0 {
		t.Errorf("worst cell %v, want 0", acc.Worst)
	}
	if tab := acc.Table(); !strings.Contains(tab, "50.0%") || !strings.Contains(tab, "(2/4)") {
		t.Errorf("table:\n%s", tab)
	}
}

func TestParseEvalFactsErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "no eval facts"},
		{"{", "f.jsonl:1"},
		{`{"prompt":"a b","answer":"c","language":"x"}`, "needs prompt, answer, language and relation"},
	} {
		if _, err := ParseEvalFacts(strings.NewReader(c.in), "f.jsonl"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.in, err, c.want)
		}
	}
	got, err := ParseEvalFacts(strings.NewReader(`{"prompt":"a b","answer":"c","language":"x","relation":"r"}`+"\n\n"), "f.jsonl")
	if err != nil || len(got) != 1 || got[0].Answer != "c" {
		t.Errorf("got %+v, %v", got, err)
	}
}
