package world

import (
	"fmt"
	"strings"
)

// inventory is the phonotactics words of one language are built from: syllables are
// onset+vowel+coda, a word is a run of syllables.
type inventory struct {
	onsets, vowels, codas []string
}

// inventories are four deliberately different sound systems, so each language's words look
// alike among themselves and unlike the others' (all ASCII lowercase).
var inventories = [4]inventory{
	{onsets: strings.Fields("p b t d m n l s f"), vowels: strings.Fields("a e i o"), codas: []string{""}},
	{onsets: strings.Fields("k g r h kr gr"), vowels: strings.Fields("a o u"), codas: []string{"", "k", "r", "n", "t"}},
	{onsets: strings.Fields("sh ch zh v y z"), vowels: strings.Fields("i u ei ai"), codas: []string{"", ""}},
	{onsets: strings.Fields("tl x q w ts"), vowels: strings.Fields("a e o"), codas: []string{"", "x", "l"}},
}

// nameInventory builds entity names, shared by all languages; names are capitalised.
var nameInventory = inventory{
	onsets: strings.Fields("b d f g h j k l m n p r s t v z"),
	vowels: strings.Fields("a e i o u y"),
	codas:  []string{"", "", "n", "r", "l", "s"},
}

// Grammar is one language's syntax: the fact templates (patterns) and filler patterns.
//
// Slots in patterns: {S} subject and {O} object entity names; {N}, {V} the relation's noun
// and verb in this language (each used by two of the four fact patterns); {noun}, {verb}, {adj} filler content words;
// any other {x} is the language's function word x.
type Grammar struct {
	Name       string   `json:"name"`
	WordOrder  string   `json:"word_order"`
	Adposition string   `json:"adpositions"`
	Facts      []string `json:"fact_patterns"`
	Filler     []string `json:"filler_patterns"`
}

const patternsPerGrammar = 4

// grammars: every fact pattern ends with {O} so the object is the last token (a cloze); the
// languages differ in where the verb / relation word, the subject and the function words go.
// Every function word of a grammar also occurs in its filler patterns, and {N} and {V} each
// occur in two fact patterns, so holding one pattern out never hides a word from training.
// The two patterns of a relation word differ by one inserted word and end in the same
// context, and no pattern's prompt (the words before {O}) is a prefix of another pattern's:
// otherwise a held-out prompt could be a training context whose right continuation is a
// function word, and the question would have no right answer.
var grammars = [4]Grammar{
	{Name: "svo-prepositional", WordOrder: "SVO", Adposition: "prepositions",
		Facts: []string{
			"{det} {N} {of} {S} {cop} {O}",
			"{S} {V} {O}",
			"{adv} {S} {V} {O}",
			"{prt} {det} {N} {of} {S} {cop} {O}",
		},
		Filler: []string{
			"{det} {noun} {verb} {det} {noun}",
			"{det} {adj} {noun} {verb} {of} {det} {noun}",
			"{prt} {det} {noun} {cop} {adj}",
			"{adv} {det} {noun} {verb} {det} {adj} {noun}",
		}},
	{Name: "sov-postpositional", WordOrder: "SOV", Adposition: "postpositions",
		Facts: []string{
			"{S} {gen} {N} {top} {O}",
			"{S} {top} {V} {rel} {O}",
			"{adv} {S} {gen} {N} {top} {O}",
			"{S} {top} {prt} {V} {rel} {O}",
		},
		Filler: []string{
			"{noun} {top} {noun} {acc} {verb}",
			"{noun} {gen} {adj} {noun} {top} {noun} {acc} {verb}",
			"{noun} {top} {adj} {prt} {cop}",
			"{adv} {noun} {top} {verb} {rel} {noun} {acc} {verb}",
		}},
	{Name: "vso-prepositional", WordOrder: "VSO", Adposition: "prepositions",
		Facts: []string{
			"{V} {S} {O}",
			"{cop} {N} {of} {S} {O}",
			"{adv} {V} {S} {O}",
			"{adv} {cop} {N} {of} {S} {O}",
		},
		Filler: []string{
			"{verb} {det} {noun} {det} {noun}",
			"{verb} {det} {noun} {of} {det} {noun} {adj}",
			"{cop} {adj} {det} {noun}",
			"{verb} {adv} {det} {noun} {det} {noun} {adj}",
		}},
	{Name: "ovs-postpositional", WordOrder: "OVS", Adposition: "postpositions",
		Facts: []string{
			"{N} {S} {gen} {cop} {O}",
			"{V} {S} {agt} {O}",
			"{adv} {N} {S} {gen} {cop} {O}",
			"{prt} {V} {S} {agt} {O}",
		},
		Filler: []string{
			"{noun} {acc} {verb} {noun} {agt}",
			"{adj} {noun} {acc} {verb} {noun} {gen} {noun} {agt}",
			"{noun} {adj} {prt} {cop}",
			"{noun} {acc} {adv} {verb} {adj} {noun} {agt}",
		}},
}

// baseNames name the four Grammar/inventory families; language i is baseNames[i%4], with a
// numeric suffix from the second round on ("pelan2").
var baseNames = [4]string{"pelan", "korrak", "shivu", "tlaxo"}

// Lexicon sizes per language.
const (
	fillerNouns = 24
	fillerVerbs = 12
	fillerAdjs  = 12
)

// wordGen draws unique words: no word (compared in lower case) is ever returned twice, across
// all languages and entity names, so every word belongs to exactly one language or entity.
type wordGen struct {
	used map[string]bool
}

func (g *wordGen) word(r *rng, inv inventory, minSyl, maxSyl int, capitalise bool) (string, error) {
	for attempt := 0; attempt < 10000; attempt++ {
		n := minSyl + r.intn(maxSyl-minSyl+1)
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(pick(r, inv.onsets))
			b.WriteString(pick(r, inv.vowels))
			if i == n-1 || r.intn(2) == 0 { // codas mostly at the end of the word
				b.WriteString(pick(r, inv.codas))
			}
		}
		w := b.String()
		if g.used[w] {
			continue
		}
		g.used[w] = true
		if capitalise {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		return w, nil
	}
	return "", fmt.Errorf("world: could not draw a new word from the syllable inventory %v", inv.onsets)
}

// slots lists the distinct function-word slots of a Grammar's patterns, in first-use order.
func (gr Grammar) slots() []string {
	content := map[string]bool{"S": true, "O": true, "N": true, "V": true, "noun": true, "verb": true, "adj": true}
	var out []string
	seen := map[string]bool{}
	for _, p := range append(append([]string(nil), gr.Facts...), gr.Filler...) {
		for _, f := range strings.Fields(p) {
			s := strings.Trim(f, "{}")
			if !content[s] && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
