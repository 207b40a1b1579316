// Package probes will hold neuron finders and selectivity scores (relation, language and
// culture neurons; LAPE entropy; influential paths), each naming the tap point it uses.
//
// Status: the finders are not implemented yet; the subpackage probes/profile (dataset
// profiling of every neuron: statistics, top-k and quantile examples, NeuronRecord and
// Neuronpedia exports, HTML dashboard) is, and so is probes/labels (the
// neuronscope.labels/v1 label records that package ablate's verification writes).
package probes
