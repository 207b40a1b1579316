package ablate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// Item is one fact question: a prompt whose greedy next token should be Answer.
type Item struct {
	ID     string `json:"id"`
	Prompt []int  `json:"prompt"` // token ids, BOS included when the policy adds one
	Answer int    `json:"answer"` // the one token that should follow the prompt
	// Labels name the groups the item belongs to, e.g. "relation" → "capital_of",
	// "language" → "pelan".
	Labels map[string]string `json:"labels,omitempty"`
}

// EvalSet is a list of fact questions.
type EvalSet struct {
	Items []Item `json:"items"`
}

// Groups lists the distinct values of label key, sorted. An item without the label is an
// error naming it.
func (s *EvalSet) Groups(key string) ([]string, error) {
	seen := map[string]bool{}
	for i, it := range s.Items {
		v, ok := it.Labels[key]
		if !ok {
			return nil, fmt.Errorf("eval item %d (%s) has no %q label", i, it.ID, key)
		}
		seen[v] = true
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil
}

// ReadEvalSet reads a fact-question JSONL file such as the world's eval_facts.jsonl (see
// ParseEvalSet).
func ReadEvalSet(path string, tok *tokenizer.Tokenizer, bos tokenizer.BOSPolicy) (*EvalSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseEvalSet(f, path, tok, bos)
}

// ParseEvalSet reads fact questions, one JSON object per line, with string fields "prompt"
// and "answer" and an optional "id"; every other string field becomes a label (the world's
// eval_facts.jsonl gives language, relation, subject, object and template; numbers such as
// "fact" are skipped). The prompt is encoded with the BOS policy; the answer must be exactly
// the one token that encoding prompt+" "+answer adds after the prompt's tokens (for a
// WordLevel tokenizer, the answer word; for byte-level BPE, the word with its leading space).
// name stands for r in errors, which give the line.
func ParseEvalSet(r io.Reader, name string, tok *tokenizer.Tokenizer, bos tokenizer.BOSPolicy) (*EvalSet, error) {
	set := &EvalSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		it, err := parseItem(raw, tok, bos)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if it.ID == "" {
			it.ID = fmt.Sprintf("line%d", line)
		}
		set.Items = append(set.Items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(set.Items) == 0 {
		return nil, fmt.Errorf("%s: no questions", name)
	}
	return set, nil
}

func parseItem(raw map[string]any, tok *tokenizer.Tokenizer, bos tokenizer.BOSPolicy) (Item, error) {
	prompt, _ := raw["prompt"].(string)
	answer, _ := raw["answer"].(string)
	if prompt == "" || answer == "" {
		return Item{}, fmt.Errorf(`a question needs string fields "prompt" and "answer"`)
	}
	it := Item{Labels: map[string]string{}}
	it.ID, _ = raw["id"].(string)
	for k, v := range raw {
		if s, ok := v.(string); ok && k != "id" && k != "prompt" && k != "answer" {
			it.Labels[k] = s
		}
	}
	p, err := tok.EncodeWithBOS(prompt, bos, -1)
	if err != nil {
		return Item{}, err
	}
	full, err := tok.EncodeWithBOS(prompt+" "+answer, bos, -1)
	if err != nil {
		return Item{}, err
	}
	if len(p.IDs) == 0 {
		return Item{}, fmt.Errorf("prompt %q encodes to no tokens", prompt)
	}
	if len(full.IDs) != len(p.IDs)+1 || !slices.Equal(full.IDs[:len(p.IDs)], p.IDs) {
		return Item{}, fmt.Errorf("answer %q is not one token after prompt %q (prompt %v, prompt+answer %v)", answer, prompt, p.Tokens, full.Tokens)
	}
	it.Prompt, it.Answer = p.IDs, full.IDs[len(p.IDs)]
	return it, nil
}

// DefaultBatchSize is the number of prompts per forward pass when none is given.
const DefaultBatchSize = 64

// batches splits the set into forward passes: items ordered by prompt length (then index), so
// rows of a batch pad little, and left-padded, so every row's last position is the batch's
// last. The split depends only on the set and the size.
func batches(set *EvalSet, size int) ([][]int, error) {
	if size <= 0 {
		size = DefaultBatchSize
	}
	order := make([]int, len(set.Items))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(set.Items[order[a]].Prompt) < len(set.Items[order[b]].Prompt) })
	var out [][]int
	for lo := 0; lo < len(order); lo += size {
		out = append(out, order[lo:min(lo+size, len(order))])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty eval set")
	}
	return out, nil
}

// forEachBatch runs every batch of the set through the model with the hook options that
// opts returns for it (opts may be nil), and hands each result to fn.
func forEachBatch(m *model.Model, set *EvalSet, size int, opts func(bi int, b model.Batch) []hooks.Option,
	fn func(bi int, rows []int, b model.Batch, res *model.Result) error) error {
	bs, err := batches(set, size)
	if err != nil {
		return err
	}
	for bi, rows := range bs {
		seqs := make([][]int, len(rows))
		for k, i := range rows {
			seqs[k] = set.Items[i].Prompt
		}
		b, err := model.NewBatch(seqs, model.PadLeft, 0)
		if err != nil {
			return err
		}
		var o []hooks.Option
		if opts != nil {
			o = opts(bi, b)
		}
		res, err := m.Forward(b, o...)
		if err != nil {
			return err
		}
		if err := fn(bi, rows, b, res); err != nil {
			return err
		}
	}
	return nil
}

// Predict returns every item's greedy prediction: the argmax (lowest id on ties) of the logits
// at the prompt's last position, with the hook options applied to every forward pass. Prompts
// go batchSize at a time (0 means DefaultBatchSize), left-padded; position ids follow the
// mask, so padding changes nothing. Edits in opts run once per batch, in batch order.
func Predict(m *model.Model, set *EvalSet, batchSize int, opts ...hooks.Option) ([]int, error) {
	pred := make([]int, len(set.Items))
	V := m.Config.DVocab
	err := forEachBatch(m, set, batchSize, func(int, model.Batch) []hooks.Option { return opts },
		func(_ int, rows []int, b model.Batch, res *model.Result) error {
			for k, i := range rows {
				off := (k*b.Len + b.Len - 1) * V
				pred[i] = argmax(res.Logits.Data[off : off+V])
			}
			return nil
		})
	return pred, err
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// Correct reports, per item, whether a prediction equals the item's answer.
func (s *EvalSet) Correct(pred []int) []bool {
	out := make([]bool, len(s.Items))
	for i, it := range s.Items {
		out[i] = pred[i] == it.Answer
	}
	return out
}
