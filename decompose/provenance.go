package decompose

import "github.com/neuronscope/neuronscope/model/report"

// Provenance says what produced an output (tool, version, BLAS, model, seed, command): the
// project's shared record (model/report).
type Provenance = report.Provenance

// NewProvenance returns provenance filled with the tool and machine facts (with a model:
// model.Model.Provenance).
func NewProvenance() Provenance { return report.New() }
