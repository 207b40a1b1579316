// Package world generates a synthetic multilingual world of facts with planted ground truth,
// for training a small model and checking that interpretability methods recover what was
// planted. Everything is a deterministic function of a Config (seed included).
//
//	w, err := world.Generate(world.DefaultConfig())
//	err = w.Write("out/")          // train.txt, eval_facts.jsonl, eval_fluency.jsonl, ground_truth.json, world.json, concept_*.jsonl
//	tok, err := w.Tokenizer()      // a Hugging Face WordLevel tokenizer.json
//
// The CLI is `neuronscope world --out DIR [--seed 1] [--languages 4] [--json]`.
//
// # Entities and relations
//
// Entities are people, cities, countries, continents, companies, instruments and tongues
// (language names). Each has a unique capitalised name of 2–3 syllables, the same in every
// language (as names are in real multilingual text), and every name is a single token.
//
// There are 10 relations, each a function (every subject has exactly one object, so a
// question has one right answer token): capital_of (country→city), located_in (city→country),
// located_in_continent (country→continent), born_in (person→city), works_for
// (person→company), plays_instrument (person→instrument), speaks (person→tongue), mother_of
// (person→person, for the last Config.Children people; mothers come from the others, and a
// mother never has a mother_of fact), ceo_of (company→person, a different person per
// company) and headquartered_in (company→city). They are read "the <relation> of <subject>
// is <object>". Objects are spread evenly (object counts differ by at most one), except where
// facts must agree: a capital is located in its own country and a CEO works for their company.
//
// # Languages
//
// Four grammar families, each with its own syllable inventory (so its words look unlike the
// others'), its own function words and, per relation, its own noun and verb:
//
//	pelan   SVO, prepositions   CV syllables (p b t d m n l s f + a e i o)   "det N of S cop O", "S V O"
//	korrak  SOV, postpositions  CVC syllables (k g r h kr gr + a o u)        "S gen N top O", "S top V rel O"
//	shivu   VSO, prepositions   (sh ch zh v y z + i u ei ai)                 "V S O", "cop N of S O"
//	tlaxo   OVS, postpositions  (tl x q w ts + a e o, codas x l)             "N S gen cop O", "V S agt O"
//
// The word order shows fully in the filler sentences (korrak is verb-final, tlaxo puts the
// object first and marks the agent with a postposition). Fact templates always end with the
// object — a cloze — so the greedy next-token prediction at the position before the last
// measures knowledge of the fact; they differ across languages in where the relation word,
// the subject and the adpositions / particles go. Languages 5–8 (Config.Languages up to 8)
// reuse the families with new words ("pelan2", ...).
//
// Every function word of a language also occurs in its filler patterns, and a relation's noun
// and verb each occur in two of the four fact patterns. The train/held-out split of a
// (language, relation) is redrawn (up to 64 times) until every relation word of its held-out
// templates is used by one of its train templates, which some draw satisfies whenever
// TrainTemplates >= 2; so evaluation never asks with a relation word the training text lacks.
// Function and filler words reach train.txt through the filler sentences (at the defaults
// every evaluation word occurs in train.txt; the tests check seeds 1–3).
//
// No word is used twice: every word (compared in lower case) belongs to exactly one
// language or is exactly one entity's name, so a sentence's words identify its language.
//
// # Templates and splits
//
// Each grammar has 4 fact patterns. For every (language, relation) the patterns are shuffled
// (seeded); the first TrainTemplates are train templates, the next HeldOutTemplates are
// held out. Every fact is written in train.txt with every train template of every language,
// LanguageWeights[l] × TemplateWeights[k] times, and asked in eval_facts.jsonl with every
// held-out template and with no other; no held-out template ever appears in train.txt.
//
// # Filler
//
// Per language, Config.Filler + Config.EvalFiller distinct sentences are drawn from the
// grammar's filler patterns with the language's filler nouns, verbs and adjectives; the first
// Filler go to train.txt and the rest to eval_fluency.jsonl (so fluency text is never in the
// training data). The guarantee: a filler sentence contains only its own language's function
// words and filler content words — no entity name of any type (hence no relation object or
// subject) and no relation word. The only words fact and filler sentences share are a
// language's function words, so language is separable from relation.
//
// # Files
//
//   - train.txt: one sentence per line, words separated by single spaces, shuffled (seeded).
//   - eval_facts.jsonl: {"id","language","relation","subject","object","prompt","answer",
//     "fact","template"}; prompt is the sentence without its last word, answer = object.
//   - eval_fluency.jsonl: {"id","language","text"}.
//   - ground_truth.json: schema "neuronscope.world/v1": seed, languages (grammar, function,
//     relation and filler words), entities, relations, facts, templates (with held_out and
//     slot), and eval: for every evaluation id its kind (fact/fluency), language, relation,
//     fact and template.
//   - world.json: the Config used, defaults filled in.
//   - concept_task.jsonl, concept_control.jsonl, concept_exclude.jsonl: the three item sets of
//     a CULNIG concept-neuron search (`neuronscope find concept`), one ConceptItem per line
//     ({"id","language","relation","subject","country","continent","prompt","answer","fact",
//     "template"}). country and continent are the home of the question's subject (Home: a
//     country's own; a city's country; a person's birth city's; a company's headquarters
//     city's), the groups of the search (--group-key continent or country). The task set is
//     every evaluation question (same ids); the control set the same prompts with the
//     relation's noun and verb removed, so only the format (function words and subject) is left,
//     with the same answers (CULNIG's control keeps only the options and instructions); the
//     exclusion set, for facts whose answer is a place, the fact's first-train-template sentence
//     followed by the question in the same language, answered by copying the place named in the
//     context (CULNIG's extractive CountryRC). They are derived from the other files and
//     added after them: the earlier files are unchanged by their addition.
//
// Files are written atomically (internal/atomicfile); their bytes depend only on the Config.
//
// # Tokenizer
//
// Tokenizer returns a tokenizer.json: model WordLevel with <pad> <unk> <bos> <eos> at ids 0–3
// (also added_tokens, special) and the sorted Vocabulary() after them, pre_tokenizer
// WhitespaceSplit, a TemplateProcessing post-processor that prepends <bos>, and a WordPiece
// decoder with prefix "##" and cleanup false, which joins tokens with single spaces (no word
// starts with "##"; HF also joins with spaces when there is no decoder). Every sentence of the
// world encodes to <bos> plus exactly its words and decodes back.
//
// # Randomness
//
// splitmix64 streams, one per purpose (names, lexicon/i, facts, templates, filler/lang,
// shuffle) derived from the seed, so results do not depend on math/rand's algorithms.
package world
