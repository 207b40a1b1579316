package world

// World is a generated world: its entities, relations and facts (the ground truth), its
// languages and templates, and the training and evaluation text rendered from them.
type World struct {
	Config    Config     `json:"config"`
	Languages []Language `json:"languages"`
	Entities  []Entity   `json:"entities"`
	Relations []Relation `json:"relations"`
	Facts     []Fact     `json:"facts"`
	Templates []Template `json:"templates"`

	Train       []Sentence `json:"-"` // in train.txt order
	EvalFacts   []EvalFact `json:"-"`
	EvalFluency []Fluency  `json:"-"`

	// The concept-neuron sets (see ConceptItem): every evaluation question with its subject's
	// home country and continent, the same prompts without relation words, and extractive
	// place-name items.
	ConceptTask, ConceptControl, ConceptExclude []ConceptItem `json:"-"`
}

// Language is one constructed language: its grammar and its words.
type Language struct {
	ID      string  `json:"id"`
	Grammar Grammar `json:"grammar"`
	// FunctionWords maps a function-word slot of the grammar (det, of, cop, top, ...) to its word.
	FunctionWords map[string]string `json:"function_words"`
	// RelationWords maps a relation name to the words its templates use in this language.
	RelationWords map[string]RelationWords `json:"relation_words"`
	FillerNouns   []string                 `json:"filler_nouns"`
	FillerVerbs   []string                 `json:"filler_verbs"`
	FillerAdjs    []string                 `json:"filler_adjectives"`
}

// RelationWords are the words that name a relation in one language ({N} and {V} slots).
type RelationWords struct {
	Noun string `json:"noun"`
	Verb string `json:"verb"`
}

// Entity is a named thing; Name is one token, the same in every language.
type Entity struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Entity types.
const (
	Person     = "person"
	City       = "city"
	Country    = "country"
	Continent  = "continent"
	Company    = "company"
	Instrument = "instrument"
	Tongue     = "tongue"
)

// Relation is a function from subjects of one type to objects of another: every subject has
// exactly one object, so a fact question has one right answer. A template reads it as
// "the <relation> of <subject> is <object>".
type Relation struct {
	Name        string `json:"name"`
	SubjectType string `json:"subject_type"`
	ObjectType  string `json:"object_type"`
	Description string `json:"description"`
}

// Fact is relation(subject) = object; subject and object are entity names.
type Fact struct {
	ID       int    `json:"id"`
	Relation string `json:"relation"`
	Subject  string `json:"subject"`
	Object   string `json:"object"`
}

// Template renders the facts of one relation in one language. Text has {S} and {O} where
// the subject and object names go, and {O} is always last.
type Template struct {
	ID       string `json:"id"` // language.relation.pattern
	Language string `json:"language"`
	Relation string `json:"relation"`
	Pattern  int    `json:"pattern"` // index into the language's Grammar.Facts
	Text     string `json:"text"`
	HeldOut  bool   `json:"held_out"`
	// Slot is the template's rank among its (language, relation)'s train templates (the index
	// into Config.TemplateWeights) or among its held-out templates.
	Slot int `json:"slot"`
}

// Sentence is one line of train.txt with where it came from. Filler sentences have Fact -1
// and empty Relation and Template.
type Sentence struct {
	Text     string
	Language string
	Relation string
	Fact     int
	Template string
}

// EvalFact is one line of eval_facts.jsonl: a fact asked with a held-out template. Prompt is
// the sentence without its last word, Answer (= Object) that word.
type EvalFact struct {
	ID       string `json:"id"`
	Language string `json:"language"`
	Relation string `json:"relation"`
	Subject  string `json:"subject"`
	Object   string `json:"object"`
	Prompt   string `json:"prompt"`
	Answer   string `json:"answer"`
	Fact     int    `json:"fact"`
	Template string `json:"template"`
}

// Fluency is one line of eval_fluency.jsonl: a held-out filler sentence (never in train.txt).
type Fluency struct {
	ID       string `json:"id"`
	Language string `json:"language"`
	Text     string `json:"text"`
}
