package world

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
)

// Files written by Write, in writing order.
var Files = []string{"world.json", "ground_truth.json", "train.txt", "eval_facts.jsonl", "eval_fluency.jsonl",
	"concept_task.jsonl", "concept_control.jsonl", "concept_exclude.jsonl"}

// groundTruth is ground_truth.json.
type groundTruth struct {
	Schema    string     `json:"schema_version"`
	Seed      uint64     `json:"seed"`
	Languages []Language `json:"languages"`
	Entities  []Entity   `json:"entities"`
	Relations []Relation `json:"relations"`
	Facts     []Fact     `json:"facts"`
	Templates []Template `json:"templates"`
	Eval      []evalRef  `json:"eval"`
}

// evalRef says what an evaluation item (eval_facts.jsonl or eval_fluency.jsonl) is about.
type evalRef struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"` // "fact" or "fluency"
	Language string `json:"language"`
	Relation string `json:"relation,omitempty"`
	Fact     *int   `json:"fact,omitempty"`
	Template string `json:"template,omitempty"`
}

// Write writes the world's files (see Files) into dir, creating it; each file is written
// atomically. The bytes depend only on the Config.
func (w *World) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gt := groundTruth{Schema: "neuronscope.world/v1", Seed: w.Config.Seed, Languages: w.Languages,
		Entities: w.Entities, Relations: w.Relations, Facts: w.Facts, Templates: w.Templates}
	for _, e := range w.EvalFacts {
		gt.Eval = append(gt.Eval, evalRef{ID: e.ID, Kind: "fact", Language: e.Language, Relation: e.Relation, Fact: &e.Fact, Template: e.Template})
	}
	for _, e := range w.EvalFluency {
		gt.Eval = append(gt.Eval, evalRef{ID: e.ID, Kind: "fluency", Language: e.Language})
	}
	writers := map[string]func(*bufio.Writer) error{
		"world.json":        func(b *bufio.Writer) error { return writeJSON(b, w.Config, true) },
		"ground_truth.json": func(b *bufio.Writer) error { return writeJSON(b, gt, true) },
		"train.txt": func(b *bufio.Writer) error {
			for _, s := range w.Train {
				b.WriteString(s.Text)
				b.WriteByte('\n')
			}
			return nil
		},
		"eval_facts.jsonl": func(b *bufio.Writer) error {
			for _, e := range w.EvalFacts {
				if err := writeJSON(b, e, false); err != nil {
					return err
				}
			}
			return nil
		},
		"eval_fluency.jsonl": func(b *bufio.Writer) error {
			for _, e := range w.EvalFluency {
				if err := writeJSON(b, e, false); err != nil {
					return err
				}
			}
			return nil
		},
		"concept_task.jsonl":    conceptWriter(w.ConceptTask),
		"concept_control.jsonl": conceptWriter(w.ConceptControl),
		"concept_exclude.jsonl": conceptWriter(w.ConceptExclude),
	}
	for _, name := range Files {
		if err := atomicfile.Write(filepath.Join(dir, name), writers[name]); err != nil {
			return err
		}
	}
	return nil
}

func conceptWriter(items []ConceptItem) func(*bufio.Writer) error {
	return func(b *bufio.Writer) error {
		for _, e := range items {
			if err := writeJSON(b, e, false); err != nil {
				return err
			}
		}
		return nil
	}
}

// writeJSON writes v and a newline, without HTML escaping (so "<bos>" stays readable).
func writeJSON(b *bufio.Writer, v any, indent bool) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// Vocabulary is every word of the world, sorted: entity names and every language's function,
// relation and filler words (all of them, used or not).
func (w *World) Vocabulary() []string {
	var v []string
	for _, e := range w.Entities {
		v = append(v, e.Name)
	}
	for _, l := range w.Languages {
		for _, s := range l.FunctionWords {
			v = append(v, s)
		}
		for _, rw := range l.RelationWords {
			v = append(v, rw.Noun, rw.Verb)
		}
		v = append(v, l.FillerNouns...)
		v = append(v, l.FillerVerbs...)
		v = append(v, l.FillerAdjs...)
	}
	sort.Strings(v)
	return v
}

// Stats summarises a world.
type Stats struct {
	Entities      map[string]int `json:"entities"` // per type
	Facts         map[string]int `json:"facts"`    // per relation
	TrainFacts    map[string]int `json:"train_fact_sentences"`
	TrainFiller   map[string]int `json:"train_filler_sentences"` // per language
	TrainByRel    map[string]int `json:"train_sentences_by_relation"`
	EvalFacts     map[string]int `json:"eval_facts"` // per language
	EvalFluency   map[string]int `json:"eval_fluency"`
	TrainLines    int            `json:"train_sentences"`
	TrainTokens   int            `json:"train_tokens"` // words, without BOS
	MaxLen        int            `json:"max_sentence_words"`
	VocabSize     int            `json:"vocab_size"` // with the 4 special tokens
	TotalEntities int            `json:"total_entities"`
	TotalFacts    int            `json:"total_facts"`
}

// Stats counts the world's parts.
func (w *World) Stats() Stats {
	s := Stats{Entities: map[string]int{}, Facts: map[string]int{}, TrainFacts: map[string]int{},
		TrainFiller: map[string]int{}, TrainByRel: map[string]int{}, EvalFacts: map[string]int{}, EvalFluency: map[string]int{}}
	for _, e := range w.Entities {
		s.Entities[e.Type]++
	}
	for _, f := range w.Facts {
		s.Facts[f.Relation]++
	}
	for _, t := range w.Train {
		if t.Fact < 0 {
			s.TrainFiller[t.Language]++
		} else {
			s.TrainFacts[t.Language]++
			s.TrainByRel[t.Relation]++
		}
		n := len(strings.Fields(t.Text))
		s.TrainTokens += n
		s.MaxLen = max(s.MaxLen, n)
	}
	for _, e := range w.EvalFacts {
		s.EvalFacts[e.Language]++
	}
	for _, e := range w.EvalFluency {
		s.EvalFluency[e.Language]++
	}
	s.TrainLines = len(w.Train)
	s.VocabSize = len(specialTokens) + len(w.Vocabulary())
	s.TotalEntities = len(w.Entities)
	s.TotalFacts = len(w.Facts)
	return s
}

func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entities %d, facts %d, train sentences %d (%d tokens, longest %d words), vocab %d\n",
		s.TotalEntities, s.TotalFacts, s.TrainLines, s.TrainTokens, s.MaxLen, s.VocabSize)
	for _, k := range sortedKeys(s.TrainFacts) {
		fmt.Fprintf(&b, "language %-8s train facts %5d  filler %4d  eval facts %4d  eval fluency %3d\n",
			k, s.TrainFacts[k], s.TrainFiller[k], s.EvalFacts[k], s.EvalFluency[k])
	}
	for _, k := range sortedKeys(s.Facts) {
		fmt.Fprintf(&b, "relation %-20s facts %4d  train sentences %5d\n", k, s.Facts[k], s.TrainByRel[k])
	}
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TrainText returns the training sentences of one language (its filler and fact sentences),
// in train.txt order: train.txt split by language, the counting data of a language-neuron
// search. An unknown language gives none.
func (w *World) TrainText(language string) []string {
	var out []string
	for _, s := range w.Train {
		if s.Language == language {
			out = append(out, s.Text)
		}
	}
	return out
}

// TrainByLanguageFile is the name of language l's part of train.txt that WriteTrainByLanguage
// writes.
func TrainByLanguageFile(l string) string { return "train." + l + ".txt" }

// WriteTrainByLanguage writes train.txt split by language into dir: one file per language
// (TrainByLanguageFile), its training sentences one per line in train.txt order (TrainText).
// It returns the file names, in language order.
func (w *World) WriteTrainByLanguage(dir string) ([]string, error) {
	var names []string
	for _, l := range w.Languages {
		name := TrainByLanguageFile(l.ID)
		err := atomicfile.Write(filepath.Join(dir, name), func(b *bufio.Writer) error {
			for _, s := range w.TrainText(l.ID) {
				b.WriteString(s)
				b.WriteByte('\n')
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}
