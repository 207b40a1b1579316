// Package probes will hold neuron finders and selectivity scores (relation, language and
// culture neurons; LAPE entropy; influential paths), each naming the tap point it uses.
//
// Status: not implemented yet; nothing in this package is exported.
package probes
