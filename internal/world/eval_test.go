package world

import (
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/corpus"
)

func TestScore(t *testing.T) {
	item := func(rel, lang string) corpus.Prompt {
		return corpus.Prompt{Labels: map[string]string{"relation": rel, "language": lang}}
	}
	set := &corpus.PromptSet{Items: []corpus.Prompt{item("a", "x"), item("a", "y"), item("b", "x"), item("b", "x")}}
	acc := Score(set, []bool{true, false, true, false})
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
