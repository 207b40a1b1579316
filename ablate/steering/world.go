package steering

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// WorldOptions size the Task that FromWorld builds from a synthetic world's ground truth.
type WorldOptions struct {
	// FitFacts is the number of facts per (language, relation) written with each of the
	// pair's train templates into the fit text; FitFiller the filler sentences per language
	// drawn into it (defaults 6 and 40).
	FitFacts, FitFiller int
	// DetectFacts is the number of further facts per (language, relation) written with the
	// pair's held-out templates into the detection texts; DetectFiller the further filler
	// sentences per language (defaults 6 and 20).
	DetectFacts, DetectFiller int
	// Prompts is the number of generation prompts, each <bos> and one entity name (names
	// are the same in every language, so the prompts name no language and no relation);
	// default 8.
	Prompts int
	// Seed draws the facts, the filler sentences and the prompt names (default 0 is a seed
	// like any other).
	Seed uint64
}

func (o *WorldOptions) defaults() {
	if o.FitFacts <= 0 {
		o.FitFacts = 6
	}
	if o.FitFiller <= 0 {
		o.FitFiller = 40
	}
	if o.DetectFacts <= 0 {
		o.DetectFacts = 6
	}
	if o.DetectFiller <= 0 {
		o.DetectFiller = 20
	}
	if o.Prompts <= 0 {
		o.Prompts = 8
	}
}

// groundTruth is the part of ground_truth.json (schema neuronscope.world/v1) FromWorld reads.
type groundTruth struct {
	Schema    string `json:"schema_version"`
	Languages []struct {
		ID      string `json:"id"`
		Grammar struct {
			Filler []string `json:"filler_patterns"`
		} `json:"grammar"`
		FunctionWords map[string]string `json:"function_words"`
		RelationWords map[string]struct {
			Noun string `json:"noun"`
			Verb string `json:"verb"`
		} `json:"relation_words"`
		FillerNouns []string `json:"filler_nouns"`
		FillerVerbs []string `json:"filler_verbs"`
		FillerAdjs  []string `json:"filler_adjectives"`
	} `json:"languages"`
	Entities []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"entities"`
	Relations []struct {
		Name string `json:"name"`
	} `json:"relations"`
	Facts []struct {
		Relation string `json:"relation"`
		Subject  string `json:"subject"`
		Object   string `json:"object"`
	} `json:"facts"`
	Templates []struct {
		Language string `json:"language"`
		Relation string `json:"relation"`
		Text     string `json:"text"`
		HeldOut  bool   `json:"held_out"`
	} `json:"templates"`
}

// WorldSchema is the schema_version of the ground_truth.json FromWorld reads.
const WorldSchema = "neuronscope.world/v1"

// FromWorld builds the comparison's Task from a synthetic world's ground_truth.json (schema
// neuronscope.world/v1; name is used in errors) and a word → token id lookup (the world's
// tokenizer is word-level: one token per word). Every text starts with bos.
//
// The concepts are the world's languages ("language/<id>") and relations
// ("relation/<name>"):
//
//   - fit text (Task.Fit): for every (language, relation), FitFacts facts written with each
//     of its train templates, and FitFiller filler sentences per language drawn from the
//     language's filler patterns and words — mixed-language, mixed-relation text;
//   - detection texts (Task.Texts): for every (language, relation) DetectFacts further facts
//     written with its held-out templates (never in the fit text, never in training), and
//     DetectFiller further filler sentences per language;
//   - language ℓ: positive texts are those in ℓ, neutral texts those in the other languages;
//     its lexicon is every word of ℓ (function, relation and filler words);
//   - relation r: positive texts are r's fact sentences (every language), neutral texts the
//     other relations' fact sentences and the filler; its lexicon is r's noun and verb in
//     every language. Answers (entity names) are not in it: they are shared by every
//     language, and cities, for one, answer three relations;
//   - prompts: <bos> followed by one entity name, Prompts of them spread over the entity
//     types.
func FromWorld(data []byte, name string, tokenID func(word string) (int, bool), bos int, opt WorldOptions) (*Task, error) {
	opt.defaults()
	var gt groundTruth
	if err := json.Unmarshal(data, &gt); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if gt.Schema != WorldSchema {
		return nil, fmt.Errorf("%s: schema_version %q, want %q", name, gt.Schema, WorldSchema)
	}
	if len(gt.Languages) == 0 || len(gt.Relations) == 0 || len(gt.Facts) == 0 || len(gt.Templates) == 0 {
		return nil, fmt.Errorf("%s: the world has no languages, relations, facts or templates", name)
	}
	encode := func(text string) ([]int, error) {
		ids := []int{bos}
		for _, w := range strings.Fields(text) {
			id, ok := tokenID(w)
			if !ok {
				return nil, fmt.Errorf("%s: word %q is not in the tokenizer's vocabulary", name, w)
			}
			ids = append(ids, id)
		}
		return ids, nil
	}
	ids := func(words []string) ([]int, error) {
		var out []int
		for _, w := range words {
			id, ok := tokenID(w)
			if !ok {
				return nil, fmt.Errorf("%s: word %q is not in the tokenizer's vocabulary", name, w)
			}
			out = append(out, id)
		}
		sort.Ints(out)
		return out, nil
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x776f726c64))
	t := &Task{BOS: bos, Source: name}
	factsOf := map[string][]int{}
	for i, f := range gt.Facts {
		factsOf[f.Relation] = append(factsOf[f.Relation], i)
	}
	type text struct {
		lang, rel string // rel "" for filler
	}
	var meta []text
	add := func(s string, m text) error {
		e, err := encode(s)
		if err != nil {
			return err
		}
		t.Texts = append(t.Texts, e)
		meta = append(meta, m)
		return nil
	}
	for _, l := range gt.Languages {
		for _, r := range gt.Relations {
			facts := append([]int(nil), factsOf[r.Name]...)
			rng.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
			nf := min(opt.FitFacts, len(facts)/2)
			fit, det := facts[:nf], facts[nf:][:min(opt.DetectFacts, len(facts)-nf)]
			for _, tp := range gt.Templates {
				if tp.Language != l.ID || tp.Relation != r.Name {
					continue
				}
				for _, fi := range map[bool][]int{false: fit, true: det}[tp.HeldOut] {
					f := gt.Facts[fi]
					s := strings.NewReplacer("{S}", f.Subject, "{O}", f.Object).Replace(tp.Text)
					if tp.HeldOut {
						if err := add(s, text{l.ID, r.Name}); err != nil {
							return nil, err
						}
					} else {
						e, err := encode(s)
						if err != nil {
							return nil, err
						}
						t.Fit = append(t.Fit, e)
					}
				}
			}
		}
		if len(l.Grammar.Filler) == 0 || len(l.FillerNouns) == 0 || len(l.FillerVerbs) == 0 || len(l.FillerAdjs) == 0 {
			return nil, fmt.Errorf("%s: language %s has no filler patterns or words", name, l.ID)
		}
		seen := map[string]bool{}
		for k := 0; k < opt.FitFiller+opt.DetectFiller; k++ {
			var s string
			for attempt := 0; attempt < 100; attempt++ {
				f := strings.Fields(l.Grammar.Filler[rng.IntN(len(l.Grammar.Filler))])
				for i, w := range f {
					switch w {
					case "{noun}":
						f[i] = l.FillerNouns[rng.IntN(len(l.FillerNouns))]
					case "{verb}":
						f[i] = l.FillerVerbs[rng.IntN(len(l.FillerVerbs))]
					case "{adj}":
						f[i] = l.FillerAdjs[rng.IntN(len(l.FillerAdjs))]
					default:
						f[i] = l.FunctionWords[strings.Trim(w, "{}")]
					}
				}
				if s = strings.Join(f, " "); !seen[s] {
					break
				}
			}
			seen[s] = true
			if k < opt.FitFiller {
				e, err := encode(s)
				if err != nil {
					return nil, err
				}
				t.Fit = append(t.Fit, e)
			} else if err := add(s, text{l.ID, ""}); err != nil {
				return nil, err
			}
		}
	}
	// concept splits the detection texts by whether they express the concept.
	concept := func(name, kind string, lex []int, expresses func(text) bool) Concept {
		c := Concept{Name: name, Kind: kind, Lexicon: lex}
		for i, m := range meta {
			if expresses(m) {
				c.Positive = append(c.Positive, i)
			} else {
				c.Neutral = append(c.Neutral, i)
			}
		}
		return c
	}
	// The fit text mixes languages and relations: shuffle it.
	rng.Shuffle(len(t.Fit), func(i, j int) { t.Fit[i], t.Fit[j] = t.Fit[j], t.Fit[i] })
	for _, l := range gt.Languages {
		var words []string
		for _, w := range l.FunctionWords {
			words = append(words, w)
		}
		for _, rw := range l.RelationWords {
			words = append(words, rw.Noun, rw.Verb)
		}
		words = append(append(append(words, l.FillerNouns...), l.FillerVerbs...), l.FillerAdjs...)
		lex, err := ids(words)
		if err != nil {
			return nil, err
		}
		t.Concepts = append(t.Concepts, concept("language/"+l.ID, KindLanguage, lex, func(m text) bool { return m.lang == l.ID }))
	}
	for _, r := range gt.Relations {
		var words []string
		for _, l := range gt.Languages {
			rw, ok := l.RelationWords[r.Name]
			if !ok {
				return nil, fmt.Errorf("%s: language %s has no words for relation %s", name, l.ID, r.Name)
			}
			words = append(words, rw.Noun, rw.Verb)
		}
		lex, err := ids(words)
		if err != nil {
			return nil, err
		}
		t.Concepts = append(t.Concepts, concept("relation/"+r.Name, KindRelation, lex, func(m text) bool { return m.rel == r.Name }))
	}
	// Prompts: <bos> and an entity name, round-robin over the entity types.
	byType := map[string][]string{}
	var types []string
	for _, e := range gt.Entities {
		if byType[e.Type] == nil {
			types = append(types, e.Type)
		}
		byType[e.Type] = append(byType[e.Type], e.Name)
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("%s: the world has no entities", name)
	}
	for k := 0; len(t.Prompts) < opt.Prompts; k++ {
		names := byType[types[k%len(types)]]
		p, err := encode(names[rng.IntN(len(names))])
		if err != nil {
			return nil, err
		}
		t.Prompts = append(t.Prompts, p)
	}
	return t, t.Validate()
}
