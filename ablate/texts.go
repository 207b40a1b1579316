package ablate

import (
	"fmt"
	"io"

	"github.com/neuronscope/neuronscope/model/corpus"
)

// TextSet is labelled free text (relation-neutral sentences per language, say): what the
// perplexity measure reads.
type TextSet struct {
	Source string
	Items  []Text
	// Truncated counts the texts cut to the model's positions.
	Truncated int
}

// Text is one tokenized text and its labels.
type Text struct {
	ID     string
	IDs    []int
	Labels map[string]string
}

// ReadTextSet reads texts (corpus.ReadDocuments: .txt, one per line; .jsonl, {"text": ...}
// objects whose other string fields are labels, strings or id arrays). Each is tokenized by
// enc and cut to maxLen tokens (Truncated counts them). group, when not empty, is set as label
// key=group on every text (the --text GROUP=FILE form). A text of fewer than 2 tokens has no
// next token to predict and is an error naming its line.
func ReadTextSet(path string, enc corpus.Encoder, maxLen int, key, group string) (*TextSet, error) {
	return readTextSet(path, enc, maxLen, key, group, func(fn func(corpus.Document) error) error { return corpus.ReadDocuments(path, fn) })
}

// ParseTextSet is ReadTextSet on a reader (embedded data): jsonl selects the format and name
// stands for r in errors and IDs.
func ParseTextSet(r io.Reader, name string, jsonl bool, enc corpus.Encoder, maxLen int, key, group string) (*TextSet, error) {
	return readTextSet(name, enc, maxLen, key, group, func(fn func(corpus.Document) error) error { return corpus.ParseDocuments(r, name, jsonl, fn) })
}

func readTextSet(path string, enc corpus.Encoder, maxLen int, key, group string, docs func(func(corpus.Document) error) error) (*TextSet, error) {
	s := &TextSet{Source: path}
	err := docs(func(d corpus.Document) error {
		ids, err := enc.Encode(d)
		if err != nil {
			return &corpus.InputError{Path: path, Line: d.Line, Err: err}
		}
		if len(ids) < 2 {
			return &corpus.InputError{Path: path, Line: d.Line, Err: fmt.Errorf("a text needs at least 2 tokens, this one has %d", len(ids))}
		}
		if maxLen > 0 && len(ids) > maxLen {
			ids = ids[:maxLen]
			s.Truncated++
		}
		labels := map[string]string{}
		for k, v := range d.Labels {
			labels[k] = v
		}
		if key != "" && group != "" {
			labels[key] = group
		}
		id := labels["id"]
		if id == "" {
			id = fmt.Sprintf("%s:%d", path, d.Line)
		}
		delete(labels, "id")
		s.Items = append(s.Items, Text{ID: id, IDs: ids, Labels: labels})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(s.Items) == 0 {
		return nil, &corpus.InputError{Path: path, Err: fmt.Errorf("no texts")}
	}
	return s, nil
}

// Append adds the texts of o.
func (s *TextSet) Append(o *TextSet) {
	if s.Source == "" {
		s.Source = o.Source
	} else {
		s.Source += "+" + o.Source
	}
	s.Items = append(s.Items, o.Items...)
	s.Truncated += o.Truncated
}

// Seqs returns every text's ids.
func (s *TextSet) Seqs() [][]int {
	out := make([][]int, len(s.Items))
	for i, t := range s.Items {
		out[i] = t.IDs
	}
	return out
}

// Groups lists the distinct values of label key, sorted; a text without it is an error.
func (s *TextSet) Groups(key string) ([]string, error) {
	return corpus.LabelValues(s.Source, key, len(s.Items), func(i int) (string, map[string]string) { return s.Items[i].ID, s.Items[i].Labels })
}
