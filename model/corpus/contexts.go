package corpus

import (
	"errors"
	"fmt"
)

// Documents is a stream of documents: it calls yield with each, in order, and returns the
// first error (of the source or of yield). FileDocuments and TextDocuments make one.
type Documents func(yield func(Document) error) error

// FileDocuments streams a dataset file (see ReadDocuments).
func FileDocuments(path string) Documents {
	return func(yield func(Document) error) error { return ReadDocuments(path, yield) }
}

// TextDocuments streams texts held in memory, one document each.
func TextDocuments(texts []string) Documents {
	return func(yield func(Document) error) error {
		for i, t := range texts {
			if err := yield(Document{Ordinal: int64(i), Line: i + 1, Text: t}); err != nil {
				return err
			}
		}
		return nil
	}
}

// Context is one row of a forward pass: a window of one document's tokens.
type Context struct {
	IDs []int
	// Doc is the document's ordinal; Start the document position of IDs[0] (for a
	// continuation context that starts with a re-inserted BOS, the position of the token before
	// its first real token).
	Doc   int64
	Start int
	// Index is the context's ordinal in the run (the tie-break of example lists).
	Index int64
	// BOS counts the leading positions of IDs that hold the model's BOS token (usually 0 or
	// 1): BOS positions, which dataset statistics leave out by default (a BOS activation
	// describes the position, not the text; SNMF and most profilers drop it).
	BOS int
}

// ContextOptions say how documents are cut into contexts.
type ContextOptions struct {
	// Ctx is the longest context in tokens (≥ 2).
	Ctx int
	// MaxTokens stops the stream after this many tokens (0: the whole dataset); the last
	// context is cut short to meet it.
	MaxTokens int64
}

// ContextRule states, for reports, how Contexts cuts documents.
const ContextRule = "documents cut into contexts of ctx tokens that never span documents; continuation contexts of a document that began with BOS start with BOS; the last context of a document may be shorter (padded; pads not counted)"

// Contexts tokenizes the documents and cuts them into contexts of at most opt.Ctx tokens that
// never span documents; when a text document begins with BOS, each continuation context starts
// with BOS again; a document's last context may be shorter. Empty documents give no context.
// Contexts are numbered from 0 in order.
func Contexts(docs Documents, enc Encoder, opt ContextOptions, yield func(Context) error) error {
	if opt.Ctx < 2 {
		return fmt.Errorf("contexts of %d tokens: want at least 2", opt.Ctx)
	}
	var index, tokens int64
	err := docs(func(d Document) error {
		ids, err := enc.Encode(d)
		if err != nil {
			return &InputError{Path: d.Source, Line: d.Line, Err: err}
		}
		reBOS := enc.startsWithBOS(d, ids)
		for start := 0; start < len(ids); {
			var c Context
			if start > 0 && reBOS {
				n := min(opt.Ctx-1, len(ids)-start)
				c.IDs = append([]int{enc.BOS}, ids[start:start+n]...)
				c.Start = start - 1
				start += n
			} else {
				n := min(opt.Ctx, len(ids)-start)
				c.IDs = ids[start : start+n]
				c.Start = start
				start += n
			}
			if opt.MaxTokens > 0 && tokens+int64(len(c.IDs)) > opt.MaxTokens {
				c.IDs = c.IDs[:opt.MaxTokens-tokens]
			}
			if len(c.IDs) == 0 {
				return errStop
			}
			c.Doc, c.Index, c.BOS = d.Ordinal, index, enc.leadingBOS(c.IDs)
			index++
			tokens += int64(len(c.IDs))
			if err := yield(c); err != nil {
				return err
			}
			if opt.MaxTokens > 0 && tokens >= opt.MaxTokens {
				return errStop
			}
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")

// CountTokens runs Contexts without a model and returns the number of tokens and contexts it
// yields: the total a progress bar counts towards.
func CountTokens(docs Documents, enc Encoder, opt ContextOptions) (tokens, contexts int64, err error) {
	err = Contexts(docs, enc, opt, func(c Context) error {
		tokens += int64(len(c.IDs))
		contexts++
		return nil
	})
	return tokens, contexts, err
}
