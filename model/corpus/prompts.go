package corpus

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/internal/jsonerr"
)

// Prompt is one labelled question: a prompt whose greedy continuation should begin with its
// answer.
type Prompt struct {
	ID     string
	Text   string // the prompt as written
	Answer string // the answer as written
	// IDs are the prompt's tokens under the encoder's BOS policy.
	IDs []int
	// AnswerIDs are the tokens that encoding Text+" "+Answer adds after IDs: for a WordLevel
	// tokenizer the answer word, for byte-level BPE the word with its leading space.
	AnswerIDs []int
	// Labels are the line's other string fields: the groups the prompt belongs to, e.g.
	// "relation" → "capital_of", "language" → "pelan".
	Labels map[string]string
	// Raw is the line as read.
	Raw json.RawMessage
}

// PromptSet is a list of labelled prompts, such as a world's eval_facts.jsonl.
type PromptSet struct {
	Source string
	Items  []Prompt
	// Skipped lists the lines dropped under PromptOptions.SkipUnknownAnswers, with the reason.
	Skipped []SkippedPrompt
}

// SkippedPrompt is a line of a prompt set that was not read.
type SkippedPrompt struct {
	Line   int    `json:"line"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
}

// PromptOptions configure reading a prompt set.
type PromptOptions struct {
	// MultiToken accepts answers of several tokens; without it an answer must be exactly one
	// token.
	MultiToken bool
	// SkipUnknownAnswers drops (and lists in Skipped) the items whose answer encodes to the
	// tokenizer's unknown token; without it such an item is an error naming it.
	SkipUnknownAnswers bool
}

// ReadPromptSet reads a prompt-set JSONL file (see ParsePromptSet).
func ReadPromptSet(path string, enc Encoder, opt PromptOptions) (*PromptSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{Path: path, Err: unwrapPath(err)}
	}
	defer f.Close()
	return ParsePromptSet(f, path, enc, opt)
}

// ParsePromptSet reads prompts, one JSON object per line, with string fields "prompt" and
// "answer" and an optional "id"; every other string field becomes a label (the world's
// eval_facts.jsonl gives language, relation, subject, object and template; numbers are
// skipped). Errors are *InputError values naming name and the line.
func ParsePromptSet(r io.Reader, name string, enc Encoder, opt PromptOptions) (*PromptSet, error) {
	set := &PromptSet{Source: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		p, err := parsePrompt(sc.Bytes(), enc, opt)
		var unk *UnknownTokenError
		if errors.As(err, &unk) && opt.SkipUnknownAnswers {
			set.Skipped = append(set.Skipped, SkippedPrompt{Line: line, ID: p.ID, Reason: err.Error()})
			continue
		}
		if err != nil {
			return nil, &InputError{Path: name, Line: line, Err: err}
		}
		if p.ID == "" {
			p.ID = fmt.Sprintf("line%d", line)
		}
		set.Items = append(set.Items, p)
	}
	if err := sc.Err(); err != nil {
		return nil, &InputError{Path: name, Err: err}
	}
	if len(set.Items) == 0 {
		return nil, &InputError{Path: name, Err: fmt.Errorf("no prompts")}
	}
	return set, nil
}

func parsePrompt(line []byte, enc Encoder, opt PromptOptions) (Prompt, error) {
	var raw map[string]any
	if err := json.Unmarshal(line, &raw); err != nil {
		return Prompt{}, jsonerr.Plain(err)
	}
	p := Prompt{Labels: map[string]string{}, Raw: append(json.RawMessage(nil), line...)}
	p.Text, _ = raw["prompt"].(string)
	p.Answer, _ = raw["answer"].(string)
	if p.Text == "" || p.Answer == "" {
		return Prompt{}, fmt.Errorf(`a prompt needs string fields "prompt" and "answer"`)
	}
	p.ID, _ = raw["id"].(string)
	for k, v := range raw {
		if s, ok := v.(string); ok && k != "id" && k != "prompt" && k != "answer" {
			p.Labels[k] = s
		}
	}
	var err error
	if p.IDs, p.AnswerIDs, err = enc.EncodePrompt(p.Text, p.Answer, opt.MultiToken); err != nil {
		return p, err
	}
	return p, nil
}

// EncodePrompt encodes a prompt and its answer: the prompt under the BOS policy, and the
// answer as the tokens that encoding prompt+" "+answer adds after the prompt's. Unless
// multiToken, the answer must be exactly one token.
func (e Encoder) EncodePrompt(prompt, answer string, multiToken bool) (ids, answerIDs []int, err error) {
	p, err := e.EncodeText(prompt)
	if err != nil {
		return nil, nil, err
	}
	full, err := e.EncodeText(prompt + " " + answer)
	if err != nil {
		return nil, nil, err
	}
	if len(p.IDs) == 0 {
		return nil, nil, fmt.Errorf("prompt %q encodes to no tokens", prompt)
	}
	if len(full.IDs) <= len(p.IDs) || !slices.Equal(full.IDs[:len(p.IDs)], p.IDs) {
		return nil, nil, fmt.Errorf("answer %q does not extend prompt %q by whole tokens (prompt %v, prompt+answer %v)", answer, prompt, p.Tokens, full.Tokens)
	}
	answerIDs = full.IDs[len(p.IDs):]
	if e.HasUnknown(answerIDs) {
		return nil, nil, &UnknownTokenError{What: "answer", Text: answer}
	}
	if !multiToken && len(full.IDs) != len(p.IDs)+1 {
		return nil, nil, fmt.Errorf("answer %q is not one token after prompt %q (prompt %v, prompt+answer %v)", answer, prompt, p.Tokens, full.Tokens)
	}
	return p.IDs, answerIDs, nil
}

// UnknownTokenError says that a target or answer encodes to the tokenizer's unknown token:
// it is not in the model's vocabulary, and scoring it would score "<unk>".
type UnknownTokenError struct {
	What string // "answer", "target", ...
	Text string
}

func (e *UnknownTokenError) Error() string {
	return fmt.Sprintf("%s %q is not in the model's vocabulary (it encodes to the unknown token)", e.What, e.Text)
}

// EncodeTarget encodes a target token given as text (no special tokens, no BOS; with
// byte-level BPE a word's leading space is part of it, " Paris"): it must be exactly one token
// of the vocabulary, and not the unknown token (an *UnknownTokenError). It returns the id and
// the token as the vocabulary stores it.
func (e Encoder) EncodeTarget(text string) (id int, token string, err error) {
	if e.Tok == nil {
		return 0, "", fmt.Errorf("a target given as text needs the model's tokenizer.json, and the model has none (give a token id)")
	}
	t, err := e.Tok.Encode(text, false)
	if err != nil {
		return 0, "", err
	}
	if e.HasUnknown(t.IDs) {
		return 0, "", &UnknownTokenError{What: "target", Text: text}
	}
	if len(t.IDs) != 1 {
		return 0, "", fmt.Errorf("target %q is %d tokens %q, not one", text, len(t.IDs), t.Tokens)
	}
	if err := e.CheckIDs(t.IDs); err != nil {
		return 0, "", fmt.Errorf("target %q: %w", text, err)
	}
	return t.IDs[0], t.Tokens[0], nil
}

// HasUnknown reports whether ids contain the tokenizer's unknown token.
func (e Encoder) HasUnknown(ids []int) bool {
	if e.Tok == nil {
		return false
	}
	unk, ok := e.Tok.UnknownID()
	return ok && slices.Contains(ids, unk)
}

// Prompts returns every item's prompt ids, in order.
func (s *PromptSet) Prompts() [][]int {
	out := make([][]int, len(s.Items))
	for i, it := range s.Items {
		out[i] = it.IDs
	}
	return out
}

// Groups lists the distinct values of label key, sorted. An item without the label is an
// error naming it.
func (s *PromptSet) Groups(key string) ([]string, error) {
	return LabelValues(s.Source, key, len(s.Items), func(i int) (string, map[string]string) { return s.Items[i].ID, s.Items[i].Labels })
}

// LabelValues lists the distinct values of label key over n labelled items, sorted; item(i)
// gives item i's ID and labels. An item without the label is an error naming it and source.
func LabelValues(source, key string, n int, item func(i int) (id string, labels map[string]string)) ([]string, error) {
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		id, labels := item(i)
		v, ok := labels[key]
		if !ok {
			return nil, fmt.Errorf("%s: item %d (%s) has no %q label", source, i, id, key)
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

// Filter returns the set of the items keep accepts, in order.
func (s *PromptSet) Filter(keep func(Prompt) bool) *PromptSet {
	out := &PromptSet{Source: s.Source}
	for _, it := range s.Items {
		if keep(it) {
			out.Items = append(out.Items, it)
		}
	}
	return out
}

// Correct reports, per item, whether a generated continuation gets the answer right: its
// first min(len(generated), len(answer)) tokens equal the answer's first tokens. With one
// generated token per item this is next-token accuracy.
func (s *PromptSet) Correct(generated [][]int) []bool {
	out := make([]bool, len(s.Items))
	for i, it := range s.Items {
		k := min(len(generated[i]), len(it.AnswerIDs))
		out[i] = k > 0 && slices.Equal(generated[i][:k], it.AnswerIDs[:k])
	}
	return out
}

// CorrectNext is Correct for one predicted next token per item.
func (s *PromptSet) CorrectNext(pred []int) []bool {
	gen := make([][]int, len(pred))
	for i, p := range pred {
		gen[i] = []int{p}
	}
	return s.Correct(gen)
}
