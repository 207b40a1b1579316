package distributed

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/neuronscope/neuronscope/model/corpus"
)

// ExpandData expands dataset patterns (file names or globs, in the order given; a glob's
// matches sorted) into the list of files a run reads, each once. A pattern that matches
// nothing, or a file that is not .txt or .jsonl, is an error naming it.
func ExpandData(patterns []string) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	for _, pat := range patterns {
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", pat, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s matches no file", pat)
		}
		slices.Sort(matches)
		for _, f := range matches {
			if !corpus.IsDataFile(f) {
				return nil, fmt.Errorf("%s: a dataset must end in .jsonl or .txt", f)
			}
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	return files, nil
}

// DataSHA256 is the sha256 of the files' bytes one after the other: for one file, its own
// sha256 (what a single-process run records).
func DataSHA256(files []string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", fmt.Errorf("%s: %v", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Plan numbers a dataset's contexts as one process reading the files one after the other
// numbers them (documents by their ordinal over all files, contexts from 0 by corpus.Contexts,
// the MaxTokens cut applied to the whole), so that any worker can produce any range of
// contexts by reading from the file that holds its first one.
type Plan struct {
	Files []string
	// Per file: the ordinal of its first document, the index of its first context and the
	// tokens before it (for files the MaxTokens cut leaves out: the totals).
	DocBase, CtxBase, TokBase []int64
	Contexts, Tokens          int64
	Ctx                       int
	MaxTokens                 int64
}

// NewPlan reads the files once (tokenizing with enc) and numbers their contexts.
func NewPlan(files []string, enc corpus.Encoder, ctx int, maxTokens int64) (*Plan, error) {
	p := &Plan{Files: files, Ctx: ctx, MaxTokens: maxTokens}
	var docs int64
	for _, f := range files {
		p.DocBase = append(p.DocBase, docs)
		err := corpus.ReadDocuments(f, func(corpus.Document) error { docs++; return nil })
		if err != nil {
			return nil, err
		}
	}
	p.CtxBase = make([]int64, len(files))
	p.TokBase = make([]int64, len(files))
	file := 0
	err := corpus.Contexts(p.documents(0), enc, corpus.ContextOptions{Ctx: ctx, MaxTokens: maxTokens}, func(c corpus.Context) error {
		for file+1 < len(files) && c.Doc >= p.DocBase[file+1] {
			file++
			p.CtxBase[file], p.TokBase[file] = p.Contexts, p.Tokens
		}
		p.Contexts++
		p.Tokens += int64(len(c.IDs))
		return nil
	})
	if err != nil {
		return nil, err
	}
	for file+1 < len(files) {
		file++
		p.CtxBase[file], p.TokBase[file] = p.Contexts, p.Tokens
	}
	return p, nil
}

// documents streams the documents of files[from:] with their ordinals over all files.
func (p *Plan) documents(from int) corpus.Documents {
	return func(yield func(corpus.Document) error) error {
		for i := from; i < len(p.Files); i++ {
			base := p.DocBase[i]
			err := corpus.ReadDocuments(p.Files[i], func(d corpus.Document) error {
				d.Ordinal += base
				return yield(d)
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
}

var errRangeDone = errors.New("range done")

// Range yields the contexts [lo, hi) of the plan, numbered as one process numbers them: it
// starts reading at the file holding context lo (tokenizing only the part of that file before
// it) and stops after hi.
func (p *Plan) Range(enc corpus.Encoder, lo, hi int64, yield func(corpus.Context) error) error {
	if lo >= hi {
		return nil
	}
	from := 0
	for from+1 < len(p.Files) && p.CtxBase[from+1] <= lo {
		from++
	}
	opt := corpus.ContextOptions{Ctx: p.Ctx}
	if p.MaxTokens > 0 {
		opt.MaxTokens = p.MaxTokens - p.TokBase[from]
	}
	base := p.CtxBase[from]
	err := corpus.Contexts(p.documents(from), enc, opt, func(c corpus.Context) error {
		c.Index += base
		if c.Index < lo {
			return nil
		}
		if c.Index >= hi {
			return errRangeDone
		}
		return yield(c)
	})
	if errors.Is(err, errRangeDone) {
		return nil
	}
	return err
}

// Shard is one unit of work: the contexts [Lo, Hi) of the plan. Shard 0 is the calibration
// prefix.
type Shard struct {
	ID     int
	Lo, Hi int64
}

// Shards cuts the plan's contexts into the calibration shard [0, prefix) and n shards of whole
// batches after it (fewer when there are fewer batches); a plan with at most prefix contexts
// is one shard.
func (p *Plan) Shards(prefix int64, batch, n int) []Shard {
	out := []Shard{{ID: 0, Lo: 0, Hi: min(prefix, p.Contexts)}}
	if p.Contexts <= prefix {
		return out
	}
	b := int64(batch)
	batches := (p.Contexts - prefix + b - 1) / b
	n = int(min(int64(max(n, 1)), batches))
	for i := range n {
		lo := prefix + batches*int64(i)/int64(n)*b
		hi := min(prefix+batches*int64(i+1)/int64(n)*b, p.Contexts)
		out = append(out, Shard{ID: i + 1, Lo: lo, Hi: hi})
	}
	return out
}
