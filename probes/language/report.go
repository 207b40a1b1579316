package language

// Report is the JSON document of a language-neuron selection (the `neuronscope find
// language` output): the settings, the summaries, and per group its neurons.
type Report struct {
	SchemaVersion int         `json:"schema_version"`
	Procedure     string      `json:"procedure"`
	Tap           string      `json:"tap"`
	Counting      string      `json:"counting"`
	Layers        int         `json:"layers"`
	Width         int         `json:"width"`
	Settings      Settings    `json:"settings"`
	Sweep         []SweepStep `json:"lambda_sweep,omitempty"`
	// Selected is K, the number of lowest-score neurons; Unique of them are assigned to at
	// least one group, making Assignments (neuron, group) pairs.
	Selected    int `json:"selected"`
	Unique      int `json:"unique"`
	Assignments int `json:"assignments"`
	// Multiplicity[c] is the number of selected neurons assigned to exactly c groups.
	Multiplicity []int `json:"multiplicity"`
	Specific     int   `json:"language_specific"`
	Related      int   `json:"language_related"`
	Agnostic     int   `json:"language_agnostic"`
	Unassigned   int   `json:"unassigned"`
	// PublishedLAPEGroups (LAPE only) is how many language lists identify.py's saved file has.
	PublishedLAPEGroups int           `json:"published_lape_groups,omitempty"`
	Groups              []GroupReport `json:"groups"`
}

// GroupReport is one group's (language's) neurons in a Report.
type GroupReport struct {
	Name     string   `json:"name"`
	Count    int      `json:"count"`
	PerLayer []int    `json:"per_layer"`
	Neurons  []Neuron `json:"neurons"`
}

// Procedures describe the methods in reports.
const (
	ProcedureLAPE = "LAPE (Tang et al. 2024): entropy of the per-language activation probabilities (float64); " +
		"+Inf where no language exceeds the filter percentile; the top_rate lowest over all layers (torch.topk ties); " +
		"assigned to every language with probability > the bar percentile"
	ProcedureAlignment = "Alignment (Zhang et al. 2026): score = H(p̂)/ln K − λ·max p / norm_max (float64, stored float32); " +
		"the top_rate lowest over all layers (torch.topk ties); assigned to every language with probability > the bar percentile"
)

// NewReport builds the report of s; sweep, when not nil, adds the λ sweep's steps.
func NewReport(p *Probabilities, s *Selection, sweep *Sweep) *Report {
	r := &Report{SchemaVersion: 1, Tap: s.Tap, Counting: p.Counting, Layers: s.Layers, Width: s.Width, Settings: s.Settings,
		Selected: len(s.Selected), Unique: s.Unique(), Assignments: s.Assignments(), Multiplicity: s.Multiplicity,
		Specific: s.Specific(), Related: s.Related(), Agnostic: s.Agnostic(), Unassigned: s.Unassigned()}
	if r.Counting == "" {
		r.Counting = CountingAll
	}
	switch s.Settings.Method {
	case "lape":
		r.Procedure = ProcedureLAPE
		r.PublishedLAPEGroups = s.PublishedLAPEGroups()
	default:
		r.Procedure = ProcedureAlignment
	}
	if sweep != nil {
		r.Sweep = sweep.Steps
	}
	for g, name := range s.Groups {
		r.Groups = append(r.Groups, GroupReport{Name: name, Count: len(s.ByGroup[g]), PerLayer: s.PerLayer[g], Neurons: s.ByGroup[g]})
	}
	return r
}
