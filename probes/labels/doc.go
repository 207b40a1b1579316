// Package labels defines label records, the neuronscope.labels/v1 file that package ablate's
// verification experiments write and that `neuronscope report` reads: one Label per neuron
// group with a Claim (kind, value, a one-line description), the Evidence a finder gave, and
// the Verification records of the experiments that checked it, plus the experiments' full
// results (group × group matrices, cumulativity sweeps, steering calibrations, patching).
package labels
