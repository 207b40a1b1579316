package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/neuronscope/neuronscope/internal/jsonerr"
	"github.com/neuronscope/neuronscope/model/report"
)

// NeuronSetSchema is the schema_version of neuron-set files.
const NeuronSetSchema = "neuronscope.neurons/v1"

// NeuronSet is what every finder writes and every experiment reads: named groups of scored
// neurons (a relation, a language, "general", a path), each ranked as its finder ranked it,
// with the method, its settings and the provenance of the run.
//
// Its JSON form (schema neuronscope.neurons/v1) is
//
//	{"schema_version": "neuronscope.neurons/v1",
//	 "method": "...", "tap": "mlp.hook_post",
//	 "groups": {"capital_of": [{"layer": 2, "index": 17, "score": 0.83}, ...], ...},
//	 "settings": {...}, "provenance": {...}}
//
// Groups keep their order in the file. An entry whose tap differs from the set's carries its
// own ("tap": "mlp.hook_pre"), so one set can mix taps (gate and up projections, attention
// q/k/v). ReadNeuronSet also reads the older bare form [{"layer": L, "index": i}, ...] (and
// an object holding such an array under "neurons"), as one group named "neurons" at
// mlp.hook_post.
type NeuronSet struct {
	Method string
	// Tap is the site of entries that name none.
	Tap        Site
	Groups     []NeuronGroup
	Settings   any
	Provenance *report.Provenance
}

// NeuronGroup is one named, ordered list of scored neurons.
type NeuronGroup struct {
	Name    string
	Neurons []ScoredNeuron
}

// Group returns the neurons of the named group.
func (s *NeuronSet) Group(name string) ([]ScoredNeuron, bool) {
	for _, g := range s.Groups {
		if g.Name == name {
			return g.Neurons, true
		}
	}
	return nil, false
}

// Names lists the group names in order.
func (s *NeuronSet) Names() []string {
	out := make([]string, len(s.Groups))
	for i, g := range s.Groups {
		out[i] = g.Name
	}
	return out
}

// Add appends neurons to the named group, creating it (at the end) if needed.
func (s *NeuronSet) Add(name string, ns ...ScoredNeuron) {
	for i := range s.Groups {
		if s.Groups[i].Name == name {
			s.Groups[i].Neurons = append(s.Groups[i].Neurons, ns...)
			return
		}
	}
	s.Groups = append(s.Groups, NeuronGroup{Name: name, Neurons: append([]ScoredNeuron(nil), ns...)})
}

// Top returns a copy of the set holding the first k neurons of each group (all of a group with
// fewer).
func (s *NeuronSet) Top(k int) *NeuronSet {
	out := *s
	out.Groups = make([]NeuronGroup, len(s.Groups))
	for i, g := range s.Groups {
		out.Groups[i] = NeuronGroup{Name: g.Name, Neurons: append([]ScoredNeuron(nil), g.Neurons[:max(0, min(k, len(g.Neurons)))]...)}
	}
	return &out
}

// All lists every neuron of the set once, in order of first appearance.
func (s *NeuronSet) All() []Neuron {
	seen := map[Neuron]bool{}
	var out []Neuron
	for _, g := range s.Groups {
		for _, n := range g.Neurons {
			if !seen[n.Neuron] {
				seen[n.Neuron] = true
				out = append(out, n.Neuron)
			}
		}
	}
	return out
}

// Len counts the entries of all groups.
func (s *NeuronSet) Len() int {
	n := 0
	for _, g := range s.Groups {
		n += len(g.Neurons)
	}
	return n
}

// Check validates the set against a model's catalog: at least one group, no empty group, no
// repeated group name, and each group's neurons pass Catalog.CheckNeurons. Errors name the
// group and entry.
func (s *NeuronSet) Check(cat Catalog) error {
	if len(s.Groups) == 0 {
		return fmt.Errorf("the neuron set has no groups")
	}
	names := map[string]bool{}
	for _, g := range s.Groups {
		if names[g.Name] {
			return fmt.Errorf("group %q appears twice", g.Name)
		}
		names[g.Name] = true
		if len(g.Neurons) == 0 {
			return fmt.Errorf("group %q is empty", g.Name)
		}
		if err := cat.CheckNeurons(Plain(g.Neurons)); err != nil {
			return fmt.Errorf("group %q: %v", g.Name, err)
		}
	}
	return nil
}

// setEntry is one neuron in the file.
type setEntry struct {
	Layer *int     `json:"layer"`
	Index *int     `json:"index"`
	Score *float64 `json:"score,omitempty"`
	Tap   string   `json:"tap,omitempty"`
}

type setFile struct {
	SchemaVersion string             `json:"schema_version"`
	Method        string             `json:"method"`
	Tap           Site               `json:"tap"`
	Groups        orderedGroups      `json:"groups"`
	Settings      any                `json:"settings,omitempty"`
	Provenance    *report.Provenance `json:"provenance,omitempty"`
}

// orderedGroups is the "groups" object, written and read in file order.
type orderedGroups struct {
	tap    Site
	groups []NeuronGroup
}

func (o orderedGroups) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for gi, g := range o.groups {
		if gi > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(g.Name)
		b.Write(name)
		b.WriteString(":[")
		for i, n := range g.Neurons {
			if i > 0 {
				b.WriteByte(',')
			}
			score := n.Score
			e := setEntry{Layer: &n.Layer, Index: &n.Index, Score: &score}
			if n.Site != o.tap {
				e.Tap = n.Site.String()
			}
			if math.IsNaN(score) || math.IsInf(score, 0) {
				return nil, fmt.Errorf("group %q: %s has a non-finite score %g", g.Name, n.Neuron, score)
			}
			js, err := json.Marshal(e)
			if err != nil {
				return nil, err
			}
			b.Write(js)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o *orderedGroups) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf(`"groups" must be an object of name → [{"layer","index","score"}, ...]`)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name := t.(string)
		var raw []json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("group %q: want an array of neurons: %v", name, jsonerr.Plain(err))
		}
		ns, err := parseEntries(raw, o.tap)
		if err != nil {
			return fmt.Errorf("group %q: %v", name, err)
		}
		o.groups = append(o.groups, NeuronGroup{Name: name, Neurons: ns})
	}
	_, err := dec.Token()
	return err
}

// parseEntries reads {"layer","index"[,"score"][,"tap"]} entries; a legacy "value" field is
// read as the score.
func parseEntries(raw []json.RawMessage, tap Site) ([]ScoredNeuron, error) {
	out := make([]ScoredNeuron, len(raw))
	for i, r := range raw {
		var e struct {
			setEntry
			Value *float64 `json:"value"`
		}
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("entry %d %s: %v", i, r, jsonerr.Plain(err))
		}
		if e.Layer == nil || e.Index == nil {
			return nil, fmt.Errorf(`entry %d %s: needs "layer" and "index"`, i, r)
		}
		site := tap
		if e.Tap != "" {
			s, err := ParseSite(e.Tap)
			if err != nil {
				return nil, fmt.Errorf("entry %d %s: %v", i, r, err)
			}
			site = s
		}
		if *e.Layer < 0 {
			return nil, fmt.Errorf("entry %d %s: negative layer", i, r)
		}
		n := ScoredNeuron{Neuron: Neuron{Point: Point{Layer: *e.Layer, Site: site}, Index: *e.Index}}
		switch {
		case e.Score != nil:
			n.Score = *e.Score
		case e.Value != nil:
			n.Score = *e.Value
		}
		out[i] = n
	}
	return out, nil
}

// MarshalJSON writes the neuronscope.neurons/v1 form.
func (s *NeuronSet) MarshalJSON() ([]byte, error) {
	return json.Marshal(setFile{SchemaVersion: NeuronSetSchema, Method: s.Method, Tap: s.Tap,
		Groups: orderedGroups{tap: s.Tap, groups: s.Groups}, Settings: s.Settings, Provenance: s.Provenance})
}

// UnmarshalJSON reads the neuronscope.neurons/v1 form (see ParseNeuronSet for the older ones).
func (s *NeuronSet) UnmarshalJSON(data []byte) error {
	var head struct {
		SchemaVersion string          `json:"schema_version"`
		Tap           *Site           `json:"tap"`
		Groups        json.RawMessage `json:"groups"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return jsonerr.Plain(err)
	}
	if head.SchemaVersion != NeuronSetSchema {
		return fmt.Errorf("schema_version %q: want %q", head.SchemaVersion, NeuronSetSchema)
	}
	if head.Tap == nil {
		return fmt.Errorf(`a neuron set needs "tap" (e.g. "mlp.hook_post")`)
	}
	if head.Groups == nil {
		return fmt.Errorf(`a neuron set needs "groups"`)
	}
	f := setFile{Groups: orderedGroups{tap: *head.Tap}}
	if err := json.Unmarshal(data, &f); err != nil {
		return jsonerr.Plain(err)
	}
	*s = NeuronSet{Method: f.Method, Tap: *head.Tap, Groups: f.Groups.groups, Settings: f.Settings, Provenance: f.Provenance}
	return nil
}

// ParseNeuronSet reads a neuron set: the neuronscope.neurons/v1 object, or the older bare
// array [{"layer": L, "index": i}, ...] or object {"neurons": [...]} (one group named
// "neurons", tap mlp.hook_post; other fields of each entry are ignored, but "score" or "value"
// is kept as the score). name stands for data in errors.
func ParseNeuronSet(data []byte, name string) (*NeuronSet, error) {
	return ParseNeuronSetAt(data, name, MLPPost)
}

// ParseNeuronSetAt is ParseNeuronSet reading the older forms, which name no tap, at site.
func ParseNeuronSetAt(data []byte, name string, site Site) (*NeuronSet, error) {
	data = bytes.TrimSpace(data)
	legacy := func(raw []json.RawMessage) (*NeuronSet, error) {
		ns, err := parseEntries(raw, site)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		return &NeuronSet{Tap: site, Groups: []NeuronGroup{{Name: "neurons", Neurons: ns}}}, nil
	}
	if len(data) > 0 && data[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf(`%s: want a neuron set (%s) or a JSON array of {"layer":L,"index":i}: %v`, name, NeuronSetSchema, jsonerr.Plain(err))
		}
		return legacy(raw)
	}
	var probe struct {
		SchemaVersion *string           `json:"schema_version"`
		Neurons       []json.RawMessage `json:"neurons"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: not a neuron set: %v", name, jsonerr.Plain(err))
	}
	if probe.SchemaVersion == nil || *probe.SchemaVersion != NeuronSetSchema {
		if probe.Neurons != nil {
			return legacy(probe.Neurons)
		}
		return nil, fmt.Errorf(`%s: not a neuron set: want schema_version %q (or an object with a "neurons" array)`, name, NeuronSetSchema)
	}
	var s NeuronSet
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %v", name, jsonerr.Plain(err))
	}
	return &s, nil
}

// ReadNeuronSet reads a neuron-set file (see ParseNeuronSet). It does not check the set
// against a model: call Check with the model's catalog.
func ReadNeuronSet(path string) (*NeuronSet, error) { return ReadNeuronSetAt(path, MLPPost) }

// ReadNeuronSetAt is ReadNeuronSet reading the older forms, which name no tap, at site.
func ReadNeuronSetAt(path string, site Site) (*NeuronSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseNeuronSetAt(data, path, site)
}

// Write writes the set as indented JSON (neuronscope.neurons/v1) to w.
func (s *NeuronSet) Write(w io.Writer) error { return report.WriteJSON(w, s) }

// WriteFile writes the set to path atomically.
func (s *NeuronSet) WriteFile(path string) error { return report.WriteJSONFile(path, s) }
