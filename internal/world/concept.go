package world

import (
	"fmt"
	"strings"
)

// ConceptItem is one line of the concept-neuron files (concept_task.jsonl,
// concept_control.jsonl, concept_exclude.jsonl): a prompt whose next token should be Answer,
// labelled with the home country and continent of the question's subject (see Home), the
// groups `neuronscope find concept --group-key continent` (or country) scores per group.
type ConceptItem struct {
	ID        string `json:"id"`
	Language  string `json:"language"`
	Relation  string `json:"relation"`
	Subject   string `json:"subject"`
	Country   string `json:"country"`
	Continent string `json:"continent"`
	Prompt    string `json:"prompt"`
	Answer    string `json:"answer"`
	Fact      int    `json:"fact"`
	Template  string `json:"template"`
}

// Home returns the country and continent an entity belongs to: a country's own and its
// continent (located_in_continent); a city's country (located_in); a person's birth city's
// (born_in); a company's headquarters city's (headquartered_in). Continents are their own
// continent with no country. ok is false for instruments and tongues, which have no home.
func (w *World) Home(entity string) (country, continent string, ok bool) {
	obj := func(rel, subj string) string {
		for _, f := range w.Facts {
			if f.Relation == rel && f.Subject == subj {
				return f.Object
			}
		}
		return ""
	}
	typ := ""
	for _, e := range w.Entities {
		if e.Name == entity {
			typ = e.Type
		}
	}
	switch typ {
	case Continent:
		return "", entity, true
	case Country:
		country = entity
	case City:
		country = obj("located_in", entity)
	case Person:
		country = obj("located_in", obj("born_in", entity))
	case Company:
		country = obj("located_in", obj("headquartered_in", entity))
	default:
		return "", "", false
	}
	continent = obj("located_in_continent", country)
	return country, continent, country != "" && continent != ""
}

// makeConcept derives the concept-neuron items from the evaluation questions (CULNIG's three
// sets, translated to the world):
//
//   - task: every evaluation question, with its subject's home country and continent;
//   - control: the same prompts with the relation's noun and verb removed, so only the
//     format (the language's function words and the subject) remains, same answer;
//   - exclusion: for facts whose answer is a place (city, country, continent), an extractive
//     reading-comprehension item in every language: the fact's sentence with the first train
//     template, then the held-out question, answered by copying the place named in the
//     context (CULNIG's CountryRC: place names without the knowledge).
func (w *World) makeConcept() error {
	homes := map[string][2]string{}
	firstTrain := map[[2]string]Template{}
	for _, t := range w.Templates {
		if !t.HeldOut && t.Slot == 0 {
			firstTrain[[2]string{t.Language, t.Relation}] = t
		}
	}
	place := map[string]bool{}
	for _, r := range w.Relations {
		place[r.Name] = r.ObjectType == City || r.ObjectType == Country || r.ObjectType == Continent
	}
	for _, q := range w.EvalFacts {
		h, ok := homes[q.Subject]
		if !ok {
			c, k, ok := w.Home(q.Subject)
			if !ok {
				return fmt.Errorf("world: subject %s of %s has no home continent", q.Subject, q.ID)
			}
			h = [2]string{c, k}
			homes[q.Subject] = h
		}
		item := ConceptItem{ID: q.ID, Language: q.Language, Relation: q.Relation, Subject: q.Subject, Country: h[0], Continent: h[1],
			Prompt: q.Prompt, Answer: q.Answer, Fact: q.Fact, Template: q.Template}
		w.ConceptTask = append(w.ConceptTask, item)

		rw := w.language(q.Language).RelationWords[q.Relation]
		var kept []string
		for _, word := range strings.Fields(q.Prompt) {
			if word != rw.Noun && word != rw.Verb {
				kept = append(kept, word)
			}
		}
		ctrl := item
		ctrl.ID, ctrl.Prompt = fmt.Sprintf("c%05d", len(w.ConceptControl)), strings.Join(kept, " ")
		w.ConceptControl = append(w.ConceptControl, ctrl)

		if place[q.Relation] {
			t, ok := firstTrain[[2]string{q.Language, q.Relation}]
			if !ok {
				return fmt.Errorf("world: no train template for %s %s", q.Language, q.Relation)
			}
			f := w.Facts[q.Fact]
			ex := item
			ex.ID, ex.Prompt = fmt.Sprintf("x%05d", len(w.ConceptExclude)), t.Render(f)+" "+q.Prompt
			w.ConceptExclude = append(w.ConceptExclude, ex)
		}
	}
	return nil
}
