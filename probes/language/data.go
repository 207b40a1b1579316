package language

import (
	"fmt"
	"strings"

	"github.com/neuronscope/neuronscope/model/corpus"
)

// GroupFile is one group's dataset (GROUP=FILE on the command line): a .txt or .jsonl file
// that corpus.ReadDocuments reads.
type GroupFile struct {
	Group, Path string
}

// ParseGroupFile parses GROUP=FILE.
func ParseGroupFile(s string) (GroupFile, error) {
	g, path, ok := strings.Cut(s, "=")
	g, path = strings.TrimSpace(g), strings.TrimSpace(path)
	if !ok || g == "" || path == "" {
		return GroupFile{}, fmt.Errorf("%q is not GROUP=FILE", s)
	}
	return GroupFile{Group: g, Path: path}, nil
}

// Data says where a counting pass's per-group documents come from: one file per group
// (Files, in group order), or one JSONL whose documents name their group in the string field
// GroupKey (Keyed). For response-only counting every document is a JSONL object whose field
// PrefixKey holds its prompt.
type Data struct {
	Files     []GroupFile
	Keyed     string
	GroupKey  string
	Groups    []string // Keyed: the groups, in tensor order (nil: in order of first appearance)
	PrefixKey string   // response-only counting: the prompt's field ("" when not counting responses)
}

// Resolve checks the description and returns the group names (tensor order) and the item
// stream. Errors name the offending group or file: fewer than 2 groups, a group named twice,
// both or neither of Files and Keyed, a keyed document without the group field or with a
// group outside Groups, a document without its prompt. With Keyed and no Groups, the file is
// read once here to find the groups.
func (d Data) Resolve() ([]string, Items, error) {
	switch {
	case len(d.Files) > 0 && d.Keyed != "":
		return nil, nil, fmt.Errorf("give one file per group or one keyed file, not both")
	case len(d.Files) > 0:
		if len(d.Groups) > 0 {
			return nil, nil, fmt.Errorf("the groups are named by GROUP=FILE; a separate group list applies to a keyed file only")
		}
		groups := make([]string, len(d.Files))
		for i, f := range d.Files {
			groups[i] = f.Group
		}
		if err := checkGroups(groups); err != nil {
			return nil, nil, err
		}
		files := append([]GroupFile(nil), d.Files...)
		return groups, func(yield func(Item) error) error {
			for g, f := range files {
				err := corpus.ReadDocuments(f.Path, func(doc corpus.Document) error {
					it, err := d.item(g, doc)
					if err != nil {
						return err
					}
					return yield(it)
				})
				if err != nil {
					return err
				}
			}
			return nil
		}, nil
	case d.Keyed != "":
		if d.GroupKey == "" {
			return nil, nil, fmt.Errorf("a keyed file needs the name of its group field")
		}
		if !strings.HasSuffix(d.Keyed, ".jsonl") {
			return nil, nil, &corpus.InputError{Path: d.Keyed, Err: fmt.Errorf("a file with a group field must be .jsonl")}
		}
		groups := d.Groups
		if len(groups) == 0 {
			seen := map[string]bool{}
			err := corpus.ReadDocuments(d.Keyed, func(doc corpus.Document) error {
				g, ok := doc.Labels[d.GroupKey]
				if !ok {
					return &corpus.InputError{Path: doc.Source, Line: doc.Line, Err: fmt.Errorf("no string field %q (the group)", d.GroupKey)}
				}
				if !seen[g] {
					seen[g] = true
					groups = append(groups, g)
				}
				return nil
			})
			if err != nil {
				return nil, nil, err
			}
		}
		if err := checkGroups(groups); err != nil {
			return nil, nil, err
		}
		index := make(map[string]int, len(groups))
		for g, name := range groups {
			index[name] = g
		}
		return groups, func(yield func(Item) error) error {
			return corpus.ReadDocuments(d.Keyed, func(doc corpus.Document) error {
				name, ok := doc.Labels[d.GroupKey]
				if !ok {
					return &corpus.InputError{Path: doc.Source, Line: doc.Line, Err: fmt.Errorf("no string field %q (the group)", d.GroupKey)}
				}
				g, ok := index[name]
				if !ok {
					return &corpus.InputError{Path: doc.Source, Line: doc.Line, Err: fmt.Errorf("group %q is not one of %s", name, strings.Join(groups, ","))}
				}
				it, err := d.item(g, doc)
				if err != nil {
					return err
				}
				return yield(it)
			})
		}, nil
	}
	return nil, nil, fmt.Errorf("no data: give one file per group or one keyed file")
}

// item is document doc of group g, with its prompt (string field PrefixKey) when counting
// responses only.
func (d Data) item(g int, doc corpus.Document) (Item, error) {
	it := Item{Group: g, Doc: doc}
	if d.PrefixKey == "" {
		return it, nil
	}
	p, ok := doc.Labels[d.PrefixKey]
	if !ok {
		return it, &corpus.InputError{Path: doc.Source, Line: doc.Line, Err: fmt.Errorf("no string field %q (the prompt of response-only counting)", d.PrefixKey)}
	}
	it.Prefix = p
	return it, nil
}
