// Package report holds what every neuronscope report carries and how reports are written:
// Provenance (which tool, model, data and settings produced it), one JSON writer to any
// io.Writer, and atomic files (temp file + rename) so a failed run never leaves a half-written
// output.
//
// It sits at the bottom of the dependency graph, beside model/tensor, so every package can
// put provenance in its reports; model.Model.Provenance fills the model's part.
//
//	prov := m.Provenance()                 // tool, version, BLAS, model dir, config hash, dtype
//	prov.BOSPolicy, prov.Dataset = "auto", "train.txt (sha256 …)"
//	err := report.WriteJSONFile("out.json", myReport)
package report
