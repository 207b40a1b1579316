package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/neuronscope/neuronscope/internal/jsonerr"
)

// InputError is a problem with the input data itself (a file that cannot be read, a line that
// is not what the format says, a token outside the vocabulary): the user's mistake, not the
// program's. Path and Line locate it when known. Front ends report it as a usage error.
type InputError struct {
	Path string
	Line int
	Err  error
}

func (e *InputError) Error() string {
	switch {
	case e.Path != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	case e.Path != "":
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return e.Err.Error()
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErr(path string, line int, format string, a ...any) error {
	return &InputError{Path: path, Line: line, Err: fmt.Errorf(format, a...)}
}

// Document is one document of a dataset: text to tokenize, or token ids given verbatim.
type Document struct {
	// Ordinal is the document's 0-based ordinal among the file's non-blank lines.
	Ordinal int64
	// Source names the file (or other source) and Line is the document's 1-based line in it.
	Source string
	Line   int
	Text   string
	// IDs holds the token ids when the line gave ids (HasIDs); they are used verbatim.
	IDs    []int
	HasIDs bool
	// Labels are the other string fields of a JSONL object (e.g. "language": "pelan").
	Labels map[string]string
}

// IsDataFile reports whether path has a dataset extension ReadDocuments reads (.txt, .jsonl).
func IsDataFile(path string) bool {
	return strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".txt")
}

// ReadDocuments streams the documents of a dataset file, in order, to fn:
//
//	.txt    one document per non-blank line (the line without its line ending)
//	.jsonl  one document per non-blank line: a JSON string; an object with "text" (other string
//	        fields become Labels), "ids" or "input_ids"; or an array of token ids
//
// Problems with the file are *InputError values naming the file and line. An error returned by
// fn ends the stream and is returned as it is.
func ReadDocuments(path string, fn func(Document) error) error {
	if !IsDataFile(path) {
		return inputErr(path, 0, "a dataset must end in .jsonl or .txt")
	}
	f, err := os.Open(path)
	if err != nil {
		return &InputError{Path: path, Err: unwrapPath(err)}
	}
	defer f.Close()
	return ParseDocuments(f, path, strings.HasSuffix(path, ".jsonl"), fn)
}

// ParseDocuments is ReadDocuments on a reader; jsonl selects the format and name stands for r
// in errors.
func ParseDocuments(r io.Reader, name string, jsonl bool, fn func(Document) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var ordinal int64
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return &InputError{Path: name, Line: lineNo, Err: rerr}
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var d Document
			if !jsonl {
				d.Text = string(bytes.TrimRight(line, "\r\n"))
			} else {
				var err error
				if d, err = ParseDocumentLine(t); err != nil {
					return &InputError{Path: name, Line: lineNo, Err: err}
				}
			}
			d.Ordinal, d.Source, d.Line = ordinal, name, lineNo
			ordinal++
			if err := fn(d); err != nil {
				return err
			}
		}
		if rerr != nil {
			return nil
		}
	}
}

// ParseDocumentLine reads one JSONL line: a JSON string, an object with "text" (other string
// fields become Labels), "ids" or "input_ids", or an array of token ids.
func ParseDocumentLine(t []byte) (Document, error) {
	t = bytes.TrimSpace(t)
	if len(t) == 0 {
		return Document{}, fmt.Errorf("empty line")
	}
	switch t[0] {
	case '"':
		var s string
		err := json.Unmarshal(t, &s)
		return Document{Text: s}, jsonerr.Plain(err)
	case '[':
		var ids []int
		if err := json.Unmarshal(t, &ids); err != nil {
			return Document{}, fmt.Errorf("not an array of token ids: %v", jsonerr.Plain(err))
		}
		return Document{IDs: ids, HasIDs: true}, nil
	case '{':
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(t, &raw); err != nil {
			return Document{}, jsonerr.Plain(err)
		}
		var d Document
		if v, ok := raw["text"]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &d.Text); err != nil {
				return Document{}, fmt.Errorf(`"text" must be a string: %v`, jsonerr.Plain(err))
			}
		} else {
			for _, key := range []string{"ids", "input_ids"} {
				if v, ok := raw[key]; ok && string(v) != "null" {
					if err := json.Unmarshal(v, &d.IDs); err != nil {
						return Document{}, fmt.Errorf("%q must be an array of token ids: %v", key, jsonerr.Plain(err))
					}
					d.HasIDs = true
					break
				}
			}
			if !d.HasIDs {
				return Document{}, fmt.Errorf(`an object needs "text", "ids" or "input_ids"`)
			}
		}
		delete(raw, "ids")
		delete(raw, "input_ids")
		delete(raw, "text")
		for k, v := range raw {
			var s string
			if json.Unmarshal(v, &s) == nil {
				if d.Labels == nil {
					d.Labels = map[string]string{}
				}
				d.Labels[k] = s
			}
		}
		return d, nil
	}
	return Document{}, fmt.Errorf("not a JSON string, object or array of token ids")
}

// unwrapPath drops an *os.PathError's repetition of the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
