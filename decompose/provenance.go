package decompose

import "github.com/neuronscope/neuronscope/internal/report"

// Provenance says what produced an output (tool, version, BLAS, model, seed, command). It is
// the project's shared provenance record; this alias is decompose's only use of it.
type Provenance = report.Provenance

// NewProvenance returns provenance filled with the tool and machine facts.
func NewProvenance() Provenance { return report.New() }
