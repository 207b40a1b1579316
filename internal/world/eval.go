package world

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// ReadEvalFacts reads an eval_facts.jsonl file.
func ReadEvalFacts(path string) ([]EvalFact, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseEvalFacts(f, path)
}

// ParseEvalFacts reads eval_facts.jsonl lines from r; name stands for it in errors.
func ParseEvalFacts(r io.Reader, path string) ([]EvalFact, error) {
	var out []EvalFact
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e EvalFact
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if e.Prompt == "" || e.Answer == "" || e.Language == "" || e.Relation == "" {
			return nil, fmt.Errorf("%s:%d: an eval fact needs prompt, answer, language and relation", path, line)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no eval facts", path)
	}
	return out, nil
}

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

// Score compares predicted answers (one per item) with the items' answers.
func Score(items []EvalFact, predicted []string) Accuracy {
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
	for i, e := range items {
		ok := predicted[i] == e.Answer
		if ok {
			a.Correct++
		}
		add(rel, e.Relation, ok)
		add(lang, e.Language, ok)
		k := [2]string{e.Relation, e.Language}
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

// Questions are eval facts tokenized for a model: Prompts[i] (with the tokenizer's BOS) should
// be followed by the single token Answers[i].
type Questions struct {
	Items   []EvalFact
	Prompts [][]int
	Answers []int
}

// Tokenize encodes every item's prompt with BOS and its answer as one token. An answer that is
// not exactly one token is an error: the world's names are single tokens by construction.
func Tokenize(items []EvalFact, tok *tokenizer.Tokenizer) (*Questions, error) {
	bos, ok := tok.BOS()
	if !ok {
		return nil, fmt.Errorf("the tokenizer has no BOS token")
	}
	q := &Questions{Items: items}
	for _, e := range items {
		enc, err := tok.EncodeWithBOS(e.Prompt, tokenizer.BOSAlways, bos)
		if err != nil {
			return nil, fmt.Errorf("eval fact %s: %v", e.ID, err)
		}
		ans, err := tok.Encode(e.Answer, false)
		if err != nil {
			return nil, fmt.Errorf("eval fact %s: %v", e.ID, err)
		}
		if len(ans.IDs) != 1 {
			return nil, fmt.Errorf("eval fact %s: answer %q is %d tokens, want 1", e.ID, e.Answer, len(ans.IDs))
		}
		q.Prompts = append(q.Prompts, enc.IDs)
		q.Answers = append(q.Answers, ans.IDs[0])
	}
	return q, nil
}

// ScoreIDs scores predicted answer token ids against the questions.
func (q *Questions) ScoreIDs(pred []int) Accuracy {
	s := make([]string, len(pred))
	for i, p := range pred {
		if p == q.Answers[i] {
			s[i] = q.Items[i].Answer
		}
	}
	return Score(q.Items, s)
}
