package world

import (
	"fmt"
	"strings"
)

// relationDefs are the relations, in output order.
var relationDefs = []Relation{
	{"capital_of", Country, City, "the capital city of a country"},
	{"located_in", City, Country, "the country a city is in (a capital is in its own country)"},
	{"located_in_continent", Country, Continent, "the continent a country is on"},
	{"born_in", Person, City, "the city a person was born in"},
	{"works_for", Person, Company, "the company a person works for (a CEO works for their company)"},
	{"plays_instrument", Person, Instrument, "the instrument a person plays"},
	{"speaks", Person, Tongue, "the language a person speaks"},
	{"mother_of", Person, Person, "the mother of a person (only the last `children` people have one)"},
	{"ceo_of", Company, Person, "the CEO of a company (each company has its own)"},
	{"headquartered_in", Company, City, "the city a company has its headquarters in"},
}

// Generate builds the world cfg describes (zero fields take their defaults). The same Config
// always gives the same world.
func Generate(cfg Config) (*World, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &World{Config: cfg, Relations: append([]Relation(nil), relationDefs...)}
	gen := &wordGen{used: map[string]bool{}}
	if err := w.makeEntities(gen); err != nil {
		return nil, err
	}
	if err := w.makeLanguages(gen); err != nil {
		return nil, err
	}
	w.makeFacts()
	w.makeTemplates()
	if err := w.makeText(); err != nil {
		return nil, err
	}
	if err := w.makeConcept(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *World) makeEntities(gen *wordGen) error {
	c := w.Config
	r := stream(c.Seed, "names")
	for _, tc := range []struct {
		typ string
		n   int
	}{{Person, c.People}, {City, c.Cities}, {Country, c.Countries}, {Continent, c.Continents},
		{Company, c.Companies}, {Instrument, c.Instruments}, {Tongue, c.Tongues}} {
		for i := 0; i < tc.n; i++ {
			name, err := gen.word(r, nameInventory, 2, 3, true)
			if err != nil {
				return err
			}
			w.Entities = append(w.Entities, Entity{Name: name, Type: tc.typ})
		}
	}
	return nil
}

func (w *World) makeLanguages(gen *wordGen) error {
	for i := 0; i < w.Config.Languages; i++ {
		r := stream(w.Config.Seed, fmt.Sprintf("lexicon/%d", i))
		inv := inventories[i%4]
		id := baseNames[i%4]
		if i >= 4 {
			id = fmt.Sprintf("%s%d", id, i/4+1)
		}
		l := Language{ID: id, Grammar: grammars[i%4], FunctionWords: map[string]string{}, RelationWords: map[string]RelationWords{}}
		var err error
		word := func(min, max int) string {
			if err != nil {
				return ""
			}
			var s string
			s, err = gen.word(r, inv, min, max, false)
			return s
		}
		for _, s := range l.Grammar.slots() {
			l.FunctionWords[s] = word(1, 1)
		}
		for _, rel := range w.Relations {
			l.RelationWords[rel.Name] = RelationWords{Noun: word(2, 3), Verb: word(2, 3)}
		}
		for range fillerNouns {
			l.FillerNouns = append(l.FillerNouns, word(2, 3))
		}
		for range fillerVerbs {
			l.FillerVerbs = append(l.FillerVerbs, word(2, 3))
		}
		for range fillerAdjs {
			l.FillerAdjs = append(l.FillerAdjs, word(2, 3))
		}
		if err != nil {
			return fmt.Errorf("%v (language %s)", err, id)
		}
		w.Languages = append(w.Languages, l)
	}
	return nil
}

// EntitiesOf returns the names of the entities of one type, in generation order.
func (w *World) EntitiesOf(typ string) []string {
	var out []string
	for _, e := range w.Entities {
		if e.Type == typ {
			out = append(out, e.Name)
		}
	}
	return out
}

// balanced maps each subject to an object so that objects are used as evenly as possible
// (their counts differ by at most one), in a random arrangement.
func balanced(r *rng, subjects, objects []string) map[string]string {
	pool := make([]string, len(subjects))
	for i := range pool {
		pool[i] = objects[i%len(objects)]
	}
	r.shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	m := make(map[string]string, len(subjects))
	for i, s := range subjects {
		m[s] = pool[i]
	}
	return m
}

func (w *World) makeFacts() {
	r := stream(w.Config.Seed, "facts")
	people, cities, countries := w.EntitiesOf(Person), w.EntitiesOf(City), w.EntitiesOf(Country)
	companies := w.EntitiesOf(Company)
	shuffled := func(xs []string) []string {
		ys := append([]string(nil), xs...)
		r.shuffle(len(ys), func(i, j int) { ys[i], ys[j] = ys[j], ys[i] })
		return ys
	}
	m := map[string]map[string]string{}

	caps := shuffled(cities)[:len(countries)]
	m["capital_of"] = map[string]string{}
	for i, c := range countries {
		m["capital_of"][c] = caps[i]
	}
	m["located_in"] = balanced(r, cities, countries)
	for c, capital := range m["capital_of"] {
		m["located_in"][capital] = c
	}
	m["located_in_continent"] = balanced(r, countries, w.EntitiesOf(Continent))
	m["born_in"] = balanced(r, people, cities)
	m["works_for"] = balanced(r, people, companies)
	ceos := shuffled(people)[:len(companies)]
	m["ceo_of"] = map[string]string{}
	for i, c := range companies {
		m["ceo_of"][c] = ceos[i]
		m["works_for"][ceos[i]] = c
	}
	m["plays_instrument"] = balanced(r, people, w.EntitiesOf(Instrument))
	m["speaks"] = balanced(r, people, w.EntitiesOf(Tongue))
	split := len(people) - w.Config.Children
	m["mother_of"] = balanced(r, people[split:], people[:split])
	m["headquartered_in"] = balanced(r, companies, cities)

	for _, rel := range w.Relations {
		subjects := w.EntitiesOf(rel.SubjectType)
		if rel.Name == "mother_of" {
			subjects = people[split:]
		}
		for _, s := range subjects {
			w.Facts = append(w.Facts, Fact{ID: len(w.Facts), Relation: rel.Name, Subject: s, Object: m[rel.Name][s]})
		}
	}
}

func (w *World) makeTemplates() {
	r := stream(w.Config.Seed, "templates")
	for _, l := range w.Languages {
		for _, rel := range w.Relations {
			n := w.Config.TrainTemplates + w.Config.HeldOutTemplates
			perm := []int{0, 1, 2, 3}
			// Draw splits until every relation word of a held-out template is also in a
			// train template (possible whenever TrainTemplates >= 2, as {N} and {V} each
			// occur in two patterns; otherwise the 64th draw is kept).
			for try := 0; try < 64; try++ {
				r.shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
				if l.Grammar.covers(perm[:w.Config.TrainTemplates], perm[w.Config.TrainTemplates:n]) {
					break
				}
			}
			for k, p := range perm[:n] {
				held := k >= w.Config.TrainTemplates
				slot := k
				if held {
					slot -= w.Config.TrainTemplates
				}
				w.Templates = append(w.Templates, Template{
					ID: fmt.Sprintf("%s.%s.%d", l.ID, rel.Name, p), Language: l.ID, Relation: rel.Name,
					Pattern: p, Text: l.fill(l.Grammar.Facts[p], rel.Name), HeldOut: held, Slot: slot,
				})
			}
		}
	}
}

// covers reports whether every relation-word slot ({N}, {V}) of the held patterns is used by
// one of the train patterns.
func (gr Grammar) covers(train, held []int) bool {
	has := map[string]bool{}
	for _, p := range train {
		for _, f := range strings.Fields(gr.Facts[p]) {
			has[f] = true
		}
	}
	for _, p := range held {
		for _, f := range strings.Fields(gr.Facts[p]) {
			if (f == "{N}" || f == "{V}") && !has[f] {
				return false
			}
		}
	}
	return true
}

// fill substitutes a relation's words and the function words into a fact pattern, leaving
// {S} and {O}.
func (l *Language) fill(pattern, rel string) string {
	f := strings.Fields(pattern)
	rw := l.RelationWords[rel]
	for i, s := range f {
		switch s {
		case "{S}", "{O}":
		case "{N}":
			f[i] = rw.Noun
		case "{V}":
			f[i] = rw.Verb
		default:
			f[i] = l.FunctionWords[strings.Trim(s, "{}")]
		}
	}
	return strings.Join(f, " ")
}

// Render writes a fact with a template.
func (t Template) Render(f Fact) string {
	return strings.NewReplacer("{S}", f.Subject, "{O}", f.Object).Replace(t.Text)
}

func (w *World) language(id string) *Language {
	for i := range w.Languages {
		if w.Languages[i].ID == id {
			return &w.Languages[i]
		}
	}
	return nil
}

func (w *World) makeText() error {
	c := w.Config
	langIndex := map[string]int{}
	for i, l := range w.Languages {
		langIndex[l.ID] = i
	}
	byRel := map[string][]Fact{}
	for _, f := range w.Facts {
		byRel[f.Relation] = append(byRel[f.Relation], f)
	}
	for _, t := range w.Templates {
		for _, f := range byRel[t.Relation] {
			text := t.Render(f)
			if t.HeldOut {
				words := strings.Fields(text)
				w.EvalFacts = append(w.EvalFacts, EvalFact{
					ID: fmt.Sprintf("q%05d", len(w.EvalFacts)), Language: t.Language, Relation: t.Relation,
					Subject: f.Subject, Object: f.Object, Prompt: strings.Join(words[:len(words)-1], " "),
					Answer: words[len(words)-1], Fact: f.ID, Template: t.ID,
				})
				continue
			}
			for range c.LanguageWeights[langIndex[t.Language]] * c.TemplateWeights[t.Slot] {
				w.Train = append(w.Train, Sentence{Text: text, Language: t.Language, Relation: t.Relation, Fact: f.ID, Template: t.ID})
			}
		}
	}
	for i := range w.Languages {
		l := &w.Languages[i]
		sents, err := l.filler(stream(c.Seed, "filler/"+l.ID), c.Filler+c.EvalFiller)
		if err != nil {
			return err
		}
		for _, s := range sents[:c.Filler] {
			w.Train = append(w.Train, Sentence{Text: s, Language: l.ID, Fact: -1})
		}
		for k, s := range sents[c.Filler:] {
			w.EvalFluency = append(w.EvalFluency, Fluency{ID: fmt.Sprintf("%s-fluency-%03d", l.ID, k), Language: l.ID, Text: s})
		}
	}
	r := stream(c.Seed, "shuffle")
	r.shuffle(len(w.Train), func(i, j int) { w.Train[i], w.Train[j] = w.Train[j], w.Train[i] })
	return nil
}

// filler draws n distinct relation-free sentences: the language's filler patterns with
// random filler words. They contain no entity name and no relation word.
func (l *Language) filler(r *rng, n int) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for attempt := 0; len(out) < n; attempt++ {
		if attempt > 100*n+1000 {
			return nil, fmt.Errorf("world: could not draw %d distinct filler sentences for %s", n, l.ID)
		}
		f := strings.Fields(pick(r, l.Grammar.Filler))
		for i, s := range f {
			switch s {
			case "{noun}":
				f[i] = pick(r, l.FillerNouns)
			case "{verb}":
				f[i] = pick(r, l.FillerVerbs)
			case "{adj}":
				f[i] = pick(r, l.FillerAdjs)
			default:
				f[i] = l.FunctionWords[strings.Trim(s, "{}")]
			}
		}
		s := strings.Join(f, " ")
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}
