// Package probes will hold neuron finders and selectivity scores (relation, language and
// culture neurons; LAPE entropy; influential paths), each naming the tap point it uses.
//
// Status: the finders are not implemented yet; the subpackage probes/profile (dataset
// profiling of every neuron: statistics, top-k and quantile examples, NeuronRecord and
// Neuronpedia exports, HTML dashboard) is.
package probes
