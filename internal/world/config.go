package world

import "fmt"

// Config says what world to generate. The zero value of a field means its default (see
// DefaultConfig), except Seed, where 0 is a seed like any other.
type Config struct {
	Seed uint64 `json:"seed"`
	// Languages is how many constructed languages to generate, 4..8. Language i uses grammar
	// i mod 4 and syllable inventory i mod 4, with its own words.
	Languages int `json:"languages"`

	// Entities per type.
	People      int `json:"people"`
	Cities      int `json:"cities"`
	Countries   int `json:"countries"`
	Continents  int `json:"continents"`
	Companies   int `json:"companies"`
	Instruments int `json:"instruments"`
	Tongues     int `json:"tongues"` // language names, the objects of "speaks"
	// Children is how many people (the last ones) have a mother_of fact; their mothers are
	// drawn from the other People-Children people.
	Children int `json:"children"`

	// TrainTemplates and HeldOutTemplates split each (language, relation)'s templates: every
	// fact is written in training with each train template and asked in evaluation with each
	// held-out one. TrainTemplates+HeldOutTemplates <= 4 (each grammar has 4 fact templates).
	TrainTemplates   int `json:"train_templates"`
	HeldOutTemplates int `json:"held_out_templates"`

	// Filler is the number of relation-free training sentences per language; EvalFiller the
	// number of further, distinct ones per language in eval_fluency.jsonl.
	Filler     int `json:"filler"`
	EvalFiller int `json:"eval_filler"`

	// Proportions. A fact sentence of language l with the k-th train template of its
	// (language, relation) appears LanguageWeights[l] * TemplateWeights[k] times in train.txt;
	// filler sentences appear once. Empty means all 1; otherwise the lengths must be
	// Languages and TrainTemplates, and every weight >= 1.
	LanguageWeights []int `json:"language_weights"`
	TemplateWeights []int `json:"template_weights"`
}

// DefaultConfig is sized for a small model (4 layers, d_model 128, d_mlp 512, context 32–48)
// to memorise in minutes of CPU training: 203 entities, 570 facts over 10 relations
// (100 per person relation), 4 languages × 2 train templates → 4,560 fact sentences plus
// 1,200 filler sentences (5,760 lines, 29,608 words, 3–8 words each), a 501-token vocabulary;
// 2,280 held-out-template questions and 200 fluency sentences.
func DefaultConfig() Config {
	return Config{
		Seed:             1,
		Languages:        4,
		People:           100,
		Cities:           40,
		Countries:        16,
		Continents:       5,
		Companies:        24,
		Instruments:      10,
		Tongues:          8,
		Children:         50,
		TrainTemplates:   2,
		HeldOutTemplates: 1,
		Filler:           300,
		EvalFiller:       50,
	}
}

// withDefaults fills the zero fields from DefaultConfig and expands the weights.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.Languages, d.Languages)
	set(&c.People, d.People)
	set(&c.Cities, d.Cities)
	set(&c.Countries, d.Countries)
	set(&c.Continents, d.Continents)
	set(&c.Companies, d.Companies)
	set(&c.Instruments, d.Instruments)
	set(&c.Tongues, d.Tongues)
	set(&c.Children, d.Children)
	set(&c.TrainTemplates, d.TrainTemplates)
	set(&c.HeldOutTemplates, d.HeldOutTemplates)
	set(&c.Filler, d.Filler)
	set(&c.EvalFiller, d.EvalFiller)
	if len(c.LanguageWeights) == 0 {
		c.LanguageWeights = ones(c.Languages)
	}
	if len(c.TemplateWeights) == 0 {
		c.TemplateWeights = ones(c.TrainTemplates)
	}
	return c
}

func ones(n int) []int {
	w := make([]int, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

func (c Config) validate() error {
	if c.Languages < 4 || c.Languages > 8 {
		return fmt.Errorf("world: languages = %d, want 4..8", c.Languages)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"people", c.People}, {"cities", c.Cities}, {"countries", c.Countries}, {"continents", c.Continents},
		{"companies", c.Companies}, {"instruments", c.Instruments}, {"tongues", c.Tongues}, {"children", c.Children},
		{"train_templates", c.TrainTemplates}, {"held_out_templates", c.HeldOutTemplates},
		{"filler", c.Filler}, {"eval_filler", c.EvalFiller}} {
		if f.v < 1 {
			return fmt.Errorf("world: %s = %d, want >= 1", f.name, f.v)
		}
	}
	switch {
	case c.TrainTemplates+c.HeldOutTemplates > patternsPerGrammar:
		return fmt.Errorf("world: train_templates + held_out_templates = %d, want <= %d", c.TrainTemplates+c.HeldOutTemplates, patternsPerGrammar)
	case c.Cities < c.Countries:
		return fmt.Errorf("world: cities (%d) < countries (%d): every country needs its own capital", c.Cities, c.Countries)
	case c.People < c.Companies:
		return fmt.Errorf("world: people (%d) < companies (%d): every company needs its own CEO", c.People, c.Companies)
	case c.Children >= c.People:
		return fmt.Errorf("world: children (%d) must be < people (%d)", c.Children, c.People)
	case len(c.LanguageWeights) != c.Languages:
		return fmt.Errorf("world: %d language_weights for %d languages", len(c.LanguageWeights), c.Languages)
	case len(c.TemplateWeights) != c.TrainTemplates:
		return fmt.Errorf("world: %d template_weights for %d train templates", len(c.TemplateWeights), c.TrainTemplates)
	case c.People+c.Cities+c.Countries+c.Continents+c.Companies+c.Instruments+c.Tongues > 5000:
		return fmt.Errorf("world: more than 5000 entities")
	case c.Filler+c.EvalFiller > 20000:
		return fmt.Errorf("world: filler + eval_filler = %d, want <= 20000", c.Filler+c.EvalFiller)
	}
	for _, w := range append(append([]int(nil), c.LanguageWeights...), c.TemplateWeights...) {
		if w < 1 || w > 100 {
			return fmt.Errorf("world: weight %d, want 1..100", w)
		}
	}
	return nil
}
