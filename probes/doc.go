// Package probes will hold neuron finders and selectivity scores (relation, language and
// culture neurons; LAPE entropy; influential paths), each naming the tap point it uses.
//
// Status: the subpackages probes/profile (dataset profiling of every neuron: statistics,
// top-k and quantile examples, NeuronRecord and Neuronpedia exports, HTML dashboard, mergeable
// shard states), probes/language (activation probabilities counted in one streaming pass,
// LAPE and the alignment finder), probes/expertise (average precision of responses) and
// probes/distributed (profiling and counting as Apache Beam pipelines) are implemented.
package probes
